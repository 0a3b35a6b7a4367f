"""varlen's contexts, hooks and the three ways to run clips of different lengths."""

import logging

import pytest
import torch
import torch.nn as nn
from clips import LENGTHS, padded_clips

from slowfast_atfr.models import varlen
from slowfast_atfr.models.nonlocal_helper import Nonlocal


class _TwoPathways(nn.Module):
    """pathway{p}_* children run with their pathway's lengths (scopes from install_hooks).

    A padded batch relies on BatchNorm to zero the padding again, so the temporal conv
    after the pool is only used on packed batches (which have no padding).
    """

    def __init__(self, conv_after_pool: bool):
        super().__init__()
        self.pathway0_conv = nn.Conv3d(2, 2, (3, 1, 1), stride=(2, 1, 1), padding=(1, 0, 0))
        self.pathway1_pool = nn.MaxPool3d((2, 1, 1), stride=(2, 1, 1))
        if conv_after_pool:
            self.pathway1_conv = nn.Conv3d(2, 2, (3, 3, 3), padding=(1, 1, 1))

    def forward(self, xs):
        fast = self.pathway1_pool(xs[1])
        if hasattr(self, "pathway1_conv"):
            fast = self.pathway1_conv(fast)
        return [self.pathway0_conv(xs[0]), fast]


def _two_pathway_case(conv_after_pool=False):
    model = _TwoPathways(conv_after_pool)
    varlen.install_hooks(model)
    lengths = torch.tensor([[3, 6], [5, 2], [1, 5]])
    xs = [padded_clips(lengths[:, 0], c=2, t=5), padded_clips(lengths[:, 1], c=2, t=6)]
    new = [varlen.resampled_lengths(lengths[:, 0], 3, 2, 1),
           varlen.resampled_lengths(lengths[:, 1], 2, 2, 0)]
    lone = [model([x[i:i + 1, :, :n] for x, n in zip(xs, lengths[i].tolist())])
            for i in range(3)]
    return model, xs, lengths, new, lone


def test_hooks_track_lengths_per_pathway_and_match_lone_clips():
    model, xs, lengths, new, lone = _two_pathway_case()
    with varlen.lengths_context(xs, lengths):
        outs = model(xs)
        got = []
        for p, out in enumerate(outs):
            with varlen.pathway_scope(p):
                got.append(varlen.active_lengths(out.shape[2]))
    assert [g.tolist() for g in got] == [n.tolist() for n in new]
    for i in range(3):
        for p in range(2):
            n = new[p][i].item()
            torch.testing.assert_close(outs[p][i:i + 1, :, :n], lone[i][p])


def test_packed_batches_run_strided_layers_padded_and_match_lone_clips(caplog):
    model, xs, lengths, new, lone = _two_pathway_case(conv_after_pool=True)
    layouts = [varlen.ClipLayout.packing(lengths[:, p]) for p in range(2)]
    with varlen.layouts_context(layouts) as ctx:
        outs = model([varlen.pack(x, layout) for x, layout in zip(xs, layouts)])
    for p in range(2):
        expected = torch.cat([lone[i][p] for i in range(3)], dim=2)
        torch.testing.assert_close(outs[p], expected)
    assert sorted(name for name, _ in ctx.padded_parts) == ["pathway0_conv", "pathway1_pool"]
    assert all("stride 2" in reason for _, reason in ctx.padded_parts)
    with caplog.at_level(logging.INFO, logger="slowfast_atfr.models.varlen.run"):
        for _ in range(2):
            varlen.run_packed(lambda ys: model(ys)[0].sum(dim=(1, 2, 3, 4)), xs, lengths)
    lines = [r.message for r in caplog.records if "run these layers padded" in r.message]
    assert len(lines) <= 1  # logged once per process (an earlier test may have logged it)


def test_nonlocal_attention_runs_padded_in_packed_batches():
    block = Nonlocal(dim=4, dim_inner=2, pool_size=[1, 2, 2], instantiation="softmax")
    block.eval()
    varlen.install_hooks(block)
    x = padded_clips(c=4)
    layout = varlen.ClipLayout.packing(LENGTHS)
    with varlen.layouts_context([layout]) as ctx:
        packed = block(varlen.pack(x, layout))
    alone = torch.cat([block(x[i:i + 1, :, :n]) for i, n in enumerate(LENGTHS.tolist())], 2)
    torch.testing.assert_close(packed, alone)
    assert ctx.padded_parts == [("", "non-local attention over a clip's frames")]


def test_contexts_restore_state_and_reject_bad_lengths():
    x = padded_clips()
    assert varlen.active_lengths(6) is None
    with pytest.raises(ValueError, match=r"\[N, 1\]"):
        with varlen.lengths_context([x], LENGTHS):
            pass
    with varlen.lengths_context([x], LENGTHS[:, None]):
        assert torch.equal(varlen.active_lengths(6), LENGTHS)
        with pytest.raises(RuntimeError, match="install_hooks"):
            varlen.active_lengths(5)
    assert varlen.active_lengths(6) is None
    with pytest.raises(ValueError, match=r"\[N, 1\]"):
        varlen.run_packed(lambda xs: xs[0], [x], LENGTHS)


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


@pytest.mark.parametrize("run", [varlen.run_padded, varlen.run_packed])
def test_padded_and_packed_runs_call_once_inside_a_context(run):
    x = padded_clips()
    calls = []

    def fn(xs):
        calls.append((xs[0].shape, varlen.active_layout(xs[0].shape[2])))
        return varlen.masked_mean(xs[0]).flatten(1)

    out = run(fn, [x], LENGTHS[:, None])
    assert len(calls) == 1 and torch.equal(calls[0][1].lengths, LENGTHS)
    assert calls[0][0][0] == (1 if run is varlen.run_packed else 4)
    expected = torch.stack([x[i, :, :n].mean(dim=(1, 2, 3)) for i, n in enumerate(LENGTHS)])
    torch.testing.assert_close(out, expected)
    assert varlen.active_lengths(6) is None
