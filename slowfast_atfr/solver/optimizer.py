"""Optimizer over PySlowFast's parameter groups (normalisation, others, no decay)."""

from typing import List

import torch
from fvcore.common.config import CfgNode

from slowfast_atfr.config.choices import OPTIMIZING_METHODS
from slowfast_atfr.models.norm_helper import SubBatchNorm3d
from slowfast_atfr.solver import lr_policy


def param_groups(model: torch.nn.Module, cfg: CfgNode) -> List[dict]:
    """PySlowFast's parameter groups, in its order and with its keys, empty ones left out.

    1. parameters of BatchNorm layers: BN.WEIGHT_DECAY;
    2. all others: SOLVER.WEIGHT_DECAY;
    3. with SOLVER.ZERO_WD_1D_PARAM, the 1-D parameters and biases of 2.: no weight decay.
    Parameters come in `modules` order, so that an optimizer state saved by PySlowFast for
    the same model resumes here and ours resumes there. One decision differs: the affine
    weight and bias that SubBatchNorm3d holds itself are BatchNorm parameters here (group 2
    upstream), so that multigrid's switches between BN layouts keep every parameter's
    optimizer state; an upstream sub_batchnorm run's optimizer state is refused here
    (`load_optimizer_state`), its weights load.
    """
    norm, other, zero, seen = [], [], [], set()
    for module in model.modules():
        is_norm = isinstance(module, (torch.nn.modules.batchnorm._NormBase, SubBatchNorm3d))
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            if is_norm:
                norm.append(param)
            elif cfg.SOLVER.ZERO_WD_1D_PARAM and (param.ndim == 1 or name == "bias"):
                zero.append(param)
            else:
                other.append(param)
    groups = [
        {"params": norm, "weight_decay": cfg.BN.WEIGHT_DECAY},
        {"params": other, "weight_decay": cfg.SOLVER.WEIGHT_DECAY},
        {"params": zero, "weight_decay": 0.0},
    ]
    # PySlowFast's set_lr multiplies by "layer_decay"; "apply_LARS" is read by its LARS.
    return [{**g, "layer_decay": 1.0, "apply_LARS": False} for g in groups if g["params"]]


def construct_optimizer(model: torch.nn.Module, cfg: CfgNode) -> torch.optim.Optimizer:
    """Build SOLVER.OPTIMIZING_METHOD over `param_groups`.

    The learning rate is set every iteration by `set_lr`; BASE_LR is only the start value.
    """
    groups = param_groups(model, cfg)
    method = cfg.SOLVER.OPTIMIZING_METHOD
    lr = cfg.SOLVER.BASE_LR
    if method == "sgd":
        return _fused_if_available(
            torch.optim.SGD, groups, lr=lr, momentum=cfg.SOLVER.MOMENTUM,
            dampening=cfg.SOLVER.DAMPENING, nesterov=cfg.SOLVER.NESTEROV,
        )
    betas = tuple(cfg.SOLVER.BETAS)
    if method == "adam":
        return _fused_if_available(torch.optim.Adam, groups, lr=lr, betas=betas)
    if method == "adamw":
        return _fused_if_available(torch.optim.AdamW, groups, lr=lr, betas=betas)
    raise ValueError(
        f"SOLVER.OPTIMIZING_METHOD={method!r} is not valid; expected one of "
        f"{list(OPTIMIZING_METHODS)}."
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
    """Learning rate at fractional `epoch` (see `slowfast_atfr.solver.lr_policy`)."""
    return lr_policy.get_lr_at_epoch(cfg, epoch)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set the learning rate of every parameter group."""
    for group in optimizer.param_groups:
        group["lr"] = lr
