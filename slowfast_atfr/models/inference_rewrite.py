"""Rewrite a trained model for fast inference without changing what it computes.

`optimize_for_inference` returns an eval-mode copy in which
- each BatchNorm that directly follows a convolution (PySlowFast's `x` / `x_bn`,
  `conv` / `bn` and `conv_f2s` / `bn` pairs) is folded into that convolution's weights and bias;
- on CPU, tensors are kept channels-last (`torch.channels_last_3d`), where oneDNN runs
  depthwise 3x3x3 convolutions several times faster than on NCTHW tensors;
- 1x1x1 convolutions become one matrix product over the channel axis, and depthwise
  temporal Tx1x1 convolutions (X3D's stem) one banded [T, T] matrix product per channel:
  PyTorch's CPU kernels for both go through a slow generic path.
The parameters keep their values (outputs match to float rounding); the copy is for
inference only. Used by `tools/benchmark_net.py` and `benchmarks/varlen_speed.py`, where
the baseline and its ATFR twin get the same rewrite.
"""

import copy
from typing import Iterator, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from slowfast_atfr.models import varlen

_CHANNELS_LAST = torch.channels_last_3d
# Convolutions whose BatchNorm sibling is called `bn` (stems, SlowFast fusion, non-local); every
# other `x` pairs with `x_bn`.
_CONVS_BEFORE_BN = ("conv", "conv_f2s", "conv_out")


class FoldedNorm(nn.Module):
    """Stands where a folded BatchNorm was: keeps padded frames of a batch at zero."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lengths = varlen.active_lengths(x.shape[2]) if x.dim() == 5 else None
        return varlen.zero_padding(x, lengths)


class PointwiseConv3d(nn.Conv3d):
    """1x1x1 convolution computed as a matrix product on a channels-last tensor."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=_CHANNELS_LAST)
        weight = self.weight.view(self.out_channels, self.in_channels)
        return F.linear(x.permute(0, 2, 3, 4, 1), weight, self.bias).permute(0, 4, 1, 2, 3)


class BandedTemporalConv3d(nn.Conv3d):
    """Depthwise Tx1x1 convolution as a product with a banded [C, T, T] matrix (CPU).

    Output frame t of channel c is sum_k w[c, k] x[c, t + k - pad], i.e. row t of a
    [T_out, T] matrix with w[c] on a diagonal band; zeros outside the clip as padding.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            return super().forward(x)
        channels_last = x.is_contiguous(memory_format=_CHANNELS_LAST) and not x.is_contiguous()
        n, c, t, h, w = x.shape
        y = torch.matmul(self._band(t, x.device), x.contiguous().view(n, c, t, h * w))
        y = y.view(n, c, -1, h, w)
        if not channels_last:
            return y if self.bias is None else y + self.bias.view(1, c, 1, 1, 1)
        # One pass writes the channels-last result and adds the (folded BN) bias.
        out = torch.empty_like(y, memory_format=_CHANNELS_LAST)
        if self.bias is None:
            return out.copy_(y)
        bias = self.bias.view(1, c, 1, 1, 1)
        if torch.is_grad_enabled():  # autograd does not support out=
            return out.copy_(y + bias)
        return torch.add(y, bias, out=out)

    def _band(self, num_frames: int, device: torch.device) -> torch.Tensor:
        kernel, pad = self.kernel_size[0], self.padding[0]
        out_frames = num_frames + 2 * pad - kernel + 1
        tap = (torch.arange(num_frames, device=device)[None, :]
               - torch.arange(out_frames, device=device)[:, None] + pad)
        inside = (tap >= 0) & (tap < kernel)
        taps = self.weight.view(self.out_channels, kernel)[:, tap.clamp(0, kernel - 1)]
        return taps * inside.to(taps.dtype)


def _is_pointwise(conv: nn.Conv3d) -> bool:
    return (conv.kernel_size == (1, 1, 1) and conv.stride == (1, 1, 1)
            and conv.padding == (0, 0, 0) and conv.groups == 1)


def _is_temporal_depthwise(conv: nn.Conv3d) -> bool:
    return (conv.kernel_size[1:] == (1, 1) and conv.stride == (1, 1, 1)
            and conv.dilation == (1, 1, 1) and conv.padding[1:] == (0, 0)
            and conv.groups == conv.in_channels == conv.out_channels
            and conv.padding_mode == "zeros")


def _conv_bn_pairs(model: nn.Module) -> Iterator[Tuple[nn.Module, str, str]]:
    """(parent, conv name, bn name) for every BatchNorm fed directly by a sibling conv."""
    for parent in model.modules():
        children = dict(parent.named_children())
        for name, child in children.items():
            bn_name = "bn" if name in _CONVS_BEFORE_BN else f"{name}_bn"
            bn = children.get(bn_name)
            if isinstance(child, nn.Conv3d) and isinstance(bn, nn.BatchNorm3d):
                yield parent, name, bn_name


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold `x_bn` into `x` (and `bn` into `conv`) in place; `model` must be in eval mode."""
    if model.training:
        raise ValueError("fold_batchnorm needs a model in eval mode (running statistics).")
    for parent, conv_name, bn_name in list(_conv_bn_pairs(model)):
        conv, bn = getattr(parent, conv_name), getattr(parent, bn_name)
        setattr(parent, conv_name, fuse_conv_bn_eval(conv, bn))
        setattr(parent, bn_name, FoldedNorm())
    return model


def _to_channels_last(module: nn.Module, args):
    (xs,) = args
    return ([x.contiguous(memory_format=_CHANNELS_LAST) for x in xs],)


def optimize_for_inference(model: nn.Module, channels_last: bool = True) -> nn.Module:
    """Eval-mode copy of `model` with BN folded and (channels_last) CPU-friendly kernels.

    Args:
        model: a video model taking a list of [N, C, T, H, W] tensors.
        channels_last: also keep activations channels-last and use the matrix-product
            kernels above (the CPU choice; on GPUs cuDNN handles NCTHW well).
    """
    model = fold_batchnorm(copy.deepcopy(model).eval())
    if not channels_last:
        return model
    for module in model.modules():
        # The subclasses add no state: switching the class keeps every parameter.
        if type(module) is nn.Conv3d and _is_pointwise(module):
            module.__class__ = PointwiseConv3d
        elif type(module) is nn.Conv3d and _is_temporal_depthwise(module):
            module.__class__ = BandedTemporalConv3d
    model = model.to(memory_format=_CHANNELS_LAST)
    model.register_forward_pre_hook(_to_channels_last)
    return model
