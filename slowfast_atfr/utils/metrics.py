"""Top-k correctness of logits against integer labels."""

from typing import List, Sequence

import torch


def topks_correct(preds: torch.Tensor, labels: torch.Tensor, ks: Sequence[int]) -> List[int]:
    """Number of samples whose label is among the top-k predictions, for each k.

    Args:
        preds: scores [N, K] (logits or probabilities).
        labels: class indices [N].
        ks: the k values; each is clipped to K.
    """
    if preds.shape[0] != labels.shape[0]:
        raise ValueError(f"preds has {preds.shape[0]} rows but labels has {labels.shape[0]}.")
    max_k = min(max(ks), preds.shape[1])
    top = preds.topk(max_k, dim=1, largest=True, sorted=True).indices  # [N, max_k]
    hit = top == labels.view(-1, 1)
    return [int(hit[:, : min(k, max_k)].any(dim=1).sum().item()) for k in ks]


def topk_errors(preds: torch.Tensor, labels: torch.Tensor, ks: Sequence[int]) -> List[float]:
    """Top-k error in percent for each k (100 - accuracy); 0 for an empty batch."""
    n = max(preds.shape[0], 1)
    return [100.0 * (1.0 - c / n) if preds.shape[0] else 0.0
            for c in topks_correct(preds, labels, ks)]


def topk_accuracies(preds: torch.Tensor, labels: torch.Tensor, ks: Sequence[int]) -> List[float]:
    """Top-k accuracy in percent for each k."""
    n = max(preds.shape[0], 1)
    return [100.0 * c / n for c in topks_correct(preds, labels, ks)]
