"""optimize_for_inference computes what the model computes, for every family."""

import pytest
import torch
import torch.nn.functional as F
from tiny_models import build_tiny, calibrate_bn, mixed_clips, tiny_cfg, variants

from slowfast_atfr.models import varlen
from slowfast_atfr.models.inference_rewrite import (
    BandedTemporalConv3d,
    PointwiseConv3d,
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
@pytest.mark.parametrize("sampler", [None, "TestDedupSampler"], ids=["base", "varlen"])
@pytest.mark.parametrize("name,variant", variants())
def test_optimized_model_gives_the_same_logits_and_lengths(name, variant, sampler,
                                                           channels_last):
    cfg = tiny_cfg(name, variant, sampler is not None, sampler or "SGS")
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


@pytest.mark.parametrize("kernel,padding,bias", [(5, 2, False), (3, 1, True), (3, 0, False),
                                                 (1, 0, True), (4, 3, False)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_banded_temporal_conv_equals_conv3d(kernel, padding, bias, channels_last):
    conv = torch.nn.Conv3d(6, 6, (kernel, 1, 1), padding=(padding, 0, 0), groups=6, bias=bias)
    x = torch.randn(2, 6, 7, 5, 4)
    expected = F.conv3d(x, conv.weight, conv.bias, padding=(padding, 0, 0), groups=6)
    conv.__class__ = BandedTemporalConv3d
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    got = conv(x)
    assert got.shape == expected.shape
    assert torch.allclose(got, expected, atol=1e-5)
    assert got.is_contiguous(memory_format=torch.channels_last_3d) == channels_last


def test_banded_temporal_conv_backpropagates_like_conv3d():
    conv = torch.nn.Conv3d(3, 3, (3, 1, 1), padding=(1, 0, 0), groups=3, bias=False)
    x = torch.randn(1, 3, 6, 2, 2, requires_grad=True)
    F.conv3d(x, conv.weight, padding=(1, 0, 0), groups=3).square().sum().backward()
    expected = (x.grad.clone(), conv.weight.grad.clone())
    x.grad, conv.weight.grad = None, None
    conv.__class__ = BandedTemporalConv3d
    conv(x).square().sum().backward()
    assert torch.allclose(x.grad, expected[0], atol=1e-5)
    assert torch.allclose(conv.weight.grad, expected[1], atol=1e-5)


def test_pointwise_conv_equals_conv3d_and_returns_channels_last():
    conv = torch.nn.Conv3d(5, 7, 1, bias=True)
    x = torch.randn(2, 5, 3, 4, 4)
    expected = conv(x)
    conv.__class__ = PointwiseConv3d
    got = conv(x)
    assert torch.allclose(got, expected, atol=1e-5)
    assert got.is_contiguous(memory_format=torch.channels_last_3d)


def test_fold_batchnorm_refuses_a_training_model():
    model = torch.nn.Sequential(torch.nn.Conv3d(3, 3, 1))
    with pytest.raises(ValueError, match="eval mode"):
        fold_batchnorm(model)
