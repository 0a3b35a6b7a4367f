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
    norm_from_cfg,
    stage_depths,
    temporal_kernels,
)
from slowfast_atfr.models.resnet_helper import ResStage, Stride
from slowfast_atfr.models.stem_helper import VideoModelStem
from slowfast_atfr.models.varlen import VarLenBatchNorm3d
from slowfast_atfr.models.video_model import Step, VideoModel


class FuseFastToSlow(nn.Module):
    """Lateral connection: [slow, fast] -> [cat(slow, relu(bn(conv_f2s(fast)))), fast].

    conv_f2s is a [fusion_kernel, 1, 1] conv with temporal stride alpha. Inside a varlen
    lengths context it runs as part of the fast pathway, and the shorter tensor is
    zero-padded in time before the concatenation.
    """

    def __init__(self, *, dim_in: int, fusion_conv_channel_ratio: int, fusion_kernel: int,
                 alpha: int, eps: float = 1e-5, bn_mmt: float = 0.1, inplace_relu: bool = True,
                 norm_module: Callable[..., nn.Module] = nn.BatchNorm3d):
        super().__init__()
        self.conv_f2s = nn.Conv3d(dim_in, dim_in * fusion_conv_channel_ratio,
                                  kernel_size=[fusion_kernel, 1, 1], stride=[alpha, 1, 1],
                                  padding=[fusion_kernel // 2, 0, 0], bias=False)
        self.bn = norm_module(num_features=dim_in * fusion_conv_channel_ratio, eps=eps,
                              momentum=bn_mmt)
        self.relu = nn.ReLU(inplace=inplace_relu)

    def forward(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        """[slow [N, C_s, T_s, H, W], fast [N, C_f, T_f, H, W]] -> [slow', fast]."""
        if len(x) != 2:
            raise ValueError(f"FuseFastToSlow expects [slow, fast]; got {len(x)} tensors.")
        x_s, x_f = x
        with varlen.pathway_scope(1):
            fuse = self.relu(self.bn(self.conv_f2s(x_f)))
        return [varlen.concat_padded(x_s, fuse, slow_pathway=0, fused_pathway=1), x_f]


class SlowFast(VideoModel):
    """Two pathways: s1 -> fuse -> s2 -> fuse -> pool -> s3 -> fuse -> s4 -> fuse -> s5 -> head.

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

        def fuse(dim_fast: int) -> FuseFastToSlow:
            return FuseFastToSlow(dim_in=dim_fast,
                                  fusion_conv_channel_ratio=fusion_conv_channel_ratio,
                                  fusion_kernel=fusion_kernel, alpha=alpha,
                                  inplace_relu=inplace_relu, norm_module=norm_module)

        self.s1_fuse = fuse(width // beta_inv)
        self.stage_dims: Dict[str, List[int]] = {
            "stem": [width + width // out_dim_ratio, width // beta_inv]}
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
            dim = out
            if name != "res5":
                self.add_module(f"s{k + 2}_fuse", fuse(out // beta_inv))
                self.stage_dims[name] = [out + out // out_dim_ratio, out // beta_inv]
            if name == "res2":
                for p in range(2):
                    self.add_module(f"pathway{p}_pool", nn.MaxPool3d(
                        kernel_size=list(pool1[p]), stride=list(pool1[p]), padding=0))
        self.head = ResNetBasicHead(dim_in=[dim, dim // beta_inv], num_classes=num_classes,
                                    dropout_rate=dropout_rate)

    def _stage(self, index: int) -> Step:
        """Stage s{index} followed by its fusion (and, after res2, the pathway pools)."""

        def step(xs: List[torch.Tensor]) -> List[torch.Tensor]:
            xs = getattr(self, f"s{index}")(xs)
            if index < 5:
                xs = getattr(self, f"s{index}_fuse")(xs)
            if index == 2:
                xs = [getattr(self, f"pathway{p}_pool")(x) for p, x in enumerate(xs)]
            return xs

        return step

    def stage_steps(self) -> List[Tuple[str, Step]]:
        stem = self._stage(1)
        stages = [(name, self._stage(k + 2)) for k, name in enumerate(STAGE_NAMES)]
        return [("stem", stem)] + stages + [("head", self.head)]


def slowfast_kwargs(cfg) -> dict:
    """SlowFast's keyword arguments from the config (SLOWFAST, RESNET, NONLOCAL, BN, ...)."""
    if cfg.MODEL.ARCH != "slowfast":
        raise ValueError(f"MODEL.ARCH={cfg.MODEL.ARCH!r}; MODEL.MODEL_NAME 'SlowFast' needs "
                         "MODEL.ARCH 'slowfast'.")
    width = cfg.RESNET.WIDTH_PER_GROUP
    return dict(
        num_classes=cfg.MODEL.NUM_CLASSES,
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
        trans_func_name=cfg.RESNET.TRANS_FUNC,
        num_groups=cfg.RESNET.NUM_GROUPS,
        stride_1x1=cfg.RESNET.STRIDE_1X1,
        inplace_relu=cfg.RESNET.INPLACE_RELU,
        norm_module=norm_from_cfg(cfg),
        dropout_rate=cfg.MODEL.DROPOUT_RATE,
    )


def build_slowfast(cfg) -> SlowFast:
    """MODEL_REGISTRY["SlowFast"]: SlowFast with per-pathway ATFR samplers if enabled."""
    model = SlowFast(**slowfast_kwargs(cfg))
    finish_model(model, cfg, model.stage_dims)
    return model


MODEL_REGISTRY._do_register("SlowFast", build_slowfast)
