"""TEMPORAL_SAMPLER_REGISTRY: the slot a config fills with SGS or a baseline."""

from typing import NamedTuple

import torch
from fvcore.common.config import CfgNode
from torch import nn

from slowfast_atfr.utils.registry import Registry


class SamplerOutput(NamedTuple):
    """What a temporal sampler's forward returns: values, so no sampler keeps per-batch state.

    `out: [N, C, T', H, W]` (zero beyond each sample's length), `lengths: int64 [N]` and
    `block_lengths: int64 [N, blocks]`, the lengths per temporal block (their row sums are
    `lengths`; `[N, 1]` for a sampler without blocks).
    """

    out: torch.Tensor
    lengths: torch.Tensor
    block_lengths: torch.Tensor

    @classmethod
    def whole_clip(cls, out: torch.Tensor, lengths: torch.Tensor) -> "SamplerOutput":
        """The output of a sampler without blocks: the whole clip is one block."""
        return cls(out, lengths, lengths[:, None])


TEMPORAL_SAMPLER_REGISTRY = Registry("TEMPORAL_SAMPLER")
TEMPORAL_SAMPLER_REGISTRY.__doc__ = """
Registry of temporal samplers (SGS, TemporalAttention).

A registered class is built as `cls(dim_in=C, num_bins_train=B, num_bins_test=B_test,
block_length=K, embed_dim=L, kernel=..., measure=..., multi_bins=..., similarity_net=...,
similarity_input_grad=...)`
and its forward maps `x: [N, C, T, H, W]` to a `SamplerOutput(out: [N, C, T', H, W],
lengths: int64 [N], block_lengths: int64 [N, blocks])`, where `out[i, :, lengths[i]:]` is
zero and `block_lengths` holds the lengths per temporal block (`[N, 1]` without blocks).
"""


def build_sampler(cfg: CfgNode, pathway: int, dim_in: int) -> nn.Module:
    """Build the temporal sampler of pathway `pathway` (input channels `dim_in`) from ATFR.*.

    ATFR.NUM_BINS_TEST = -1 means "as ATFR.NUM_BINS_TRAIN" (whose -1 means T).
    """
    atfr = cfg.ATFR
    name = atfr.SAMPLER
    if name not in TEMPORAL_SAMPLER_REGISTRY:
        raise KeyError(
            f"ATFR.SAMPLER={name!r} is not registered; "
            f"choose one of {sorted(k for k, _ in TEMPORAL_SAMPLER_REGISTRY)}."
        )
    keys = ("NUM_BINS_TRAIN", "NUM_BINS_TEST", "BLOCK_LENGTH")
    if not all(0 <= pathway < len(atfr[key]) for key in keys):
        raise ValueError(
            f"pathway={pathway} has no entry in ATFR.NUM_BINS_TRAIN={list(atfr.NUM_BINS_TRAIN)}, "
            f"ATFR.NUM_BINS_TEST={list(atfr.NUM_BINS_TEST)} or "
            f"ATFR.BLOCK_LENGTH={list(atfr.BLOCK_LENGTH)}."
        )
    num_bins_train = atfr.NUM_BINS_TRAIN[pathway]
    num_bins_test = atfr.NUM_BINS_TEST[pathway]
    sampler = TEMPORAL_SAMPLER_REGISTRY.get(name)(
        dim_in=dim_in,
        num_bins_train=num_bins_train,
        num_bins_test=num_bins_train if num_bins_test == -1 else num_bins_test,
        block_length=atfr.BLOCK_LENGTH[pathway],
        embed_dim=atfr.EMBED_DIM,
        kernel=atfr.KERNEL,
        measure=atfr.MEASURE,
        multi_bins=tuple(atfr.MULTI_BINS),
        similarity_net=atfr.SIMILARITY_NET,
        similarity_input_grad=atfr.SIMILARITY_INPUT_GRAD,
    )
    if not isinstance(sampler, nn.Module):
        raise TypeError(f"TEMPORAL_SAMPLER_REGISTRY[{name!r}] returned {type(sampler)}.")
    return sampler
