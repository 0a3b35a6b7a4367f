"""varlen/conv.py: a temporal convolution of packed clips reads each clip's own frames only."""

import pytest
import torch
import torch.nn as nn

from slowfast_atfr.models import varlen
from slowfast_atfr.models.varlen import ClipLayout, VarLenConv3d

_CASES = [(3, 1, 1, False), (5, 1, 1, True), (3, 2, 1, False), (3, 1, 4, False),
          (3, 1, 8, True), (2, 2, 1, False)]


@pytest.mark.parametrize("kernel,dilation,groups,bias", _CASES)
def test_packed_temporal_convolution_equals_each_clip_alone(kernel, dilation, groups, bias):
    """Training form (autograd on): taps summed with per-clip masks; values and gradients."""
    lengths = torch.tensor([1, 4, 2, 5, 1])  # clips shorter than the kernel's reach too
    conv = nn.Conv3d(8, 8, (kernel, 3, 3), padding=(dilation * (kernel - 1) // 2, 1, 1),
                     dilation=(dilation, 1, 1), groups=groups, bias=bias).double()
    conv.__class__ = VarLenConv3d
    x = varlen.zero_padding(torch.randn(5, 8, 5, 4, 4, dtype=torch.float64), lengths)
    layout = ClipLayout.packing(lengths)
    packed = varlen.pack(x, layout).requires_grad_()
    with varlen.layouts_context([layout]):
        y = conv(packed)
    alone = torch.cat([nn.Conv3d.forward(conv, x[i:i + 1, :, :n])
                       for i, n in enumerate(lengths.tolist())], dim=2)
    torch.testing.assert_close(y, alone)
    cotangent = torch.randn_like(y)
    grads = torch.autograd.grad(y, [packed, conv.weight], cotangent)
    expected = torch.autograd.grad(alone, [conv.weight], cotangent)[0]
    torch.testing.assert_close(grads[1], expected)
    assert torch.isfinite(grads[0]).all()


@pytest.mark.parametrize("kernel,dilation,groups,bias", _CASES)
def test_packed_inference_convolution_equals_each_clip_alone(kernel, dilation, groups, bias):
    """Inference form (no autograd): the plain convolution minus the cross-clip products."""
    lengths = torch.tensor([1, 4, 2, 5, 1])
    conv = nn.Conv3d(8, 8, (kernel, 3, 3), padding=(dilation * (kernel - 1) // 2, 1, 1),
                     dilation=(dilation, 1, 1), groups=groups, bias=bias).double()
    conv.__class__ = VarLenConv3d
    x = varlen.zero_padding(torch.randn(5, 8, 5, 4, 4, dtype=torch.float64), lengths)
    layout = ClipLayout.packing(lengths)
    with torch.no_grad():
        with varlen.layouts_context([layout]):
            y = conv(varlen.pack(x, layout))
        alone = torch.cat([nn.Conv3d.forward(conv, x[i:i + 1, :, :n])
                           for i, n in enumerate(lengths.tolist())], dim=2)
    torch.testing.assert_close(y, alone)


def test_outside_a_packed_batch_it_is_conv3d():
    conv = nn.Conv3d(2, 3, (3, 3, 3), padding=1)
    x = torch.randn(2, 2, 4, 5, 5)
    expected = conv(x)
    conv.__class__ = VarLenConv3d
    assert torch.equal(conv(x), expected)
    with varlen.lengths_context([x], torch.tensor([[4], [2]])):
        assert torch.equal(conv(x), expected)  # padded: the padding is zero, as is


def test_short_clips_get_true_weight_gradients_under_cpu_autocast():
    """torch's CPU bfloat16 conv3d gives garbage weight gradients when 1 < T < the temporal
    kernel; VarLenConv3d runs such a call in float32 instead."""
    torch.manual_seed(0)
    conv = VarLenConv3d(16, 16, (3, 1, 1), padding=(1, 0, 0), bias=False)
    x = torch.randn(4, 16, 2, 3, 3)
    reference = torch.autograd.grad(conv(x).sum(), conv.weight)[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(x)
    assert y.dtype == torch.bfloat16
    grad = torch.autograd.grad(y.float().sum(), conv.weight)[0]
    assert torch.isfinite(grad).all()
    torch.testing.assert_close(grad, reference, rtol=2e-2, atol=2e-2)
