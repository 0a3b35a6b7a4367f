"""Optimizer with separate weight decay for normalisation parameters."""

from typing import List, Tuple

import torch
from fvcore.common.config import CfgNode

from slowfast_atfr.utils import lr_policy

_METHODS = ("sgd", "adam", "adamw")


def _is_norm(module: torch.nn.Module) -> bool:
    """Normalisation layers, including the models' own (masked, sub-batch) norms."""
    norm_types = (torch.nn.modules.batchnorm._NormBase, torch.nn.GroupNorm, torch.nn.LayerNorm)
    return isinstance(module, norm_types) or "Norm" in type(module).__name__


def split_norm_params(
    model: torch.nn.Module,
) -> Tuple[List[torch.nn.Parameter], List[torch.nn.Parameter]]:
    """Trainable parameters split into (normalisation parameters, all others)."""
    norm, other, seen = [], [], set()
    for module in model.modules():
        is_norm = _is_norm(module)
        for param in module.parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            (norm if is_norm else other).append(param)
    return norm, other


def construct_optimizer(model: torch.nn.Module, cfg: CfgNode) -> torch.optim.Optimizer:
    """Build SOLVER.OPTIMIZING_METHOD over two groups: norms (BN.WEIGHT_DECAY) and the rest.

    The learning rate is set every iteration by `set_lr`; BASE_LR is only the start value.
    """
    norm, other = split_norm_params(model)
    groups = [
        {"params": other, "weight_decay": cfg.SOLVER.WEIGHT_DECAY},
        {"params": norm, "weight_decay": cfg.BN.WEIGHT_DECAY},
    ]
    groups = [g for g in groups if g["params"]]
    method = cfg.SOLVER.OPTIMIZING_METHOD
    lr = cfg.SOLVER.BASE_LR
    if method == "sgd":
        return _fused_if_available(
            torch.optim.SGD, groups, lr=lr, momentum=cfg.SOLVER.MOMENTUM,
            dampening=cfg.SOLVER.DAMPENING, nesterov=cfg.SOLVER.NESTEROV,
        )
    if method == "adam":
        return _fused_if_available(torch.optim.Adam, groups, lr=lr)
    if method == "adamw":
        return _fused_if_available(torch.optim.AdamW, groups, lr=lr)
    raise ValueError(
        f"SOLVER.OPTIMIZING_METHOD={method!r} is not valid; expected one of {list(_METHODS)}."
    )


def _fused_if_available(optimizer: type, groups: List[dict], **kwargs) -> torch.optim.Optimizer:
    """`optimizer` with PyTorch's fused kernel where this torch has one for the parameters'
    device (the same update in one pass: AdamW's step on CPU took 2.5 instead of 13 ms for the
    demo model), else its default implementation."""
    try:
        return optimizer(groups, fused=True, **kwargs)
    except (RuntimeError, TypeError, ValueError):
        return optimizer(groups, **kwargs)


def get_epoch_lr(cfg: CfgNode, epoch: float) -> float:
    """Learning rate at fractional `epoch` (see `slowfast_atfr.utils.lr_policy`)."""
    return lr_policy.get_lr_at_epoch(cfg, epoch)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr
