"""Small helpers of the train/test loops: epoch predicates, sizes, device moves."""

import math
from typing import Any, Dict, List, Sequence

import torch
from fvcore.common.config import CfgNode


def gpu_mem_usage() -> float:
    """Peak CUDA memory of this process in GiB (0 on CPU)."""
    if not torch.cuda.is_available():
        return 0.0
    return torch.cuda.max_memory_allocated() / 1024**3


def is_period_epoch(cur_epoch: int, period: int, max_epoch: int) -> bool:
    """True after 0-based epoch `cur_epoch` when it ends a period or is the last epoch."""
    if cur_epoch + 1 == max_epoch:
        return True
    return period > 0 and (cur_epoch + 1) % period == 0


def to_device(batch: Any, device: torch.device) -> Any:
    """Move tensors (also inside lists and dicts) to `device`; other values pass through."""
    non_blocking = device.type == "cuda"
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(b, device) for b in batch)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    return batch


def check_finite_loss(loss: torch.Tensor, epoch: int, iteration: int) -> None:
    """Raise RuntimeError naming the epoch, iteration and value when the loss is NaN/inf."""
    value = float(loss.detach().float().item())
    if not math.isfinite(value):
        raise RuntimeError(
            f"Training stopped: loss is {value} at epoch {epoch + 1}, iteration "
            f"{iteration + 1}. The last good checkpoint is kept; lower SOLVER.BASE_LR, "
            "set SOLVER.CLIP_GRAD_L2NORM, or check the data."
        )


# TRAIN.KILL_LOSS_EXPLOSION_FACTOR compares a loss with the mean of this many before it, in
# the same epoch (PySlowFast's window).
LOSS_EXPLOSION_WINDOW = 5


def check_loss_explosion(loss: float, previous: Sequence[float], factor: float, epoch: int,
                         iteration: int) -> None:
    """TRAIN.KILL_LOSS_EXPLOSION_FACTOR: raise RuntimeError when `loss` exceeds `factor` times
    the mean of the `previous` losses of the epoch (checked once the window is full; factor 0:
    never), before the step is applied."""
    if factor <= 0 or len(previous) < LOSS_EXPLOSION_WINDOW:
        return
    mean = sum(previous) / len(previous)
    if loss > factor * mean:
        raise RuntimeError(
            f"Training stopped: the loss exploded at epoch {epoch + 1}, iteration "
            f"{iteration + 1}: {loss:.4g} > TRAIN.KILL_LOSS_EXPLOSION_FACTOR={factor} x "
            f"{mean:.4g} (the mean of the {len(previous)} losses before it). The last "
            "checkpoint is kept; lower SOLVER.BASE_LR or set SOLVER.CLIP_GRAD_L2NORM, or raise "
            "the factor."
        )


def num_pathways(cfg: CfgNode) -> int:
    """Number of input pathways of the configured architecture."""
    return 2 if cfg.MODEL.ARCH in cfg.MODEL.MULTI_PATHWAY_ARCH else 1


def bad_videos_of(meta: Dict[str, Any]) -> List[str]:
    """The bad video paths a loader batch reports (empty when the data set has none)."""
    return list(meta.get("bad_videos", [])) if isinstance(meta, dict) else []


def spread_indices(count: int, total: int) -> List[int]:
    """`count` indices spread evenly over range(total), first and last included (all of them
    when total <= count). Integer arithmetic: a tie rounds up on every machine."""
    if total <= count:
        return list(range(total))
    if count == 1:
        return [0]
    return [(2 * i * (total - 1) + count - 1) // (2 * (count - 1)) for i in range(count)]
