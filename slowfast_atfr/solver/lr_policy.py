"""Learning rate as a function of the fractional epoch (set every iteration)."""

import bisect
import math
from typing import Callable, Dict

from fvcore.common.config import CfgNode

from slowfast_atfr.config.choices import LR_POLICIES


def _cosine(cfg: CfgNode, epoch: float) -> float:
    """Half-period cosine from BASE_LR to COSINE_END_LR at MAX_EPOCH; it starts at epoch 0,
    or at the end of the warm-up with SOLVER.COSINE_AFTER_WARMUP (the peak follows it)."""
    base, end = cfg.SOLVER.BASE_LR, cfg.SOLVER.COSINE_END_LR
    start = cfg.SOLVER.WARMUP_EPOCHS if cfg.SOLVER.COSINE_AFTER_WARMUP else 0.0
    span = cfg.SOLVER.MAX_EPOCH - start
    progress = (epoch - start) / span if span > 0 else 1.0
    return end + (base - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


def _steps_with_relative_lrs(cfg: CfgNode, epoch: float) -> float:
    """BASE_LR * LRS[i] where STEPS[i] is the last step <= epoch (STEPS[0] is usually 0).

    As in PySlowFast, LRS may list more values than STEPS; those are never reached.
    """
    steps, lrs = list(cfg.SOLVER.STEPS), list(cfg.SOLVER.LRS)
    if not steps or len(lrs) < len(steps):
        raise ValueError(
            f"SOLVER.STEPS={steps} and SOLVER.LRS={lrs} must be non-empty, with at least one "
            "relative lr per step."
        )
    index = max(bisect.bisect_right(steps, epoch) - 1, 0)
    return cfg.SOLVER.BASE_LR * lrs[index]


def _constant(cfg: CfgNode, epoch: float) -> float:
    return cfg.SOLVER.BASE_LR


# One per name of LR_POLICIES (tests/config/test_choices.py).
_POLICIES: Dict[str, Callable[[CfgNode, float], float]] = {
    "cosine": _cosine,
    "steps_with_relative_lrs": _steps_with_relative_lrs,
    "constant": _constant,
}


def get_lr_at_epoch(cfg: CfgNode, epoch: float) -> float:
    """Learning rate at fractional `epoch`, with a linear warm-up over WARMUP_EPOCHS.

    The warm-up goes from SOLVER.WARMUP_START_LR to the policy's value at the end of
    the warm-up, so the curve is continuous.
    """
    policy = cfg.SOLVER.LR_POLICY
    if policy not in _POLICIES:
        raise ValueError(
            f"SOLVER.LR_POLICY={policy!r} is not valid; expected one of {list(LR_POLICIES)}."
        )
    fn = _POLICIES[policy]
    warmup = cfg.SOLVER.WARMUP_EPOCHS
    if epoch < warmup:
        start, end = cfg.SOLVER.WARMUP_START_LR, fn(cfg, warmup)
        return start + (end - start) * epoch / warmup
    return fn(cfg, epoch)
