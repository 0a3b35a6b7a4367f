"""Rewrite a trained model for fast inference without changing what it computes.

`optimize_for_inference` returns an eval-mode copy in which
- each BatchNorm that directly follows a convolution (PySlowFast's `x` / `x_bn`,
  `conv` / `bn` and `conv_f2s` / `bn` pairs) is folded into that convolution's weights and bias;
- on CPU, tensors are kept channels-last (`torch.channels_last_3d`), where oneDNN runs
  depthwise 3x3x3 convolutions several times faster than on NCTHW tensors;
- every convolution calls oneDNN directly, with the ReLU after it fused into the same call:
  PyTorch's CPU dispatch sends 1x1x1 and depthwise Tx1x1 convolutions (X3D's stem) to a
  slow generic kernel.
The parameters keep their values (outputs match to float rounding); the copy is for
inference only. Used by the test loop with TEST.OPTIMIZE_FOR_INFERENCE, and by
`tools/benchmark_net.py` and `benchmarks/varlen_speed.py`, where the baseline and its ATFR
twin get the same rewrite.
"""

import copy
from typing import Iterator, Tuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from slowfast_atfr.models import varlen

_CHANNELS_LAST = torch.channels_last_3d
# Convolutions whose BatchNorm (and ReLU) siblings are called `bn` (`relu`): stems, SlowFast
# fusion, non-local; every other `x` pairs with `x_bn` (`x_relu`).
_CONVS_BEFORE_BN = ("conv", "conv_f2s", "conv_out")


class FoldedNorm(nn.Module):
    """Stands where a folded BatchNorm was: keeps padded frames of a batch at zero."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return varlen.zero_invalid(x)


_ONEDNN = torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn,
                                                          "_convolution_pointwise")


class OneDnnConv3d(nn.Conv3d):
    """Conv3d run straight by oneDNN on CPU, with the ReLU that follows it fused in.

    `F.conv3d` on CPU sends some shapes (1x1x1 convolutions, X3D's depthwise Tx1x1 stem
    conv) to slow generic kernels; `torch.ops.mkldnn._convolution_pointwise` always runs
    oneDNN and applies `activation` while writing the output, saving one pass over it.
    Elsewhere (CUDA, the meta device of FLOP counting, fvcore's tracing, autograd, a torch
    without oneDNN) it is the plain convolution followed by the activation. A temporal
    convolution of a packed variable-length batch runs as varlen.VarLenConv3d does.
    """

    activation = "none"  # or "relu"; set per instance by optimize_for_inference

    def _use_onednn(self, x: torch.Tensor) -> bool:
        return (_ONEDNN and x.device.type == "cpu" and x.dtype == torch.float32
                and not torch.is_grad_enabled() and not torch.jit.is_tracing())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layout = varlen.layout_of(x) if self.kernel_size[0] > 1 else None
        if layout is not None and layout.packed and layout.num_clips > 1:
            y = varlen.packed_temporal_conv(self, x, layout, plain=self._convolve)
            return F.relu(y) if self.activation == "relu" else y
        return self._convolve(x, self.activation)

    def _convolve(self, x: torch.Tensor, activation: str = "none") -> torch.Tensor:
        if self._use_onednn(x):
            return torch.ops.mkldnn._convolution_pointwise(
                x.contiguous(memory_format=_CHANNELS_LAST), self.weight, self.bias,
                list(self.padding), list(self.stride), list(self.dilation), self.groups,
                activation, [], "")
        y = super().forward(x)
        return F.relu(y) if activation == "relu" else y


def _onednn_compatible(conv: nn.Module) -> bool:
    return (type(conv) in (nn.Conv3d, varlen.VarLenConv3d) and conv.padding_mode == "zeros"
            and not isinstance(conv.padding, str))


def _norm_and_relu_names(conv_name: str) -> Tuple[str, str]:
    """Names of the BatchNorm and ReLU that follow conv `conv_name` in PySlowFast modules."""
    if conv_name in _CONVS_BEFORE_BN:
        return "bn", "relu"
    return f"{conv_name}_bn", f"{conv_name}_relu"


def _conv_bn_pairs(model: nn.Module) -> Iterator[Tuple[nn.Module, str, str]]:
    """(parent, conv name, bn name) for every BatchNorm fed directly by a sibling conv."""
    for parent in model.modules():
        children = dict(parent.named_children())
        for name, child in children.items():
            bn_name = _norm_and_relu_names(name)[0]
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


def _fuse_relus(model: nn.Module) -> None:
    """Let each OneDnnConv3d apply the ReLU that follows its folded BatchNorm.

    ReLU commutes with FoldedNorm (it keeps zeros zero), so conv -> ReLU -> FoldedNorm
    equals conv -> FoldedNorm -> ReLU; the ReLU module becomes an Identity.
    """
    for parent in model.modules():
        children = dict(parent.named_children())
        for name, conv in children.items():
            bn_name, relu_name = _norm_and_relu_names(name)
            if (isinstance(conv, OneDnnConv3d) and isinstance(children.get(bn_name), FoldedNorm)
                    and isinstance(children.get(relu_name), nn.ReLU)):
                conv.activation = "relu"
                setattr(parent, relu_name, nn.Identity())


def optimize_for_inference(model: nn.Module, channels_last: bool = True) -> nn.Module:
    """Eval-mode copy of `model` with BN folded and (channels_last) CPU-friendly kernels.

    Args:
        model: a video model taking a list of [N, C, T, H, W] tensors.
        channels_last: also keep activations channels-last and run every convolution
            through oneDNN with its ReLU fused (the CPU choice; on GPUs cuDNN handles NCTHW
            well).
    """
    model = fold_batchnorm(copy.deepcopy(model).eval())
    if not channels_last:
        return model
    for module in model.modules():
        if _onednn_compatible(module):
            module.__class__ = OneDnnConv3d  # adds no state: every parameter is kept
    _fuse_relus(model)
    model = model.to(memory_format=_CHANNELS_LAST)
    model.register_forward_pre_hook(_to_channels_last)
    return model
