"""Padded clips of different lengths shared by the varlen tests."""

import torch

from slowfast_atfr.models import varlen

LENGTHS = torch.tensor([3, 6, 1, 6])


def padded_clips(lengths=LENGTHS, c=3, t=6, hw=4, dtype=torch.float32):
    """Random [N, C, T, hw, hw] clips, zero after each clip's length."""
    x = torch.randn(len(lengths), c, t, hw, hw, dtype=dtype)
    return varlen.zero_padding(x, lengths)
