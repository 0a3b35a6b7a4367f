"""Small parameter-free operators shared by the blocks."""

import torch


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Stochastic depth: zero whole samples of a residual branch x [N, ...] in training.

    Kept samples are scaled by 1 / (1 - drop_prob) so the expectation is unchanged.
    """
    if drop_prob <= 0.0:
        return x
    keep = 1.0 - drop_prob
    mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)
    return x * mask.bernoulli_(keep) / keep
