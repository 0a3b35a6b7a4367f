"""varlen/ops.py: per-clip pooling and values, SlowFast fusion, packed temporal convolution."""

import torch
import torch.nn as nn
from clips import LENGTHS, padded_clips

from slowfast_atfr.models import varlen
from slowfast_atfr.models.operators import drop_path
from slowfast_atfr.models.varlen import ClipLayout


def test_masked_mean_averages_valid_frames_only_in_both_layouts():
    x = padded_clips() + 1.0  # non-zero padding: masked_mean must ignore it
    expected = torch.stack([x[i, :, :n].mean(dim=(1, 2, 3)) for i, n in enumerate(LENGTHS)])
    with varlen.lengths_context([x], LENGTHS[:, None]):
        padded = varlen.masked_mean(x)
        assert varlen.active_lengths(1).tolist() == [1, 1, 1, 1]  # one frame per clip after
    layout = ClipLayout.packing(LENGTHS)
    with varlen.layouts_context([layout]):
        packed = varlen.masked_mean(varlen.pack(x, layout))
    for got in (padded, packed):
        assert got.shape == (4, 3, 1, 1, 1)
        torch.testing.assert_close(got.flatten(1), expected)
    torch.testing.assert_close(varlen.masked_mean(x), x.mean(dim=(2, 3, 4), keepdim=True))


def test_broadcast_per_clip_gives_each_packed_frame_its_clips_value():
    layout = ClipLayout.packing(LENGTHS)
    x = torch.zeros(1, 2, 16, 1, 1)
    values = torch.arange(8.0).view(4, 2, 1, 1, 1)
    with varlen.layouts_context([layout]):
        assert varlen.num_clips(x) == 4
        spread = varlen.broadcast_per_clip(values, x)
    assert spread.shape == (1, 2, 16, 1, 1)
    assert spread[0, 1, :, 0, 0].tolist() == [1.0] * 3 + [3.0] * 6 + [5.0] + [7.0] * 6
    assert varlen.broadcast_per_clip(values, x) is values  # outside a context
    assert varlen.num_clips(x) == 1


def test_drop_path_drops_the_same_clips_packed_and_padded():
    x = padded_clips() + 1.0
    layout = ClipLayout.packing(LENGTHS)
    torch.manual_seed(3)
    padded = drop_path(x, 0.5)
    torch.manual_seed(3)
    with varlen.layouts_context([layout]):
        packed = drop_path(varlen.pack(x, layout), 0.5)
    assert torch.equal(packed, varlen.pack(padded, layout))
    kept = [bool(padded[i].any()) for i in range(4)]
    assert True in kept and False in kept  # seed 3 keeps some clips and drops others


def _padded_concat_inputs():
    slow = padded_clips(torch.tensor([2, 4]), c=3, t=4)
    fused = padded_clips(torch.tensor([3, 1]), c=2, t=3)
    return slow, fused


def test_concat_padded_pads_the_shorter_and_takes_the_max_length():
    slow, fused = _padded_concat_inputs()
    lengths = torch.tensor([[2, 6], [4, 2]])
    fast = torch.zeros(2, 1, 6, 4, 4)
    with varlen.lengths_context([slow, fast], lengths):
        varlen.add_layout(ClipLayout.padded(torch.tensor([3, 1]), 3), pathway=1)
        out = varlen.concat_padded(slow, fused)
        new = varlen.active_lengths(4)
    assert out.shape == (2, 5, 4, 4, 4)
    assert new.tolist() == [3, 4]
    assert torch.equal(out[:, :3], slow)
    assert torch.equal(out[:, 3:, :3], fused) and not out[:, 3:, 3:].any()
    assert varlen.concat_padded(fused, slow).shape == (2, 5, 4, 4, 4)  # no context: pads


def test_concat_padded_of_packed_clips_equals_the_padded_result():
    slow, fused = _padded_concat_inputs()
    s_layout, f_layout = ClipLayout.packing(torch.tensor([2, 4])), ClipLayout.packing(
        torch.tensor([3, 1]))
    with varlen.layouts_context([s_layout, f_layout]):
        out = varlen.concat_padded(varlen.pack(slow, s_layout), varlen.pack(fused, f_layout))
        layout = varlen.active_layout(out.shape[2])
    assert layout.packed and layout.lengths.tolist() == [3, 4]
    expected = torch.cat([slow, nn.functional.pad(fused, (0, 0, 0, 0, 0, 1))], dim=1)
    assert torch.equal(out, varlen.pack(expected, layout))


