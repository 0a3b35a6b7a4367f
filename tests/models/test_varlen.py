"""Unit tests of every helper in slowfast_atfr/models/varlen.py."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from slowfast_atfr.models import varlen
from slowfast_atfr.models.varlen import VarLenBatchNorm3d

LENGTHS = torch.tensor([3, 6, 1, 6])


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def _padded(lengths=LENGTHS, c=3, t=6, hw=4):
    x = torch.randn(len(lengths), c, t, hw, hw)
    return varlen.zero_padding(x, lengths)


def test_valid_mask_and_zero_padding():
    mask = varlen.valid_mask(LENGTHS, 6)
    assert mask.tolist()[0] == [True] * 3 + [False] * 3
    assert mask.sum(dim=1).tolist() == LENGTHS.tolist()
    x = torch.randn(4, 2, 6, 3, 3)
    z = varlen.zero_padding(x, LENGTHS)
    for i, length in enumerate(LENGTHS.tolist()):
        assert torch.equal(z[i, :, :length], x[i, :, :length])
        assert not z[i, :, length:].any()
    assert varlen.zero_padding(x, None) is x


@pytest.mark.parametrize("kernel,stride,padding,ceil_mode", [
    (3, 2, 1, False), (5, 1, 2, False), (2, 2, 0, False), (1, 2, 0, False), (3, 1, 0, False),
    (3, 2, 0, True), (2, 2, 0, True),
])
def test_resampled_lengths_match_real_layers(kernel, stride, padding, ceil_mode):
    pool = nn.MaxPool1d(kernel, stride, padding, ceil_mode=ceil_mode)
    for length in range(kernel, 12):
        expected = pool(torch.zeros(1, 1, length)).shape[-1]
        got = varlen.resampled_lengths(torch.tensor([length]), kernel, stride, padding,
                                       ceil_mode=ceil_mode)
        assert got.item() == expected, (length, got.item(), expected)


def test_dilated_resampled_lengths_match_conv():
    conv = nn.Conv1d(1, 1, 3, stride=2, padding=2, dilation=2)
    for length in range(1, 10):
        expected = conv(torch.zeros(1, 1, length)).shape[-1]
        assert varlen.resampled_lengths(torch.tensor([length]), 3, 2, 2, 2).item() == expected


class _TwoPathways(nn.Module):
    """pathway{p}_* children run with their pathway's lengths (scopes from install_hooks)."""

    def __init__(self):
        super().__init__()
        self.pathway0_conv = nn.Conv3d(2, 2, (3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))
        self.pathway1_pool = nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1))

    def forward(self, xs):
        return [self.pathway0_conv(xs[0]), self.pathway1_pool(xs[1])]


def test_hooks_track_lengths_per_pathway_and_match_lone_clips():
    model = _TwoPathways()
    varlen.install_hooks(model)
    lengths = torch.tensor([[3, 6], [5, 2], [1, 5]])
    xs = [_padded(lengths[:, 0], c=2, t=5), _padded(lengths[:, 1], c=2, t=6)]
    with varlen.lengths_context(xs, lengths):
        outs = model(xs)
        with varlen.pathway_scope(0):
            got0 = varlen.active_lengths(outs[0].shape[2])
        with varlen.pathway_scope(1):
            got1 = varlen.active_lengths(outs[1].shape[2])
    assert got0.tolist() == varlen.resampled_lengths(lengths[:, 0], 3, 2, 1).tolist()
    assert got1.tolist() == varlen.resampled_lengths(lengths[:, 1], 2, 2, 0).tolist()
    for i in range(3):
        lone = model([x[i:i + 1, :, :n] for x, n in zip(xs, lengths[i].tolist())])
        for p, (out, new) in enumerate(zip(outs, (got0, got1))):
            n = new[i].item()
            assert torch.allclose(out[i:i + 1, :, :n], lone[p], atol=1e-6)


def test_contexts_restore_state_and_reject_bad_lengths():
    x = _padded()
    assert varlen.active_lengths(6) is None
    with pytest.raises(ValueError, match=r"\[N, 1\]"):
        with varlen.lengths_context([x], LENGTHS):
            pass
    with varlen.lengths_context([x], LENGTHS[:, None]):
        assert torch.equal(varlen.active_lengths(6), LENGTHS)
        with pytest.raises(RuntimeError, match="note_resample"):
            varlen.active_lengths(5)
    assert varlen.active_lengths(6) is None


def test_masked_mean_averages_valid_frames_only():
    x = _padded() + 1.0  # non-zero padding: masked_mean must ignore it
    with varlen.lengths_context([x], LENGTHS[:, None]):
        got = varlen.masked_mean(x)
    for i, length in enumerate(LENGTHS.tolist()):
        expected = x[i, :, :length].mean(dim=(1, 2, 3))
        assert torch.allclose(got[i].flatten(), expected, atol=1e-6)
    assert torch.allclose(varlen.masked_mean(x), x.mean(dim=(2, 3, 4), keepdim=True))
    assert varlen.masked_mean(x).shape == (4, 3, 1, 1, 1)


def test_concat_padded_pads_the_shorter_and_takes_the_max_length():
    slow = _padded(torch.tensor([2, 4]), c=3, t=4)
    fused = _padded(torch.tensor([3, 1]), c=2, t=3)
    lengths = torch.tensor([[2, 6], [4, 2]])
    fast = torch.zeros(2, 1, 6, 4, 4)
    with varlen.lengths_context([slow, fast], lengths):
        varlen.set_lengths(1, 3, torch.tensor([3, 1]))
        out = varlen.concat_padded(slow, fused)
        new = varlen.active_lengths(4)
    assert out.shape == (2, 5, 4, 4, 4)
    assert new.tolist() == [3, 4]
    assert torch.equal(out[:, :3], slow)
    assert torch.equal(out[:, 3:, :3], fused) and not out[:, 3:, 3:].any()
    assert varlen.concat_padded(fused, slow).shape == (2, 5, 4, 4, 4)  # no context: pads


def test_run_grouped_trims_each_group_and_keeps_order():
    lengths = torch.tensor([[3, 6], [6, 6], [3, 6], [1, 2]])
    xs = [torch.arange(4.0).view(4, 1, 1, 1, 1).expand(4, 1, 6, 1, 1),
          torch.zeros(4, 1, 6, 1, 1)]
    seen = []

    def fn(group):
        seen.append(tuple(x.shape[2] for x in group))
        assert varlen.active_lengths(group[0].shape[2]) is None  # no masks in inference
        return torch.stack([group[0][:, 0, 0, 0, 0], torch.full((len(group[0]),),
                                                                float(group[0].shape[2]))], 1)

    out = varlen.run_grouped(fn, xs, lengths)
    assert out[:, 0].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert out[:, 1].tolist() == [3.0, 6.0, 3.0, 1.0]
    assert sorted(seen) == [(1, 2), (3, 6), (6, 6)]


def test_run_padded_runs_once_inside_a_context():
    x = _padded()
    calls = []

    def fn(xs):
        calls.append(varlen.active_lengths(xs[0].shape[2]))
        return xs[0].sum(dim=(1, 2, 3, 4))

    varlen.run_padded(fn, [x], LENGTHS[:, None])
    assert len(calls) == 1 and torch.equal(calls[0], LENGTHS)
    assert varlen.active_lengths(6) is None


def _valid_frames(x, lengths):
    """[1, C, sum(lengths), H, W]: the valid frames of every sample, concatenated in time."""
    return torch.cat([x[i:i + 1, :, :n] for i, n in enumerate(lengths.tolist())], dim=2)


def test_varlen_batchnorm_train_equals_batchnorm_on_valid_frames():
    x = _padded(c=5) * 3 + 1  # padding = 1: statistics must ignore it
    ours, ref = VarLenBatchNorm3d(5), nn.BatchNorm3d(5)
    for bn in (ours, ref):
        nn.init.uniform_(bn.weight)
        nn.init.uniform_(bn.bias)
    ref.load_state_dict(ours.state_dict())
    with varlen.lengths_context([x], LENGTHS[:, None]):
        y = ours(x)
    y_ref = ref(_valid_frames(x, LENGTHS))
    assert torch.allclose(_valid_frames(y, LENGTHS), y_ref, atol=1e-5)
    assert torch.equal(y, varlen.zero_padding(y, LENGTHS))  # padding stays zero
    for key in ("running_mean", "running_var", "num_batches_tracked"):
        assert torch.allclose(getattr(ours, key).float(), getattr(ref, key).float(),
                              atol=1e-6), key


def test_varlen_batchnorm_eval_and_outside_context_equal_batchnorm():
    x = _padded(c=5) * 2
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
    x = _padded(c=2).requires_grad_()
    bn = VarLenBatchNorm3d(2)
    with varlen.lengths_context([x], LENGTHS[:, None]):
        F.relu(bn(x)).pow(2).sum().backward()
    assert torch.isfinite(x.grad).all()
    assert torch.equal(x.grad, varlen.zero_padding(x.grad, LENGTHS))
