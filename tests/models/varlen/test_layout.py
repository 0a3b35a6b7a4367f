"""varlen/layout.py: where clips' frames sit, and moving them between layouts."""

import pytest
import torch
import torch.nn as nn
from clips import LENGTHS

from slowfast_atfr.models import varlen
from slowfast_atfr.models.varlen import ClipLayout


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


def test_frame_clip_of_both_layouts():
    padded = ClipLayout.padded(torch.tensor([2, 3]), 4)
    assert padded.frame_clip().tolist() == [0, 0, -1, -1, 1, 1, 1, -1]
    packed = ClipLayout.packing(torch.tensor([2, 3, 1]))
    assert packed.size == 6 and packed.num_clips == 3
    assert packed.frame_clip().tolist() == [0, 0, 1, 1, 1, 2]


def test_pack_unpack_and_repack():
    x = varlen.zero_padding(torch.randn(4, 2, 6, 3, 3), LENGTHS)
    layout = ClipLayout.packing(LENGTHS)
    packed = varlen.pack(x, layout)
    assert packed.shape == (1, 2, 16, 3, 3)
    assert torch.equal(packed[:, :, 3:9], x[1:2, :, :6])
    assert torch.equal(varlen.unpack(packed, layout, 6), x)
    assert varlen.unpack(packed, layout, 7).shape == (4, 2, 7, 3, 3)
    longer = varlen.repack(packed, layout, [4, 6, 2, 6])
    assert longer.shape[2] == 18
    assert torch.equal(longer[:, :, :3], packed[:, :, :3]) and not longer[:, :, 3].any()
    assert varlen.repack(packed, layout, LENGTHS.tolist()) is packed
