"""R(2+1)D (Tran et al., CVPR 2018) as used in the ATFR paper (Tables 4, 7).

MODEL.MODEL_NAME "R2plus1D" (MODEL.ARCH "r2plus1d"). The reference is pytorchvideo's
`create_r2plus1d` (R(2+1)D-R50, also PySlowFast's "PTVR2plus1D"): a 1x7x7 stem without
pooling, bottleneck blocks whose middle conv is factorised into a spatial 1x3x3 conv then
a temporal 3x1x1 conv (each followed by BN and ReLU), stage spatial strides (2, 2, 2, 2),
temporal strides (1, 1, 2, 2), widths 64 / 256 / 512 / 1024 / 2048 at
RESNET.WIDTH_PER_GROUP 64, and a global average pool + linear head. The stages are a
`ResStage` with `trans_func_name="r2plus1d_transform"`, so parameter names follow the
ResNet family (s1.pathway0_stem.conv, s2.pathway0_res0.branch2.b_t, head.projection).
RESNET.SPATIAL_STRIDES, RESNET.NUM_BLOCK_TEMP_KERNEL, RESNET.TRANS_FUNC and RESNET.STRIDE_1X1
have no effect: the table below and the (2+1)D transform are the architecture.
"""

from typing import Callable

import torch
import torch.nn as nn

from slowfast_atfr.models.build import MODEL_REGISTRY
from slowfast_atfr.models.resnet import (
    _STAGE_WIDTHS,
    ResNet,
    finish_model,
    shared_kwargs,
    stage_depths,
)
from slowfast_atfr.models.resnet_helper import TRANSFORM_REGISTRY, Stride, split_stride
from slowfast_atfr.models.stem_helper import STEM_REGISTRY, ResNetBasicStem

# Stages of R(2+1)D (pytorchvideo create_r2plus1d), before RESNET.DEPTH picks the blocks.
_STAGES = {
    # name: (temporal stride, spatial stride, temporal kernel of the (2+1)D conv)
    "res2": (1, 2, 3),
    "res3": (1, 2, 3),
    "res4": (2, 2, 3),
    "res5": (2, 2, 3),
}
# Temporal kernel of the stem conv (1x7x7, stride 1, 2, 2; no pooling).
_STEM_TEMPORAL_KERNEL = 1


@STEM_REGISTRY.register_as("r2plus1d_stem")
class R2plus1DStem(ResNetBasicStem):
    """conv -> bn -> relu, no pooling (the first stage strides instead)."""

    def __init__(self, **kwargs):
        super().__init__(pool=False, **kwargs)


@TRANSFORM_REGISTRY.register_as("r2plus1d_transform")
class R2plus1DTransform(nn.Module):
    """(2+1)D bottleneck: a 1x1x1 -> b 1x3x3 (spatial stride) -> b_t Tx1x1 (temporal
    stride) -> c 1x1x1, each conv followed by BN (and ReLU except after c_bn)."""

    def __init__(self, *, dim_in: int, dim_out: int, temp_kernel_size: int, stride: Stride,
                 dim_inner: int, num_groups: int = 1, stride_1x1: bool = False,
                 inplace_relu: bool = True, dilation: int = 1,
                 norm_module: Callable[..., nn.Module] = nn.BatchNorm3d, block_idx: int = 0,
                 drop_connect_rate: float = 0.0, eps: float = 1e-5, bn_mmt: float = 0.1):
        super().__init__()
        t_stride, s_stride = split_stride(stride)

        def norm(dim: int) -> nn.Module:
            return norm_module(num_features=dim, eps=eps, momentum=bn_mmt)

        self.a = nn.Conv3d(dim_in, dim_inner, kernel_size=1, bias=False)
        self.a_bn = norm(dim_inner)
        self.a_relu = nn.ReLU(inplace=inplace_relu)
        self.b = nn.Conv3d(dim_inner, dim_inner, [1, 3, 3], stride=[1, s_stride, s_stride],
                           padding=[0, dilation, dilation], dilation=[1, dilation, dilation],
                           groups=num_groups, bias=False)
        self.b_bn = norm(dim_inner)
        self.b_relu = nn.ReLU(inplace=inplace_relu)
        self.b_t = nn.Conv3d(dim_inner, dim_inner, [temp_kernel_size, 1, 1],
                             stride=[t_stride, 1, 1], padding=[temp_kernel_size // 2, 0, 0],
                             groups=num_groups, bias=False)
        self.b_t_bn = norm(dim_inner)
        self.b_t_relu = nn.ReLU(inplace=inplace_relu)
        self.c = nn.Conv3d(dim_inner, dim_out, kernel_size=1, bias=False)
        self.c_bn = norm(dim_out)
        self.c_bn.transform_final_bn = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.a_relu(self.a_bn(self.a(x)))
        x = self.b_relu(self.b_bn(self.b(x)))
        x = self.b_t_relu(self.b_t_bn(self.b_t(x)))
        return self.c_bn(self.c(x))


def r2plus1d_kwargs(cfg) -> dict:
    """ResNet keyword arguments for R(2+1)D from the config (MODEL, RESNET, BN, DATA)."""
    if cfg.MODEL.ARCH != "r2plus1d":
        raise ValueError(f"MODEL.ARCH={cfg.MODEL.ARCH!r}; MODEL.MODEL_NAME 'R2plus1D' needs "
                         "MODEL.ARCH 'r2plus1d'.")
    width = cfg.RESNET.WIDTH_PER_GROUP
    inner_base = cfg.RESNET.NUM_GROUPS * width
    depths = stage_depths(cfg.RESNET.DEPTH)
    return dict(
        shared_kwargs(cfg),
        dim_in=cfg.DATA.INPUT_CHANNEL_NUM[0],
        stem_dim=width,
        stem_kernel=[_STEM_TEMPORAL_KERNEL, 7, 7],
        stem_func_name="r2plus1d_stem",
        stage_widths=[(inner_base * i, width * o) for i, o in _STAGE_WIDTHS["standard"]],
        depths=depths,
        temp_kernels=[[kernel] for _, _, kernel in _STAGES.values()],
        num_block_temp_kernel=depths,
        strides=[(t, s) for t, s, _ in _STAGES.values()],
        dilations=[row[0] for row in cfg.RESNET.SPATIAL_DILATIONS],
        trans_func_name="r2plus1d_transform",
    )


def build_r2plus1d(cfg) -> ResNet:
    """MODEL_REGISTRY["R2plus1D"]: R(2+1)D with the ATFR sampler if enabled."""
    model = ResNet(**r2plus1d_kwargs(cfg))
    finish_model(model, cfg, {k: [v] for k, v in model.stage_dims.items()})
    return model


MODEL_REGISTRY.register_as("R2plus1D")(build_r2plus1d)
