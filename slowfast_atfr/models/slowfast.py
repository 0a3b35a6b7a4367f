"""SlowFast networks (Feichtenhofer et al., ICCV 2019), optionally with non-local blocks.

MODEL.MODEL_NAME "SlowFast" (MODEL.ARCH "slowfast"); RESNET.DEPTH 18/50/101. Module names
are PySlowFast's: s1, s1_fuse, s2, s2_fuse, pathway0_pool, pathway1_pool, s3, s3_fuse, s4,
s4_fuse, s5, head. With ATFR each pathway may get its own sampler (ATFR.PATHWAYS,
ATFR.BLOCK_LENGTH); the lateral fusion then zero-pads the shorter of the two tensors in
time (ATFR paper, App. A).
"""

from typing import Callable, Dict, List, Sequence, Tuple

import torch
import torch.nn as nn

from slowfast_atfr.models import varlen
from slowfast_atfr.models.build import MODEL_REGISTRY
from slowfast_atfr.models.head_helper import ResNetBasicHead
from slowfast_atfr.models.resnet import (
    _POOL1,
    _STAGE_WIDTHS,
    STAGE_NAMES,
    finish_model,
    shared_kwargs,
    stage_depths,
    temporal_kernels,
)
from slowfast_atfr.models.resnet_helper import ResStage, Stride
from slowfast_atfr.models.stem_helper import VideoModelStem
from slowfast_atfr.models.varlen import VarLenBatchNorm3d
from slowfast_atfr.models.video_model import Step, VideoModel

# Pathway indices of the inputs (DATA.INPUT_CHANNEL_NUM and ATFR.PATHWAYS order).
_SLOW, _FAST = 0, 1
# What follows each stage s1 (stem) .. s5, in network order (PySlowFast's SlowFast; the
# lateral connections are the SlowFast paper's, Sec. 3.4).
_STAGES = {
    # name: (fast -> slow fusion `s{k}_fuse` after it, `pathway{p}_pool` after it)
    "stem": (True, False),
    "res2": (True, True),
    "res3": (True, False),
    "res4": (True, False),
    "res5": (False, False),
}


class FuseFastToSlow(nn.Module):
    """Lateral connection: slow <- cat(slow, relu(bn(conv_f2s(fast)))), fast unchanged.

    conv_f2s is a [fusion_kernel, 1, 1] conv with temporal stride alpha. Inside a varlen
    lengths context it runs as part of the fast pathway, and the shorter tensor is
    zero-padded in time before the concatenation. `slow_pathway` and `fast_pathway` index
    the two pathways in the list it maps.
    """

    def __init__(self, *, dim_in: int, fusion_conv_channel_ratio: int, fusion_kernel: int,
                 alpha: int, slow_pathway: int, fast_pathway: int, eps: float = 1e-5,
                 bn_mmt: float = 0.1, inplace_relu: bool = True,
                 norm_module: Callable[..., nn.Module] = nn.BatchNorm3d):
        super().__init__()
        self.slow_pathway, self.fast_pathway = slow_pathway, fast_pathway
        self.conv_f2s = nn.Conv3d(dim_in, dim_in * fusion_conv_channel_ratio,
                                  kernel_size=[fusion_kernel, 1, 1], stride=[alpha, 1, 1],
                                  padding=[fusion_kernel // 2, 0, 0], bias=False)
        self.bn = norm_module(num_features=dim_in * fusion_conv_channel_ratio, eps=eps,
                              momentum=bn_mmt)
        self.relu = nn.ReLU(inplace=inplace_relu)

    def forward(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        """slow [N, C_s, T_s, H, W] and fast [N, C_f, T_f, H, W] -> slow' and fast."""
        if len(x) != 2:
            raise ValueError(f"FuseFastToSlow expects [slow, fast]; got {len(x)} tensors.")
        with varlen.pathway_scope(self.fast_pathway):
            fuse = self.relu(self.bn(self.conv_f2s(x[self.fast_pathway])))
        out = list(x)
        out[self.slow_pathway] = varlen.concat_padded(
            x[self.slow_pathway], fuse, slow_pathway=self.slow_pathway,
            fused_pathway=self.fast_pathway)
        return out


class SlowFast(VideoModel):
    """Two pathways: s1 .. s5 with what `_STAGES` puts after each, then the head.

    Args:
        num_classes: logits per clip.
        dim_in: input channels per pathway.
        width: RESNET.WIDTH_PER_GROUP (slow stem channels); inner_width: NUM_GROUPS * width.
        beta_inv: slow/fast channel ratio; alpha: fast/slow frame ratio.
        fusion_conv_channel_ratio, fusion_kernel: lateral conv settings.
        depths: blocks per stage res2..res5.
        temp_kernels: [conv1, res2, ..., res5] x [slow, fast] temporal kernel bases.
        num_block_temp_kernel, strides, dilations, nonlocal_inds, nonlocal_group,
        nonlocal_pool: per stage res2..res5, one entry per pathway.
        pool1: per pathway, [T, H, W] max-pool kernel (= stride) after res2.
    """

    def __init__(self, *, num_classes: int, dim_in: Sequence[int] = (3, 3), width: int,
                 inner_width: int, beta_inv: int, alpha: int, fusion_conv_channel_ratio: int,
                 fusion_kernel: int, depths: Sequence[int],
                 temp_kernels: Sequence[Sequence[Sequence[int]]],
                 num_block_temp_kernel: Sequence[Sequence[int]],
                 strides: Sequence[Sequence[Stride]], dilations: Sequence[Sequence[int]],
                 nonlocal_inds: Sequence[Sequence[Sequence[int]]],
                 nonlocal_group: Sequence[Sequence[int]],
                 nonlocal_pool: Sequence[Sequence[Sequence[int]]],
                 instantiation: str = "dot_product",
                 pool1: Sequence[Sequence[int]] = ((1, 1, 1), (1, 1, 1)),
                 trans_func_name: str = "bottleneck_transform", num_groups: int = 1,
                 stride_1x1: bool = False, inplace_relu: bool = True,
                 norm_module: Callable[..., nn.Module] = VarLenBatchNorm3d,
                 dropout_rate: float = 0.0):
        super().__init__(num_pathways=2)
        out_dim_ratio = beta_inv // fusion_conv_channel_ratio
        kernel = [[k[0], 7, 7] for k in temp_kernels[0]]
        self.s1 = VideoModelStem(dim_in=list(dim_in), dim_out=[width, width // beta_inv],
                                 kernel=kernel, stride=[[1, 2, 2]] * 2,
                                 padding=[[k[0] // 2, 3, 3] for k in kernel],
                                 inplace_relu=inplace_relu, norm_module=norm_module)
        self.stage_dims: Dict[str, List[int]] = {}

        def follow(index: int, name: str, dim: int) -> None:
            """What `_STAGES` puts after s{index}, whose slow output has `dim` channels."""
            fuses, pools = _STAGES[name]
            if fuses:
                self.add_module(f"s{index}_fuse", FuseFastToSlow(
                    dim_in=dim // beta_inv, fusion_conv_channel_ratio=fusion_conv_channel_ratio,
                    fusion_kernel=fusion_kernel, alpha=alpha, slow_pathway=_SLOW,
                    fast_pathway=_FAST, inplace_relu=inplace_relu, norm_module=norm_module))
                self.stage_dims[name] = [dim + dim // out_dim_ratio, dim // beta_inv]
            if pools:
                for p in (_SLOW, _FAST):
                    self.add_module(f"pathway{p}_pool", nn.MaxPool3d(
                        kernel_size=list(pool1[p]), stride=list(pool1[p]), padding=0))

        follow(1, "stem", width)
        dim = width
        for k, name in enumerate(STAGE_NAMES):
            inner, out = _STAGE_WIDTHS["standard"][k]
            inner, out = inner_width * inner, width * out
            stage = ResStage(
                dim_in=[dim + dim // out_dim_ratio, dim // beta_inv],
                dim_out=[out, out // beta_inv], dim_inner=[inner, inner // beta_inv],
                temp_kernel_sizes=temp_kernels[k + 1], stride=strides[k],
                num_blocks=[depths[k]] * 2, num_groups=[num_groups] * 2,
                num_block_temp_kernel=num_block_temp_kernel[k],
                nonlocal_inds=nonlocal_inds[k], nonlocal_group=nonlocal_group[k],
                nonlocal_pool=nonlocal_pool[k], dilation=dilations[k],
                instantiation=instantiation, trans_func_name=trans_func_name,
                stride_1x1=stride_1x1, inplace_relu=inplace_relu, norm_module=norm_module,
            )
            self.add_module(f"s{k + 2}", stage)
            follow(k + 2, name, out)
            dim = out
        self.head = ResNetBasicHead(dim_in=[dim, dim // beta_inv], pathways=[_SLOW, _FAST],
                                    num_classes=num_classes, dropout_rate=dropout_rate)

    def _stage(self, index: int, name: str) -> Step:
        """Stage s{index} followed by what `_STAGES` puts after it."""
        fuses, pools = _STAGES[name]

        def step(xs: List[torch.Tensor]) -> List[torch.Tensor]:
            xs = getattr(self, f"s{index}")(xs)
            if fuses:
                xs = getattr(self, f"s{index}_fuse")(xs)
            if pools:
                xs = [getattr(self, f"pathway{p}_pool")(x) for p, x in enumerate(xs)]
            return xs

        return step

    def stage_steps(self) -> List[Tuple[str, Step]]:
        stages = [(name, self._stage(index, name))
                  for index, name in enumerate(_STAGES, start=1)]
        return stages + [("head", self.head)]


def slowfast_kwargs(cfg) -> dict:
    """SlowFast's keyword arguments from the config (SLOWFAST, RESNET, NONLOCAL, BN, ...)."""
    if cfg.MODEL.ARCH != "slowfast":
        raise ValueError(f"MODEL.ARCH={cfg.MODEL.ARCH!r}; MODEL.MODEL_NAME 'SlowFast' needs "
                         "MODEL.ARCH 'slowfast'.")
    width = cfg.RESNET.WIDTH_PER_GROUP
    return dict(
        shared_kwargs(cfg),
        dim_in=list(cfg.DATA.INPUT_CHANNEL_NUM),
        width=width,
        inner_width=cfg.RESNET.NUM_GROUPS * width,
        beta_inv=cfg.SLOWFAST.BETA_INV,
        alpha=cfg.SLOWFAST.ALPHA,
        fusion_conv_channel_ratio=cfg.SLOWFAST.FUSION_CONV_CHANNEL_RATIO,
        fusion_kernel=cfg.SLOWFAST.FUSION_KERNEL_SZ,
        depths=stage_depths(cfg.RESNET.DEPTH),
        temp_kernels=temporal_kernels("slowfast"),
        num_block_temp_kernel=cfg.RESNET.NUM_BLOCK_TEMP_KERNEL,
        strides=cfg.RESNET.SPATIAL_STRIDES,
        dilations=cfg.RESNET.SPATIAL_DILATIONS,
        nonlocal_inds=cfg.NONLOCAL.LOCATION,
        nonlocal_group=cfg.NONLOCAL.GROUP,
        nonlocal_pool=cfg.NONLOCAL.POOL,
        instantiation=cfg.NONLOCAL.INSTANTIATION,
        pool1=_POOL1["slowfast"],
    )


def build_slowfast(cfg) -> SlowFast:
    """MODEL_REGISTRY["SlowFast"]: SlowFast with per-pathway ATFR samplers if enabled."""
    model = SlowFast(**slowfast_kwargs(cfg))
    finish_model(model, cfg, model.stage_dims)
    return model


MODEL_REGISTRY.register_as("SlowFast")(build_slowfast)
