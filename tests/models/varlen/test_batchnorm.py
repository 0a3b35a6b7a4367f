"""varlen/batchnorm.py: the one fused BatchNorm over valid frames, and VarLenBatchNorm3d."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from clips import LENGTHS, padded_clips

from slowfast_atfr.models import varlen
from slowfast_atfr.models.varlen import ClipLayout, VarLenBatchNorm3d


def _valid_frames(x, lengths):
    """[1, C, sum(lengths), H, W]: the valid frames of every sample, concatenated in time."""
    return torch.cat([x[i:i + 1, :, :n] for i, n in enumerate(lengths.tolist())], dim=2)


@pytest.mark.parametrize("num_groups", [1, 2])
def test_fused_batchnorm_gradients_equal_autograd_of_the_formula(num_groups):
    """gradcheck in float64: the closed-form backward is the derivative of the forward."""
    x = (padded_clips(c=2, hw=2, dtype=torch.float64) * 2 + 1).requires_grad_()
    weight = torch.rand(2, dtype=torch.float64, requires_grad=True)
    bias = torch.rand(2, dtype=torch.float64, requires_grad=True)
    member = ClipLayout.padded(LENGTHS, 6).membership(num_groups, torch.float64)

    def fn(x, weight, bias):
        return varlen.batch_norm_frames(x, member, weight, bias, 1e-5)[0]

    assert torch.autograd.gradcheck(fn, (x, weight, bias))


def test_fused_batchnorm_equals_batchnorm_per_group_and_zeroes_padding():
    x = padded_clips(c=3) * 3 + 1
    layout = ClipLayout.padded(LENGTHS, 6)
    y, (mean, var, count) = varlen.batch_norm_frames(
        x, layout.membership(2, torch.float32), None, None, 1e-5)
    assert torch.equal(y, varlen.zero_padding(y, LENGTHS))
    for group in range(2):
        clips = [i for i in range(4) if i % 2 == group]
        valid = torch.cat([x[i:i + 1, :, :LENGTHS[i]] for i in clips], dim=2)
        ref = F.batch_norm(valid, None, None, training=True, eps=1e-5)
        got = torch.cat([y[i:i + 1, :, :LENGTHS[i]] for i in clips], dim=2)
        torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(mean[:, group], valid.mean(dim=(0, 2, 3, 4)))
        torch.testing.assert_close(var[:, group], valid.var(dim=(0, 2, 3, 4), unbiased=False))
        assert count[group] == valid[0, 0].numel()


def test_varlen_batchnorm_train_equals_batchnorm_on_valid_frames():
    x = padded_clips(c=5) * 3 + 1
    x = x + (~varlen.valid_mask(LENGTHS, 6)).float()[:, None, :, None, None]  # padding 1
    ours, ref = VarLenBatchNorm3d(5), nn.BatchNorm3d(5)
    for bn in (ours, ref):
        nn.init.uniform_(bn.weight)
        nn.init.uniform_(bn.bias)
    ref.load_state_dict(ours.state_dict())
    with varlen.lengths_context([x], LENGTHS[:, None]):
        y = ours(x)
    y_ref = ref(_valid_frames(x, LENGTHS))
    torch.testing.assert_close(_valid_frames(y, LENGTHS), y_ref, atol=1e-5, rtol=1e-5)
    assert torch.equal(y, varlen.zero_padding(y, LENGTHS))  # padding stays zero
    for key in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(ours, key), getattr(ref, key), msg=key)


def test_varlen_batchnorm_on_a_packed_batch_is_batchnorm_on_its_frames():
    x = padded_clips(c=3)
    packed = varlen.pack(x, ClipLayout.packing(LENGTHS))
    ours, ref = VarLenBatchNorm3d(3), nn.BatchNorm3d(3)
    with varlen.layouts_context([ClipLayout.packing(LENGTHS)]):
        y = ours(packed)
    assert torch.equal(y, ref(packed))
    torch.testing.assert_close(ours.running_var, ref.running_var)


def test_a_packed_batch_of_one_value_per_channel_does_not_raise():
    bn = VarLenBatchNorm3d(3)
    x = torch.randn(1, 3, 1, 1, 1)
    with varlen.layouts_context([ClipLayout.packing(torch.tensor([1]))]):
        y = bn(x)
    assert y.abs().max() < 1e-3  # (x - mean) = 0 up to rounding, as the padded path gives


def test_varlen_batchnorm_eval_and_outside_context_equal_batchnorm():
    x = padded_clips(c=5) * 2
    ours, ref = VarLenBatchNorm3d(5), nn.BatchNorm3d(5)
    ours.running_mean.uniform_()
    ours.running_var.uniform_(0.5, 2.0)
    ref.load_state_dict(ours.state_dict())
    assert torch.allclose(ours(x), ref(x))  # no context: plain BatchNorm3d (train)
    ours.eval()
    ref.eval()
    with varlen.lengths_context([x], LENGTHS[:, None]):
        y = ours(x)
    assert torch.allclose(y, varlen.zero_padding(ref(x), LENGTHS))


def test_varlen_batchnorm_gradient_flows_through_valid_frames_only():
    x = padded_clips(c=2).requires_grad_()
    bn = VarLenBatchNorm3d(2)
    with varlen.lengths_context([x], LENGTHS[:, None]):
        F.relu(bn(x)).pow(2).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert torch.equal(x.grad, varlen.zero_padding(x.grad, LENGTHS))


def test_mixed_precision_input_keeps_its_dtype_and_float_parameter_gradients():
    x = padded_clips(c=2).to(torch.bfloat16).requires_grad_()
    bn = VarLenBatchNorm3d(2)
    with varlen.lengths_context([x], LENGTHS[:, None]):
        y = bn(x)
    assert y.dtype == torch.bfloat16
    y.float().sum().backward()
    assert x.grad.dtype == torch.bfloat16 and bn.weight.grad.dtype == torch.float32


@pytest.mark.parametrize("module", ["varlen", "sub_batch"])
def test_fused_batchnorm_keeps_only_its_input_for_backward(module):
    """Memory-lean: what autograd saves is the input plus [C, G]-sized statistics, not the
    centred or normalised copies an elementwise formulation keeps."""
    from slowfast_atfr.models.norm_helper import SubBatchNorm3d

    bn = VarLenBatchNorm3d(8) if module == "varlen" else SubBatchNorm3d(num_splits=2,
                                                                       num_features=8)
    x = padded_clips(c=8, hw=8).requires_grad_()
    saved = []

    def pack(tensor):
        saved.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        with varlen.lengths_context([x], LENGTHS[:, None]):
            bn(x)
    assert max(saved) == x.numel()
    assert sum(saved) < 1.1 * x.numel(), saved


def test_combined_moments_are_those_of_the_union():
    """Chan's formula over unequal parts equals the moments computed on all values at once."""
    gen = torch.Generator().manual_seed(0)
    parts = [torch.randn(3, n, generator=gen, dtype=torch.float64) * (i + 1) + i
             for i, n in enumerate((5, 1, 9))]
    counts = torch.tensor([[float(p.shape[1])] for p in parts], dtype=torch.float64)  # [S, 1]
    means = torch.stack([p.mean(1) for p in parts])  # [S, C]
    m2s = torch.stack([(p - p.mean(1, keepdim=True)).pow(2).sum(1) for p in parts])
    count, mean, m2 = varlen.combine_moments(counts, means, m2s)
    union = torch.cat(parts, dim=1)
    assert count.tolist() == [15.0]
    torch.testing.assert_close(mean, union.mean(1))
    torch.testing.assert_close(m2 / count, union.var(1, correction=0))
