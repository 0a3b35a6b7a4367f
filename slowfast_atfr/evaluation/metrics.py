"""Top-k correctness of logits against integer labels; paired comparison of two models."""

from typing import Any, Dict, List, Sequence

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
    """Top-k error in percent for each k (100 - accuracy); NaN for no sample."""
    return [100.0 - acc for acc in topk_accuracies(preds, labels, ks)]


def topk_accuracies(preds: torch.Tensor, labels: torch.Tensor, ks: Sequence[int]) -> List[float]:
    """Top-k accuracy in percent for each k; NaN for no sample (nothing was measured)."""
    n = preds.shape[0]
    return [100.0 * c / n if n else float("nan") for c in topks_correct(preds, labels, ks)]


def paired_top1_gap(probs_a: torch.Tensor, probs_b: torch.Tensor, labels: torch.Tensor, *,
                    resamples: int = 10000, level: float = 0.95,
                    seed: int = 0) -> Dict[str, Any]:
    """Top-1 of model b minus top-1 of model a on the same videos, with a bootstrap interval.

    Resampling videos, with both models' results for a video kept together, keeps the
    correlation between the models: the interval is much tighter than two separate ones. On a
    few dozen test videos it shows how far a top-1 difference can be trusted. Given the
    scores of S pairs of models (e.g. one pair per training seed) on the same videos, the
    difference is their mean, and a resampled video brings its result in every pair along.

    Args:
        probs_a, probs_b: scores [V, K] of the two models for the same V videos, same order;
            or [S, V, K] for S pairs of models.
        labels: class indices [V].
        resamples: bootstrap resamples.
        level: coverage of the percentile interval.
        seed: seed of the resampling.

    Returns:
        {"gap", "low", "high"} in percentage points, "videos" V, "pairs" S and "resolution"
        (the points one video of one pair is worth).
    """
    videos = labels.shape[0]
    if (probs_a.shape != probs_b.shape or probs_a.dim() not in (2, 3)
            or probs_a.shape[-2] != videos or videos == 0):
        raise ValueError(f"Need scores of both models for the same videos: probs_a "
                         f"{tuple(probs_a.shape)}, probs_b {tuple(probs_b.shape)}, labels "
                         f"{tuple(labels.shape)}.")
    if not 0 < level < 1:
        raise ValueError(f"level={level} must be in (0, 1).")
    pairs = 1 if probs_a.dim() == 2 else probs_a.shape[0]
    correct_a = (probs_a.argmax(-1) == labels).double().reshape(pairs, videos)
    correct_b = (probs_b.argmax(-1) == labels).double().reshape(pairs, videos)
    diff = 100.0 * (correct_b - correct_a).mean(0)  # [V]: mean over the pairs
    gen = torch.Generator().manual_seed(seed)
    means = diff[torch.randint(videos, (resamples, videos), generator=gen)].mean(dim=1)
    tail = (1.0 - level) / 2
    low, high = torch.quantile(means, torch.tensor([tail, 1.0 - tail], dtype=means.dtype))
    return {"gap": float(diff.mean()), "low": float(low), "high": float(high),
            "videos": videos, "pairs": pairs, "resolution": 100.0 / (videos * pairs)}
