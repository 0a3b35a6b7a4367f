"""Turn a checkpoint's state dict into the model's: Caffe2 names, DDP prefix, inflation.

Caffe2 model-zoo blobs (`res4_4_branch2c_bn_s`, `t_conv1_w`, `pred_w`, ...) are renamed to the
PySlowFast module tree (`s4.pathway0_res4.branch2.c_bn.weight`, `s1.pathway1_stem.conv.weight`,
`head.projection.weight`); a `t_` prefix marks the fast pathway (`pathway1`).
"""

import re
from typing import Optional, Sequence

import numpy as np
import torch

from slowfast_atfr.checkpoint.safe_pickle import NUMERIC_KINDS
from slowfast_atfr.utils import logging

logger = logging.get_logger(__name__)

# Caffe2 parameter suffix -> PyTorch attribute, for convolutions / linear layers and for BN.
_CONV_SUFFIX = {"w": "weight", "b": "bias"}
_BN_SUFFIX = {"s": "weight", "b": "bias", "rm": "running_mean", "riv": "running_var"}
_SUFFIX = r"(?P<x>w|b|s|rm|riv)"

# (pattern, template) for full-match Caffe2 names. `{p}` is the pathway index (1 when the
# name has the `t_` prefix), `{m}` the module ("conv" vs "bn" part), `{x}` the attribute.
_CAFFE2_RULES = [
    # Lateral fusion: 't_pool1_subsample_w' -> 's1_fuse.conv_f2s.weight'.
    (rf"t_pool1_subsample(?P<bn>_bn)?_{_SUFFIX}", "s1_fuse.{fuse}.{x}"),
    # 't_res4_5_branch2c_bn_subsample_bn_rm' -> 's4_fuse.bn.running_mean'.
    (rf"t_res(?P<s>\d+)_\d+_branch2c_bn_subsample(?P<bn>_bn)?_{_SUFFIX}", "s{s}_fuse.{fuse}.{x}"),
    # Stem: 'conv1_w' -> 's1.pathway0_stem.conv.weight'; 'res_conv1_bn_s' -> '...stem.bn.weight'.
    (rf"(?P<t>t_)?conv1_{_SUFFIX}", "s1.pathway{p}_stem.conv.{x}"),
    (rf"(?P<t>t_)?res_conv1(?P<bn>_bn)_{_SUFFIX}", "s1.pathway{p}_stem.bn.{x}"),
    # Bottleneck: 'res4_4_branch2c_w' -> 's4.pathway0_res4.branch2.c.weight'.
    (
        rf"(?P<t>t_)?res(?P<s>\d+)_(?P<i>\d+)_branch2(?P<c>[a-z])(?P<bn>_bn)?_{_SUFFIX}",
        "s{s}.pathway{p}_res{i}.branch2.{c}{bn}.{x}",
    ),
    # Shortcut: 'res3_0_branch1_bn_riv' -> 's3.pathway0_res0.branch1_bn.running_var'.
    (
        rf"(?P<t>t_)?res(?P<s>\d+)_(?P<i>\d+)_branch1(?P<bn>_bn)?_{_SUFFIX}",
        "s{s}.pathway{p}_res{i}.branch1{bn}.{x}",
    ),
    # Non-local: 'nonlocal_conv3_1_theta_w' -> 's3.pathway0_nonlocal1.conv_theta.weight'.
    (
        rf"nonlocal_conv(?P<s>\d+)_(?P<i>\d+)_(?P<c>theta|phi|g|out)_{_SUFFIX}",
        "s{s}.pathway0_nonlocal{i}.conv_{c}.{x}",
    ),
    (
        rf"nonlocal_conv(?P<s>\d+)_(?P<i>\d+)(?P<bn>_bn)_{_SUFFIX}",
        "s{s}.pathway0_nonlocal{i}.bn.{x}",
    ),
    # Classifier: 'pred_w' -> 'head.projection.weight'.
    (rf"pred_{_SUFFIX}", "head.projection.{x}"),
]
_CAFFE2_RULES = [(re.compile(pattern + r"\Z"), template) for pattern, template in _CAFFE2_RULES]
# Caffe2 blobs that hold solver state, not weights: momenta, learning rate, iteration counter.
_CAFFE2_SOLVER_BLOB = re.compile(r"(.*_momentum|lr|model_iter)\Z")


def caffe2_to_pyslowfast_name(name: str) -> Optional[str]:
    """PySlowFast parameter name of a Caffe2 blob, or None when no rule knows the blob."""
    for pattern, template in _CAFFE2_RULES:
        match = pattern.match(name)
        if match is None:
            continue
        groups = match.groupdict()
        suffix = groups["x"]
        is_bn = bool(groups.get("bn"))
        table = _BN_SUFFIX if is_bn else _CONV_SUFFIX
        if suffix not in table:
            return None
        return template.format(
            p=1 if groups.get("t") else 0,
            s=groups.get("s"),
            i=groups.get("i"),
            c=groups.get("c"),
            bn="_bn" if is_bn else "",
            fuse="bn" if is_bn else "conv_f2s",
            x=table[suffix],
        )
    return None


def _blob_tensor(name: str, blob: object) -> torch.Tensor:
    """A Caffe2 blob as a tensor; a string or other non-numeric blob is no weight."""
    array = np.asarray(blob)
    if array.dtype.kind not in NUMERIC_KINDS:
        raise ValueError(
            f"Caffe2 blob {name!r} is not numeric ({type(blob).__name__} {str(blob)[:40]!r})"
        )
    # Native byte order: torch.from_numpy refuses big-endian arrays.
    return torch.from_numpy(np.array(array, dtype=array.dtype.newbyteorder("="), copy=True))


def convert_caffe2_blobs(blobs: dict) -> dict[str, torch.Tensor]:
    """Rename Caffe2 blobs to PySlowFast names; solver blobs are dropped.

    Blobs no rule knows keep their Caffe2 name, so loading reports them as unexpected keys.

    Raises:
        ValueError: naming a blob that is not numeric or two blobs with the same new name.
    """
    state: dict[str, torch.Tensor] = {}
    dropped = 0
    for name, blob in blobs.items():
        if _CAFFE2_SOLVER_BLOB.match(name):
            dropped += 1
            continue
        new_name = caffe2_to_pyslowfast_name(name) or name
        if new_name == name:
            logger.warning("Caffe2 blob %s has no PySlowFast name.", name)
        if new_name in state:
            raise ValueError(f"two Caffe2 blobs map to {new_name!r} (the second is {name!r})")
        state[new_name] = _blob_tensor(name, blob)
    logger.info("Converted %d Caffe2 blobs (dropped %d solver blobs).", len(state), dropped)
    return state


def strip_module_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the `module.` prefix of a state dict saved from a DDP-wrapped model."""
    if state and all(k.startswith("module.") for k in state):
        return {k[len("module.") :]: v for k, v in state.items()}
    return state


def clear_name_patterns(state: dict[str, torch.Tensor],
                        patterns: Sequence[str]) -> dict[str, torch.Tensor]:
    """TRAIN.CHECKPOINT_CLEAR_NAME_PATTERN: remove the first occurrence of each pattern, in
    order, from every parameter name that holds it ("backbone.s1.conv" -> "s1.conv").

    Raises:
        ValueError: when two names become one (the pattern would drop a tensor).
    """
    for pattern in patterns:
        renamed = {k.replace(pattern, "", 1): v for k, v in state.items()}
        if len(renamed) != len(state):
            raise ValueError(f"TRAIN.CHECKPOINT_CLEAR_NAME_PATTERN {pattern!r} maps two "
                             "checkpoint names to one; use a longer pattern.")
        state = renamed
    return state


def _inflate(value: torch.Tensor, target: torch.Size) -> Optional[torch.Tensor]:
    """2D kernel [O, I, H, W] or [O, I, 1, H, W] -> [O, I, T, H, W], divided by T (I3D)."""
    if len(target) != 5:
        return None
    if value.dim() == 4:
        value = value.unsqueeze(2)
    if value.dim() != 5 or value.shape[2] != 1:
        return None
    if value.shape[:2] != target[:2] or value.shape[3:] != target[3:]:
        return None
    return value.repeat(1, 1, target[2], 1, 1) / target[2]


def _strip_trailing_ones(shape: torch.Size) -> tuple:
    dims = tuple(shape)
    while dims and dims[-1] == 1:
        dims = dims[:-1]
    return dims


def _reshape_one(
    key: str, value: torch.Tensor, target: torch.Size, inflation: bool
) -> torch.Tensor:
    if value.shape == target:
        return value
    # Shapes equal up to trailing singleton dims: Caffe2 FC [K, C] vs a conv head
    # [K, C, 1, 1, 1], or a 2D 1x1 kernel [O, I, 1, 1] vs [O, I, 1, 1, 1].
    if _strip_trailing_ones(value.shape) == _strip_trailing_ones(target):
        return value.reshape(target)
    if inflation:
        inflated = _inflate(value, target)
        if inflated is not None:
            logger.info("Inflated %s: %s -> %s", key, tuple(value.shape), tuple(target))
            return inflated
    return value


def reconcile_shapes(
    state: dict[str, torch.Tensor], model_state: dict[str, torch.Tensor], *, inflation: bool
) -> dict[str, torch.Tensor]:
    """Reshape checkpoint tensors to the model's shapes where the mapping is unambiguous.

    Args:
        state: checkpoint tensors by (converted) name.
        model_state: the model's `state_dict()`.
        inflation: inflate 2D kernels [O, I, H, W] (or T=1 kernels) to the model's
            [O, I, T, H, W] by repeating over T and dividing by T.
    Returns:
        A new dict; tensors that still do not fit are left as they are for `load_state` to report.
    """
    out = {}
    for key, value in state.items():
        target = model_state.get(key)
        out[key] = value if target is None else _reshape_one(key, value, target.shape, inflation)
    return out
