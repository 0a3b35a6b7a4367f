"""Loss functions selected by MODEL.LOSS_FUNC."""

from typing import Callable, Dict

import torch
import torch.nn.functional as F


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross entropy against soft targets (mixup, label smoothing).

    Args:
        logits: [N, K].
        targets: [N, K] probabilities, or class indices [N].
    """
    if targets.dim() == 1:
        return F.cross_entropy(logits, targets)
    return torch.sum(-targets * F.log_softmax(logits, dim=-1), dim=-1).mean()


def _bce_logits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross entropy on logits for multi-label targets [N, K]."""
    return F.binary_cross_entropy_with_logits(logits, targets.float())


_LOSSES: Dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "cross_entropy": F.cross_entropy,
    "soft_cross_entropy": soft_cross_entropy,
    "bce_logit": _bce_logits,
}


def get_loss_func(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss `fn(logits [N, K], targets) -> scalar` named by MODEL.LOSS_FUNC."""
    if name not in _LOSSES:
        raise ValueError(f"MODEL.LOSS_FUNC={name!r} is not valid; expected one of "
                         f"{sorted(_LOSSES)}.")
    return _LOSSES[name]
