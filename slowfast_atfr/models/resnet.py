"""Single-pathway 3D ResNets: C2D, I3D, Slow (PySlowFast) and the ATFR paper's 3DResNet.

MODEL.MODEL_NAME "ResNet"; MODEL.ARCH picks the temporal kernels ("c2d", "i3d", "slow",
"resnet3d") and RESNET.DEPTH the blocks per stage (18, 50, 101). Module names are
PySlowFast's: s1 (stem), s2, pathway0_pool, s3, s4, s5, head.

3DResNet ("resnet3d", ATFR paper App. A, Table A.1): conv1 5x7x7, pool 1x3x3, bottleneck
blocks whose temporal kernel is 3 in res2 and res5 and 1 in res3 and res4, no temporal
striding anywhere, Table A.1's widths at RESNET.WIDTH_PER_GROUP 8 (8, 32, 256, 512, 1024
channels) at every depth. Depth 50 (the paper gives no table for it) uses R50's blocks
(3, 4, 6, 3) with those widths: 40.85 GFLOPs at 32x256x256, the paper's 40.8 (Table 7).
"""

from typing import Callable, Dict, List, Sequence, Tuple

import torch
import torch.nn as nn

from slowfast_atfr.models.build import MODEL_REGISTRY
from slowfast_atfr.models.head_helper import ResNetBasicHead
from slowfast_atfr.models.init_helper import init_weights
from slowfast_atfr.models.norm_helper import get_norm
from slowfast_atfr.models.resnet_helper import ResStage, Stride
from slowfast_atfr.models.stem_helper import VideoModelStem
from slowfast_atfr.models.varlen import VarLenBatchNorm3d
from slowfast_atfr.models.video_model import Step, VideoModel, attach_atfr

# Residual blocks in res2..res5 per RESNET.DEPTH.
_MODEL_STAGE_DEPTH = {18: (2, 2, 2, 2), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}

# Temporal kernel sizes per stage, per pathway; a stage's list repeats over its blocks.
_TEMPORAL_KERNEL_BASIS = {
    "c2d": [
        [[1]],  # conv1
        [[1]],  # res2
        [[1]],  # res3
        [[1]],  # res4
        [[1]],  # res5
    ],
    "i3d": [
        [[5]],  # conv1
        [[3]],  # res2
        [[3, 1]],  # res3
        [[3, 1]],  # res4
        [[1, 3]],  # res5
    ],
    "slow": [
        [[1]],  # conv1
        [[1]],  # res2
        [[1]],  # res3
        [[3]],  # res4
        [[3]],  # res5
    ],
    "slowfast": [
        [[1], [5]],  # conv1: slow, fast
        [[1], [3]],  # res2
        [[1], [3]],  # res3
        [[3], [3]],  # res4
        [[3], [3]],  # res5
    ],
    "resnet3d": [
        [[5]],  # conv1 (Table A.1)
        [[3]],  # res2
        [[1]],  # res3
        [[1]],  # res4
        [[3]],  # res5
    ],
}

# Max-pool kernel (= stride) [T, H, W] per pathway after res2.
_POOL1 = {
    "c2d": [[2, 1, 1]],
    "i3d": [[2, 1, 1]],
    "slow": [[1, 1, 1]],
    "slowfast": [[1, 1, 1], [1, 1, 1]],
    "resnet3d": [[1, 1, 1]],
}

# Stage widths as multiples of RESNET.WIDTH_PER_GROUP: (inner, output) per stage.
_STAGE_WIDTHS = {
    "standard": (
        (1, 4),  # res2
        (2, 8),  # res3
        (4, 16),  # res4
        (8, 32),  # res5
    ),
    "resnet3d": (
        (1, 4),  # res2: 8, 32 at WIDTH_PER_GROUP 8 (Table A.1)
        (8, 32),  # res3: 64, 256
        (16, 64),  # res4: 128, 512
        (32, 128),  # res5: 256, 1024
    ),
}

STAGE_NAMES = ("res2", "res3", "res4", "res5")


def stage_depths(depth: int) -> Tuple[int, ...]:
    """Blocks in res2..res5 for RESNET.DEPTH `depth`."""
    if depth not in _MODEL_STAGE_DEPTH:
        raise ValueError(f"RESNET.DEPTH={depth} is not supported; expected one of "
                         f"{sorted(_MODEL_STAGE_DEPTH)}.")
    return _MODEL_STAGE_DEPTH[depth]


def temporal_kernels(arch: str) -> List[List[List[int]]]:
    """The `_TEMPORAL_KERNEL_BASIS` of MODEL.ARCH `arch`."""
    if arch not in _TEMPORAL_KERNEL_BASIS:
        raise ValueError(f"MODEL.ARCH={arch!r} has no temporal kernel table; expected one of "
                         f"{sorted(_TEMPORAL_KERNEL_BASIS)}.")
    return _TEMPORAL_KERNEL_BASIS[arch]


class ResNet(VideoModel):
    """stem -> res2 -> pool -> res3 -> res4 -> res5 -> head, one pathway.

    Args:
        num_classes: logits per clip.
        dim_in: input channels.
        stem_dim: channels after the stem.
        stem_kernel: [T, H, W] kernel of the stem conv (stride 1, 2, 2).
        stage_widths: (inner, output) channels per stage res2..res5.
        depths: blocks per stage.
        temp_kernels: per stage, the temporal kernel basis of its blocks.
        num_block_temp_kernel: per stage, blocks using the basis (others use 1).
        strides: per stage, spatial stride or (temporal, spatial) of its first block.
        dilations: per stage, spatial dilation.
        nonlocal_inds, nonlocal_group, nonlocal_pool, instantiation: non-local blocks.
        pool1: [T, H, W] max-pool kernel (= stride) after res2.
        stem_func_name: STEM_REGISTRY name; trans_func_name: TRANSFORM_REGISTRY name.
        norm_module: norm constructor (`norm_helper.get_norm`).
    """

    def __init__(self, *, num_classes: int, dim_in: int = 3, stem_dim: int,
                 stem_kernel: Sequence[int], stage_widths: Sequence[Tuple[int, int]],
                 depths: Sequence[int], temp_kernels: Sequence[Sequence[int]],
                 num_block_temp_kernel: Sequence[int], strides: Sequence[Stride],
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 nonlocal_inds: Sequence[Sequence[int]] = ((), (), (), ()),
                 nonlocal_group: Sequence[int] = (1, 1, 1, 1),
                 nonlocal_pool: Sequence[Sequence[int]] = ((1, 2, 2),) * 4,
                 instantiation: str = "dot_product", pool1: Sequence[int] = (1, 1, 1),
                 stem_func_name: str = "basic_stem",
                 trans_func_name: str = "bottleneck_transform", num_groups: int = 1,
                 stride_1x1: bool = False, inplace_relu: bool = True,
                 norm_module: Callable[..., nn.Module] = VarLenBatchNorm3d,
                 dropout_rate: float = 0.0, drop_connect_rate: float = 0.0):
        super().__init__(num_pathways=1)
        kt = stem_kernel[0]
        self.s1 = VideoModelStem(dim_in=[dim_in], dim_out=[stem_dim], kernel=[stem_kernel],
                                 stride=[[1, 2, 2]], padding=[[kt // 2, 3, 3]],
                                 inplace_relu=inplace_relu, norm_module=norm_module,
                                 stem_func_name=stem_func_name)
        self.stage_dims: Dict[str, int] = {"stem": stem_dim}
        dim = stem_dim
        for k, name in enumerate(STAGE_NAMES):
            inner, out = stage_widths[k]
            stage = ResStage(
                dim_in=[dim], dim_out=[out], dim_inner=[inner],
                temp_kernel_sizes=[temp_kernels[k]], stride=[strides[k]],
                num_blocks=[depths[k]], num_groups=[num_groups],
                num_block_temp_kernel=[num_block_temp_kernel[k]],
                nonlocal_inds=[nonlocal_inds[k]], nonlocal_group=[nonlocal_group[k]],
                nonlocal_pool=[nonlocal_pool[k]], dilation=[dilations[k]],
                instantiation=instantiation, trans_func_name=trans_func_name,
                stride_1x1=stride_1x1, inplace_relu=inplace_relu, norm_module=norm_module,
                drop_connect_rate=drop_connect_rate,
            )
            self.add_module(f"s{k + 2}", stage)
            if name == "res2":
                self.pathway0_pool = nn.MaxPool3d(kernel_size=list(pool1),
                                                  stride=list(pool1), padding=0)
            self.stage_dims[name] = dim = out
        self.head = ResNetBasicHead(dim_in=[dim], pathways=[0], num_classes=num_classes,
                                    dropout_rate=dropout_rate)

    def _res2(self, xs: List[torch.Tensor]) -> List[torch.Tensor]:
        return [self.pathway0_pool(x) for x in self.s2(xs)]

    def stage_steps(self) -> List[Tuple[str, Step]]:
        return [("stem", self.s1), ("res2", self._res2), ("res3", self.s3),
                ("res4", self.s4), ("res5", self.s5), ("head", self.head)]


def shared_kwargs(cfg) -> dict:
    """The constructor arguments every family reads from the config alike (MODEL, RESNET,
    BN); each family's `*_kwargs` adds its own."""
    return dict(
        num_classes=cfg.MODEL.NUM_CLASSES,
        trans_func_name=cfg.RESNET.TRANS_FUNC,
        num_groups=cfg.RESNET.NUM_GROUPS,
        stride_1x1=cfg.RESNET.STRIDE_1X1,
        inplace_relu=cfg.RESNET.INPLACE_RELU,
        norm_module=get_norm(cfg.BN.NORM_TYPE, num_splits=cfg.BN.NUM_SPLITS),
        dropout_rate=cfg.MODEL.DROPOUT_RATE,
    )


def resnet_kwargs(cfg) -> dict:
    """ResNet's keyword arguments from the config (MODEL, RESNET, NONLOCAL, BN, DATA)."""
    arch = cfg.MODEL.ARCH
    if arch not in ("c2d", "i3d", "slow", "resnet3d"):
        raise ValueError(f"MODEL.ARCH={arch!r} is not a ResNet arch; expected one of "
                         "['c2d', 'i3d', 'resnet3d', 'slow'] (MODEL.MODEL_NAME 'ResNet').")
    depth = cfg.RESNET.DEPTH
    kernels = temporal_kernels(arch)
    width = cfg.RESNET.WIDTH_PER_GROUP
    inner_base = cfg.RESNET.NUM_GROUPS * width
    table = _STAGE_WIDTHS["resnet3d" if arch == "resnet3d" else "standard"]
    return dict(
        shared_kwargs(cfg),
        dim_in=cfg.DATA.INPUT_CHANNEL_NUM[0],
        stem_dim=width,
        stem_kernel=[kernels[0][0][0], 7, 7],
        stage_widths=[(inner_base * i, width * o) for i, o in table],
        depths=stage_depths(depth),
        temp_kernels=[row[0] for row in kernels[1:]],
        num_block_temp_kernel=[row[0] for row in cfg.RESNET.NUM_BLOCK_TEMP_KERNEL],
        strides=[row[0] for row in cfg.RESNET.SPATIAL_STRIDES],
        dilations=[row[0] for row in cfg.RESNET.SPATIAL_DILATIONS],
        nonlocal_inds=[row[0] for row in cfg.NONLOCAL.LOCATION],
        nonlocal_group=[row[0] for row in cfg.NONLOCAL.GROUP],
        nonlocal_pool=[row[0] for row in cfg.NONLOCAL.POOL],
        instantiation=cfg.NONLOCAL.INSTANTIATION,
        pool1=_POOL1[arch][0],
    )


def finish_model(model: VideoModel, cfg, dims_per_stage: Dict[str, Sequence[int]]) -> None:
    """Initialise weights as PySlowFast does, then insert the ATFR sampler (if enabled).

    Args:
        dims_per_stage: per stage name, the per-pathway channels at that stage's output.
    """
    init_weights(model, cfg.MODEL.FC_INIT_STD, cfg.RESNET.ZERO_INIT_FINAL_BN)
    if cfg.ATFR.ENABLED and cfg.ATFR.STAGE not in dims_per_stage:
        raise ValueError(f"ATFR.STAGE={cfg.ATFR.STAGE!r}; expected one of "
                         f"{sorted(dims_per_stage)}.")
    attach_atfr(model, cfg, dims_per_stage.get(cfg.ATFR.STAGE, ()))


def build_resnet(cfg) -> ResNet:
    """MODEL_REGISTRY["ResNet"]: C2D / I3D / Slow / 3DResNet with the ATFR sampler if enabled."""
    model = ResNet(**resnet_kwargs(cfg))
    finish_model(model, cfg, {k: [v] for k, v in model.stage_dims.items()})
    return model


def build_resnet_nopool(cfg) -> ResNet:
    """MODEL_REGISTRY["ResNet_nopool"]: the ResNet of MODEL.ARCH without the temporal max-pool
    after res2 (PySlowFast's C2D_NOPOOL model-zoo entry: C2D at full temporal resolution)."""
    model = ResNet(**{**resnet_kwargs(cfg), "pool1": [1, 1, 1]})
    finish_model(model, cfg, {k: [v] for k, v in model.stage_dims.items()})
    return model


MODEL_REGISTRY.register_as("ResNet")(build_resnet)
MODEL_REGISTRY.register_as("ResNet_nopool")(build_resnet_nopool)
