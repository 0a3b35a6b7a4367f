"""X3D's building blocks: stem, bottleneck transform with squeeze-excitation, head.

Module and parameter names follow PySlowFast (`conv_xy`, `conv`, `bn`; `a`, `b`, `se.fc1`,
`c`; `conv_5`, `lin_5`, `projection`) so that its X3D checkpoints load as they are. Global
pooling goes through `varlen.masked_mean`, so padded frames of variable-length clips never
count and any input size works (multigrid short cycles included).
"""

from typing import Callable, List, Sequence

import torch
import torch.nn as nn

from slowfast_atfr.models import varlen
from slowfast_atfr.models.resnet_helper import TRANSFORM_REGISTRY, Stride, split_stride
from slowfast_atfr.models.stem_helper import STEM_REGISTRY

NormModule = Callable[..., nn.Module]

# Squeeze-excitation bottleneck width as a fraction of the 3x3x3 width (X3D paper, Sec. 3).
SE_RATIO = 1.0 / 16


def round_width(width: float, multiplier: float, min_width: int = 1, divisor: int = 1) -> int:
    """Scale `width` by `multiplier` and round to a multiple of `divisor` (PySlowFast's rule).

    Never rounds down by more than 10% and never below `min_width`.
    """
    if not multiplier:
        return int(width)
    width *= multiplier
    rounded = max(min_width, int(width + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * width:
        rounded += divisor
    return int(rounded)


@STEM_REGISTRY.register_as("x3d_stem")
class X3DStem(nn.Module):
    """Spatial 1x3x3 conv, then depthwise temporal Tx1x1 conv, BN, ReLU (no pooling).

    Args:
        dim_in: input channels (3 for RGB).
        dim_out: output channels (DIM_C1 times the width factor).
        kernel: [T, H, W] kernel; the spatial part goes to `conv_xy`, T to `conv`.
        stride: [T, H, W] stride, split the same way.
        padding: [T, H, W] padding, split the same way.
        norm_module: normalization layer class.
    """

    def __init__(self, *, dim_in: int, dim_out: int, kernel: Sequence[int],
                 stride: Sequence[int], padding: Sequence[int], inplace_relu: bool = True,
                 eps: float = 1e-5, bn_mmt: float = 0.1,
                 norm_module: NormModule = varlen.VarLenBatchNorm3d):
        super().__init__()
        self.conv_xy = nn.Conv3d(dim_in, dim_out, kernel_size=(1, kernel[1], kernel[2]),
                                 stride=(1, stride[1], stride[2]),
                                 padding=(0, padding[1], padding[2]), bias=False)
        self.conv = nn.Conv3d(dim_out, dim_out, kernel_size=(kernel[0], 1, 1),
                              stride=(stride[0], 1, 1), padding=(padding[0], 0, 0),
                              bias=False, groups=dim_out)
        self.bn = norm_module(num_features=dim_out, eps=eps, momentum=bn_mmt)
        self.relu = nn.ReLU(inplace_relu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C_in, T, H, W] -> [N, C_out, T / stride_T, H / stride_H, W / stride_W]."""
        return self.relu(self.bn(self.conv(self.conv_xy(x))))


class SE(nn.Module):
    """Squeeze-excitation: pool over valid (T, H, W), fc1, ReLU, fc2, sigmoid, rescale x.

    Args:
        dim_in: channels C.
        ratio: bottleneck width as a fraction of C (rounded to a multiple of 8, at least 8).
    """

    def __init__(self, dim_in: int, ratio: float):
        super().__init__()
        dim_fc = round_width(dim_in, ratio, min_width=8, divisor=8)
        self.fc1 = nn.Conv3d(dim_in, dim_fc, 1, bias=True)
        self.fc1_act = nn.ReLU()
        self.fc2 = nn.Conv3d(dim_fc, dim_in, 1, bias=True)
        self.fc2_sig = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, T, H, W] -> [N, C, T, H, W]; padded frames stay zero."""
        scale = self.fc2_sig(self.fc2(self.fc1_act(self.fc1(varlen.masked_mean(x)))))
        return x * varlen.broadcast_per_clip(scale, x)


@TRANSFORM_REGISTRY.register_as("x3d_transform")
class X3DTransform(nn.Module):
    """X3D bottleneck: 1x1x1, BN, ReLU; Tx3x3 depthwise, BN, [SE], Swish; 1x1x1, BN.

    SE sits on every other block (block_idx 0, 2, ...), as in PySlowFast. Drop connect is
    applied to this branch by `resnet_helper.ResBlock`.

    Args:
        dim_in: input channels.
        dim_out: output channels.
        temp_kernel_size: temporal kernel T of the 3x3 conv `b`.
        stride: spatial stride (in `b`, or in `a` when stride_1x1), or a (temporal, spatial)
            pair; a temporal stride goes to `b`, the only conv with a temporal extent.
        dim_inner: channels of the 3x3 conv (bottleneck factor times dim_out).
        num_groups: groups of `b` (dim_inner = channelwise).
        block_idx: index of the block inside its stage.
        drop_connect_rate: unused here (ResBlock drops the branch).
        se_ratio: SE width as a fraction of dim_inner (0 = no SE).
    """

    def __init__(self, *, dim_in: int, dim_out: int, temp_kernel_size: int, stride: Stride,
                 dim_inner: int, num_groups: int, stride_1x1: bool = False,
                 inplace_relu: bool = True, eps: float = 1e-5, bn_mmt: float = 0.1,
                 dilation: int = 1, norm_module: NormModule = varlen.VarLenBatchNorm3d,
                 block_idx: int = 0, drop_connect_rate: float = 0.0, se_ratio: float = SE_RATIO):
        super().__init__()
        t_stride, s_stride = split_stride(stride)
        str1x1, str3x3 = (s_stride, 1) if stride_1x1 else (1, s_stride)
        self.a = nn.Conv3d(dim_in, dim_inner, kernel_size=1, stride=(1, str1x1, str1x1),
                           bias=False)
        self.a_bn = norm_module(num_features=dim_inner, eps=eps, momentum=bn_mmt)
        self.a_relu = nn.ReLU(inplace_relu)
        self.b = nn.Conv3d(dim_inner, dim_inner, kernel_size=(temp_kernel_size, 3, 3),
                           stride=(t_stride, str3x3, str3x3),
                           padding=(temp_kernel_size // 2, dilation, dilation),
                           dilation=(1, dilation, dilation), groups=num_groups, bias=False)
        self.b_bn = norm_module(num_features=dim_inner, eps=eps, momentum=bn_mmt)
        if se_ratio > 0 and block_idx % 2 == 0:
            self.se = SE(dim_inner, se_ratio)
        self.b_relu = nn.SiLU()
        self.c = nn.Conv3d(dim_inner, dim_out, kernel_size=1, bias=False)
        self.c_bn = norm_module(num_features=dim_out, eps=eps, momentum=bn_mmt)
        self.c_bn.transform_final_bn = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C_in, T, H, W] -> [N, C_out, T', H', W'] (strided as configured)."""
        x = self.a_relu(self.a_bn(self.a(x)))
        x = self.b_bn(self.b(x))
        if hasattr(self, "se"):
            x = self.se(x)
        return self.c_bn(self.c(self.b_relu(x)))


class X3DHead(nn.Module):
    """conv_5 (1x1x1), BN, ReLU; global mean over valid (T, H, W); lin_5, [BN], ReLU;
    dropout; projection. Returns logits in train and eval.

    Args:
        dim_in: channels of res5's output.
        dim_inner: channels of conv_5 (res5's bottleneck width).
        dim_out: channels of lin_5 (X3D.DIM_C5).
        num_classes: number of classes.
        dropout_rate: dropout before the projection (0 = none).
        bn_lin5_on: BN after lin_5 (X3D.BN_LIN5).
    """

    def __init__(self, *, dim_in: int, dim_inner: int, dim_out: int, num_classes: int,
                 dropout_rate: float = 0.0, inplace_relu: bool = True, eps: float = 1e-5,
                 bn_mmt: float = 0.1, norm_module: NormModule = varlen.VarLenBatchNorm3d,
                 bn_lin5_on: bool = False):
        super().__init__()
        self.conv_5 = nn.Conv3d(dim_in, dim_inner, kernel_size=1, bias=False)
        self.conv_5_bn = norm_module(num_features=dim_inner, eps=eps, momentum=bn_mmt)
        self.conv_5_relu = nn.ReLU(inplace_relu)
        self.lin_5 = nn.Conv3d(dim_inner, dim_out, kernel_size=1, bias=False)
        if bn_lin5_on:
            self.lin_5_bn = norm_module(num_features=dim_out, eps=eps, momentum=bn_mmt)
        self.lin_5_relu = nn.ReLU(inplace_relu)
        if dropout_rate > 0.0:
            self.dropout = nn.Dropout(dropout_rate)
        self.projection = nn.Linear(dim_out, num_classes, bias=True)

    def forward(self, inputs: List[torch.Tensor]) -> torch.Tensor:
        """[[N, C, T, H, W]] -> logits [N, num_classes]."""
        if len(inputs) != 1:
            raise ValueError(f"X3DHead takes one pathway; got {len(inputs)} tensors.")
        x = self.conv_5_relu(self.conv_5_bn(self.conv_5(inputs[0])))
        x = self.lin_5(varlen.masked_mean(x))
        if hasattr(self, "lin_5_bn"):
            x = self.lin_5_bn(x)
        x = self.lin_5_relu(x).flatten(1)
        if hasattr(self, "dropout"):
            x = self.dropout(x)
        return self.projection(x)
