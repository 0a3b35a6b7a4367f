"""BatchNorm layouts: sub-batch BN state <-> the plain layout checkpoints hold.

The models' SubBatchNorm3d (BN.NORM_TYPE sub_batchnorm, used by multigrid) keeps its
statistics in `bn` and `split_bn` (PySlowFast's names). Checkpoints are written in the plain
BatchNorm layout, so a checkpoint moves between BN types (multigrid phases, testing).
"""

from typing import Dict, Iterable, List

import torch
import torch.nn as nn

from slowfast_atfr.utils import distributed as du

_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")
_SPLIT = "split_bn.running_mean"

State = Dict[str, torch.Tensor]


def aggregate_sub_bn_stats(model: nn.Module) -> int:
    """Fold the sub-batch statistics into each SubBatchNorm3d's `bn` (before eval/save)."""
    count = 0
    for module in du.unwrap_model(model).modules():
        if hasattr(module, "aggregate_stats") and hasattr(module, "split_bn"):
            module.aggregate_stats()
            count += 1
    return count


def freeze_bn_statistics(model: nn.Module) -> int:
    """MODEL.FROZEN_BN: put every BatchNorm (SubBatchNorm3d included) in eval mode, so that
    training normalises with the running statistics and leaves them unchanged; the affine
    weights still train. Returns how many layers were frozen."""
    count = 0
    for module in du.unwrap_model(model).modules():
        if isinstance(module, nn.modules.batchnorm._NormBase) or hasattr(module, "split_bn"):
            module.eval()
            count += 1
    return count


def _sub_bn_prefixes(keys: Iterable[str]) -> List[str]:
    return [k[: -len(_SPLIT)] for k in keys if k.endswith(_SPLIT)]


def to_normal_bn_state(state: State) -> State:
    """State dict with every sub-batch BN in the plain BatchNorm layout (`bn.*` -> `*`)."""
    out = dict(state)
    for prefix in _sub_bn_prefixes(state):
        for buf in _BUFFERS:
            out.pop(prefix + "split_bn." + buf, None)
            if prefix + "bn." + buf in out:
                out[prefix + buf] = out.pop(prefix + "bn." + buf)
    return out


def to_model_bn_state(state: State, model: nn.Module) -> State:
    """State dict in the plain layout, rewritten for the sub-batch BNs `model` has."""
    out = dict(to_normal_bn_state(state))
    model_state = du.unwrap_model(model).state_dict()
    for prefix in _sub_bn_prefixes(model_state):
        for buf in _BUFFERS:
            if prefix + buf not in out:
                continue
            value = out.pop(prefix + buf)
            out[prefix + "bn." + buf] = value
            split = model_state[prefix + "split_bn." + buf]
            repeats = max(split.numel() // max(value.numel(), 1), 1)
            out[prefix + "split_bn." + buf] = value.repeat(repeats) if value.dim() else value
    return out


def plain_bn_state(model: nn.Module) -> State:
    """What a checkpoint saves of `model` (plain or DDP-wrapped): its state in the plain
    BatchNorm layout, sub-batch statistics folded in first."""
    inner = du.unwrap_model(model)
    aggregate_sub_bn_stats(inner)
    return to_normal_bn_state(inner.state_dict())
