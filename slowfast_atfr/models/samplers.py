"""TEMPORAL_SAMPLER_REGISTRY: the slot a config fills with SGS or a baseline."""

from fvcore.common.config import CfgNode
from fvcore.common.registry import Registry
from torch import nn

TEMPORAL_SAMPLER_REGISTRY = Registry("TEMPORAL_SAMPLER")
TEMPORAL_SAMPLER_REGISTRY.__doc__ = """
Registry of temporal samplers (SGS, TemporalAttention).

A registered class is built as `cls(dim_in=C, num_bins_train=B, num_bins_test=B_test,
block_length=K, embed_dim=L, kernel=..., measure=..., multi_bins=..., similarity_net=...,
similarity_input_grad=...)`
and its forward maps `x: [N, C, T, H, W]` to `(out: [N, C, T', H, W], lengths: int64 [N])`,
where `out[i, :, lengths[i]:]` is zero.
"""


def build_sampler(cfg: CfgNode, pathway: int, dim_in: int) -> nn.Module:
    """Build the temporal sampler of pathway `pathway` (input channels `dim_in`) from ATFR.*.

    ATFR.NUM_BINS_TEST = -1 means "as ATFR.NUM_BINS_TRAIN" (whose -1 means T).
    """
    # Importing the sampler modules registers them.
    from slowfast_atfr.models import sgs, temporal_attention  # noqa: F401

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
