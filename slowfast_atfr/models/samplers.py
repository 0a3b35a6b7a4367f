"""TEMPORAL_SAMPLER_REGISTRY: the slot a config fills with SGS or a baseline."""

from fvcore.common.registry import Registry

TEMPORAL_SAMPLER_REGISTRY = Registry("TEMPORAL_SAMPLER")
TEMPORAL_SAMPLER_REGISTRY.__doc__ = """
Registry of temporal samplers (SGS, TemporalAttention).

A registered class is built as `cls(dim_in=C, num_bins_train=B, num_bins_test=B_test,
block_length=K, embed_dim=L, kernel=..., measure=..., multi_bins=..., similarity_net=...)`
and its forward maps `x: [N, C, T, H, W]` to `(out: [N, C, T', H, W], lengths: int64 [N])`,
where `out[i, :, lengths[i]:]` is zero.
"""
