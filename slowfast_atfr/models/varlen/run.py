"""The three ways to run the layers after the sampler on clips of different lengths.

All three give every clip what it would get alone (tests/models/test_backbone_contract.py):
- `run_packed` (training; ATFR.EVAL_BATCHING packed): the valid frames of all clips of a
  pathway back to back in one tensor: compute and activation memory follow the sum of
  the lengths, BatchNorm statistics are batch-wide;
- `run_padded` (ATFR.TRAIN_BATCHING padded; ATFR.EVAL_BATCHING padded): one tensor padded
  to the longest clip, with masked statistics and pooling;
- `run_grouped` (eval, ATFR.EVAL_BATCHING grouped): one call per distinct length tuple, no
  padding, no masks.
"""

import threading
from contextlib import contextmanager
from typing import Callable, Iterator, List, Set, Tuple

import torch

from slowfast_atfr.models.varlen import context
from slowfast_atfr.models.varlen.layout import ClipLayout, pack
from slowfast_atfr.utils import logging

logger = logging.get_logger(__name__)

Fn = Callable[[List[torch.Tensor]], torch.Tensor]
# The sets of padded parts already logged by this process (one line per distinct set).
_LOGGED: Set[Tuple[tuple, ...]] = set()
_recorders = threading.local()


def run_grouped(fn: Fn, xs: List[torch.Tensor], lengths: torch.Tensor) -> torch.Tensor:
    """Run `fn` on groups of samples with equal lengths, each trimmed to its length.

    Args:
        fn: the layers after the sampler, mapping list[[n, C, T, H, W]] -> [n, ...].
        xs: one padded [N, C, T, H, W] tensor per pathway.
        lengths: int64 [N, P].
    Returns:
        fn's output for all N samples, in the input order.
    """
    keys, inverse = torch.unique(lengths, dim=0, return_inverse=True)
    order, outputs = [], []
    for group, key in enumerate(keys.tolist()):
        index = torch.nonzero(inverse == group).squeeze(1)
        trimmed = [x.index_select(0, index.to(x.device))[:, :, :size]
                   for x, size in zip(xs, key)]
        outputs.append(fn(trimmed))
        order.append(index)
    order = torch.cat(order).to(outputs[0].device)
    return torch.cat(outputs).index_select(0, torch.argsort(order))


def run_padded(fn: Fn, xs: List[torch.Tensor], lengths: torch.Tensor) -> torch.Tensor:
    """Run `fn` once on the padded batch with masked statistics and pooling."""
    with context.lengths_context(xs, lengths):
        return fn(xs)


def run_packed(fn: Fn, xs: List[torch.Tensor], lengths: torch.Tensor) -> torch.Tensor:
    """Run `fn` once on each pathway's clips packed back to back along time.

    Args:
        fn: the layers after the sampler (their hooks from `install_hooks`).
        xs: one padded [N, C, T, H, W] tensor per pathway (zero beyond each length).
        lengths: int64 [N, P].
    Returns:
        fn's output [N, ...], one row per clip.
    """
    if lengths.dim() != 2 or lengths.shape[1] != len(xs):
        raise ValueError(f"lengths must be [N, {len(xs)}]; got {tuple(lengths.shape)}.")
    layouts = [ClipLayout.packing(lengths[:, p]) for p in range(len(xs))]
    with context.layouts_context(layouts) as ctx:
        out = fn([pack(x, layout) for x, layout in zip(xs, layouts)])
    _log_padded_parts(ctx.padded_parts)
    for parts in getattr(_recorders, "stack", []):
        parts.extend(part for part in ctx.padded_parts if part not in parts)
    return out


@contextmanager
def recording_padded_parts() -> Iterator[List[Tuple[str, str]]]:
    """Collect the (layer name, reason) of every layer that packed runs inside the block ran
    padded (temporal strides, non-local attention)."""
    parts: List[Tuple[str, str]] = []
    stack = _recorders.__dict__.setdefault("stack", [])
    stack.append(parts)
    try:
        yield parts
    finally:
        stack.remove(parts)


# ATFR.TRAIN_BATCHING / EVAL_BATCHING values -> how the layers after the sampler run.
RUNS = {"packed": run_packed, "padded": run_padded, "grouped": run_grouped}


def _log_padded_parts(parts: List[tuple]) -> None:
    key = tuple(parts)
    if not parts or key in _LOGGED:
        return
    _LOGGED.add(key)
    stages: dict = {}
    for name, reason in parts:
        stages.setdefault(name.split(".")[0], []).append(f"{name} ({reason})")
    logger.info("Packed variable-length batches run these layers padded: %s.", "; ".join(
        f"{stage}: {', '.join(layers)}" for stage, layers in stages.items()))
