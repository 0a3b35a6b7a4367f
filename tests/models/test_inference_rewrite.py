"""optimize_for_inference computes what the model computes, for every family."""

import pytest
import torch
import torch.nn.functional as F
from tiny_models import build_tiny, calibrate_bn, mixed_clips, tiny_cfg, variants

from slowfast_atfr.models import varlen
from slowfast_atfr.models.inference_rewrite import (
    OneDnnConv3d,
    fold_batchnorm,
    optimize_for_inference,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _randomize_bn(model):
    """Non-trivial affine parameters, so folding them is actually checked."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm3d):
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.5, 0.5)


@pytest.mark.parametrize("channels_last", [False, True], ids=["fold", "channels_last"])
@pytest.mark.parametrize("sampler,batching", [(None, "grouped"),
                                              ("TestDedupSampler", "grouped"),
                                              ("TestDedupSampler", "packed")],
                         ids=["base", "varlen", "varlen_packed"])
@pytest.mark.parametrize("name,variant", variants())
def test_optimized_model_gives_the_same_logits_and_lengths(name, variant, sampler, batching,
                                                           channels_last):
    cfg = tiny_cfg(name, variant, sampler is not None, sampler or "SGS")
    cfg.ATFR.EVAL_BATCHING = batching
    model = build_tiny(cfg)
    _randomize_bn(model)
    xs = mixed_clips(cfg)
    calibrate_bn(model, xs)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fast = optimize_for_inference(model, channels_last=channels_last)
    with torch.no_grad():
        expected, lengths = model(xs), model.temporal_lengths
        got = fast(xs)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4)
    if sampler is not None:
        assert torch.equal(fast.temporal_lengths, lengths)
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in fast.modules())
    assert not fast.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), f"the original's {key} changed"


@pytest.mark.parametrize("name,variant", [v for v in variants() if v[0] in ("X3D", "ResNet")])
def test_folded_model_keeps_padding_zero_in_a_padded_eval_run(name, variant):
    cfg = tiny_cfg(name, variant, True, "TestDedupSampler")
    model = build_tiny(cfg)
    _randomize_bn(model)
    calibrate_bn(model, mixed_clips(cfg, seed=1))
    fast = optimize_for_inference(model, channels_last=False)
    with torch.no_grad():
        feats, lengths = fast.sample(fast.forward_before_sampler(mixed_clips(cfg)))
        grouped = varlen.run_grouped(fast.forward_after_sampler, feats, lengths)
        padded = varlen.run_padded(fast.forward_after_sampler, feats, lengths)
    assert torch.allclose(padded, grouped, rtol=1e-4, atol=1e-4)


# (in, out, kernel, stride, padding, dilation, groups, bias): X3D's 1x1x1 and depthwise Tx1x1
# and strided depthwise 3x3x3 convs, a ResNet stem conv, a dilated grouped conv.
_CONV_CASES = [
    (5, 7, (1, 1, 1), (1, 1, 1), (0, 0, 0), (1, 1, 1), 1, True),
    (6, 6, (5, 1, 1), (1, 1, 1), (2, 0, 0), (1, 1, 1), 6, False),
    (6, 6, (3, 3, 3), (1, 2, 2), (1, 1, 1), (1, 1, 1), 6, True),
    (3, 8, (3, 7, 7), (1, 2, 2), (1, 3, 3), (1, 1, 1), 1, False),
    (4, 6, (3, 3, 3), (2, 1, 1), (0, 2, 2), (1, 2, 2), 2, True),
]


def _conv_case(case):
    dim_in, dim_out, kernel, stride, padding, dilation, groups, bias = case
    return torch.nn.Conv3d(dim_in, dim_out, kernel, stride=stride, padding=padding,
                           dilation=dilation, groups=groups, bias=bias)


@pytest.mark.parametrize("activation", ["none", "relu"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["ncthw", "channels_last"])
@pytest.mark.parametrize("case", _CONV_CASES, ids=lambda c: "k{}x{}x{}".format(*c[2]))
def test_onednn_conv_equals_conv3d_then_activation(case, channels_last, activation):
    conv = _conv_case(case)
    x = torch.randn(2, case[0], 7, 12, 11)
    expected = conv(x)
    expected = F.relu(expected) if activation == "relu" else expected
    conv.__class__ = OneDnnConv3d
    conv.activation = activation
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    with torch.inference_mode():
        got = conv(x)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-5)


def test_onednn_conv_backpropagates_like_conv3d():
    """With autograd on it falls back to the plain convolution (oneDNN's op has no grad)."""
    conv = _conv_case(_CONV_CASES[1])
    x = torch.randn(1, 6, 6, 2, 2, requires_grad=True)
    F.relu(conv(x)).square().sum().backward()
    expected = (x.grad.clone(), conv.weight.grad.clone())
    x.grad, conv.weight.grad = None, None
    conv.__class__ = OneDnnConv3d
    conv.activation = "relu"
    conv(x).square().sum().backward()
    assert torch.allclose(x.grad, expected[0], atol=1e-5)
    assert torch.allclose(conv.weight.grad, expected[1], atol=1e-5)


def test_optimize_fuses_relu_into_the_convs_that_feed_one():
    x3d_variant = next(variant for name, variant in variants() if name == "X3D")
    cfg = tiny_cfg("X3D", x3d_variant, False)
    fast = optimize_for_inference(build_tiny(cfg))
    stem = fast.s1.pathway0_stem
    transform = fast.s2.pathway0_res0.branch2
    assert isinstance(stem.conv, OneDnnConv3d) and stem.conv.activation == "relu"
    assert isinstance(stem.relu, torch.nn.Identity)
    assert transform.a.activation == "relu" and isinstance(transform.a_relu, torch.nn.Identity)
    # b is followed by SiLU and c by the residual sum: nothing to fuse.
    assert transform.b.activation == "none" and transform.c.activation == "none"
    assert isinstance(fast.s2.pathway0_res0.relu, torch.nn.ReLU)


def test_fold_batchnorm_refuses_a_training_model():
    model = torch.nn.Sequential(torch.nn.Conv3d(3, 3, 1))
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(model)
