"""Small parameter-free operators shared by the blocks."""

import torch

from slowfast_atfr.models import varlen


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Stochastic depth: zero whole clips of a residual branch x [N, ...] in training.

    Kept clips are scaled by 1 / (1 - drop_prob) so the expectation is unchanged. A packed
    variable-length batch draws the same mask as the padded one (one value per clip).
    """
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    shape = (varlen.num_clips(x),) + (1,) * (x.dim() - 1)
    mask = torch.empty(shape, dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x * varlen.broadcast_per_clip(mask, x) / keep
