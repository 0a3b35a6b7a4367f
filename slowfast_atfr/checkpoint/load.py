"""Load a checkpoint into a model in four steps, each tested on its own.

`read_checkpoint` (file or URL -> dict, never running code from the file), `convert_names`
(Caffe2 / DDP names -> the model's), `reconcile_shapes` (inflation, trailing
singleton dims; in convert.py) and `load_state` (strict unless partial).
`load_checkpoint` chains them and restores the optimizer and GradScaler.
"""

import hashlib
import itertools
import pickle
import re
from typing import Any, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from slowfast_atfr.checkpoint.convert import (
    clear_name_patterns,
    convert_caffe2_blobs,
    reconcile_shapes,
    strip_module_prefix,
)
from slowfast_atfr.checkpoint.model_zoo import describe, fetch
from slowfast_atfr.checkpoint.safe_pickle import safe_load
from slowfast_atfr.utils import logging
from slowfast_atfr.utils.distributed import unwrap_model

logger = logging.get_logger(__name__)

# Prefix of the temporal sampler's parameters (ATFR); absent from baseline checkpoints.
SAMPLER_PREFIX = "sampler."
# How many mismatched keys an error message lists.
_MAX_LISTED = 20
# Where a checkpoint path came from (`origin`): named in errors, and decides the advice.
FROM_TRAIN = "TRAIN.CHECKPOINT_FILE_PATH"
FROM_TEST = "TEST.CHECKPOINT_FILE_PATH"
FROM_RESUME = "auto-resume checkpoint in OUTPUT_DIR"
FROM_TRAIN_FOR_TEST = "TRAIN.CHECKPOINT_FILE_PATH, for testing"
FROM_LAST_FOR_TEST = "newest checkpoint in OUTPUT_DIR, for testing"
# Advice after a strict mismatch; TRAIN.CHECKPOINT_PARTIAL acts only on TRAIN loads.
_MISMATCH_ADVICE = {
    FROM_TRAIN: "Set TRAIN.CHECKPOINT_PARTIAL True to load the matching ones.",
    FROM_RESUME: "OUTPUT_DIR holds another model's checkpoints: use a new OUTPUT_DIR or set "
    "TRAIN.AUTO_RESUME False.",
}
_OTHER_MODEL = "The checkpoint is for a different model or config."
# Longest cause quoted from a library's error message.
_MAX_CAUSE = 200
# Our checkpoints carry the sha256 of their contents under this key (upstream ignores it).
CHECKSUM_KEY = "content_sha256"


class UnreadableCheckpointError(ValueError):
    """The file is not a checkpoint that can be read safely (corrupt, wrong format, refused).

    Raised before the model is touched, so auto-resume can fall back to an older file.
    """


class NonFiniteCheckpointError(UnreadableCheckpointError):
    """The file holds NaN or infinite weights: never a starting point (auto-resume skips it)."""


def _update_digest(digest: "hashlib._Hash", obj: Any) -> None:
    if torch.is_tensor(obj):
        t = obj.detach().cpu().contiguous()
        digest.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        digest.update(b"D%d" % len(obj))
        for key in sorted(obj, key=repr):
            _update_digest(digest, key)
            _update_digest(digest, obj[key])
    elif isinstance(obj, (list, tuple)):
        digest.update(b"L%d" % len(obj))
        for item in obj:
            _update_digest(digest, item)
    else:
        digest.update(repr(obj).encode() + b"\0")


def content_digest(checkpoint: dict) -> str:
    """sha256 of a checkpoint's contents (tensors by dtype, shape and bytes), the digest
    itself excluded: it survives re-serialisation, and any flipped bit changes it."""
    digest = hashlib.sha256()
    _update_digest(digest, {k: v for k, v in checkpoint.items() if k != CHECKSUM_KEY})
    return digest.hexdigest()


def _float_arrays(obj: Any, prefix: str = "") -> Iterator[Tuple[str, Any]]:
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from _float_arrays(value, f"{prefix}{key}.")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _float_arrays(value, f"{prefix}{i}.")
    elif (torch.is_tensor(obj) and obj.is_floating_point()) or (
            isinstance(obj, np.ndarray) and np.issubdtype(obj.dtype, np.floating)):
        yield prefix[:-1], obj


def non_finite_keys(*states: Any) -> List[str]:
    """Names of the floating-point tensors (or arrays) in `states` holding a NaN or an inf."""
    found = []
    for state in states:
        for name, value in _float_arrays(state):
            finite = (torch.isfinite(value).all() if torch.is_tensor(value)
                      else np.isfinite(value).all())
            if not bool(finite):
                found.append(name)
    return found


def _check_finite(checkpoint: dict, name: str) -> None:
    bad = non_finite_keys(checkpoint.get("model_state", {}), checkpoint.get("blobs", {}),
                          checkpoint.get("optimizer_state", {}))
    if bad:
        listed = bad[:_MAX_LISTED] + (["..."] if len(bad) > _MAX_LISTED else [])
        raise NonFiniteCheckpointError(
            f"{name} holds NaN or infinite values in {len(bad)} tensors ({listed}): a diverged "
            "run saved it. Use an earlier checkpoint, and lower SOLVER.BASE_LR or set "
            "SOLVER.CLIP_GRAD_L2NORM before training on."
        )


def _file_kind(local: str) -> str:
    """'zip' (torch.save), 'pickle' (legacy torch.save, Caffe2) or 'other', by magic bytes."""
    with open(local, "rb") as f:
        head = f.read(4)
    if head == b"PK\x03\x04":
        return "zip"
    return "pickle" if head[:1] == b"\x80" else "other"


def _short_cause(err: Exception) -> str:
    """First sentence of a library's error, for messages that must stay one line."""
    if isinstance(err, EOFError):
        return "the file ends early: truncated?"
    text = str(err).strip().split("\n")[0].split(". ")[0]
    cause = f"{type(err).__name__}: {text}" if text else type(err).__name__
    return cause if len(cause) <= _MAX_CAUSE else cause[: _MAX_CAUSE - 3] + "..."


def _pytorch_cause(err: Exception, local: str) -> str:
    # torch's refusal advises weights_only=False, i.e. running the file's code: not passed on.
    if isinstance(err, pickle.UnpicklingError):
        found = re.search(r"GLOBAL (\S+)", str(err))
        if found is None:
            return "damaged, or it contains objects other than tensors and plain data"
        return (
            f"it contains objects other than tensors and plain data ({found.group(1)}) and "
            "was refused for safety"
        )
    if _file_kind(local) == "other":
        return "neither a zip archive nor a pickle, as torch.save writes"
    return _short_cause(err)


def _type_key(origin: Optional[str]) -> str:
    """The CHECKPOINT_TYPE key that goes with `origin` (a TRAIN.* or TEST.* key, or None)."""
    for section in ("TRAIN", "TEST"):
        if origin and origin.startswith(f"{section}."):
            return f"{section}.CHECKPOINT_TYPE"
    return "TRAIN.CHECKPOINT_TYPE (or TEST.CHECKPOINT_TYPE)"


def _read_caffe2(local: str, name: str, origin: Optional[str]) -> dict:
    try:
        with open(local, "rb") as f:
            data = safe_load(f)
    except Exception as err:
        hint = ""
        if _file_kind(local) == "zip" or local.endswith((".pyth", ".pth", ".pt")):
            hint = f"; it looks like a PyTorch checkpoint: set {_type_key(origin)} pytorch"
        raise UnreadableCheckpointError(
            f"{name} is not a readable Caffe2 checkpoint ({_short_cause(err)}){hint}"
        ) from err
    if not isinstance(data, dict) or not isinstance(data.get("blobs"), dict):
        raise ValueError(f"Caffe2 checkpoint {name} has no 'blobs' dict")
    checkpoint = {"blobs": data["blobs"]}
    _check_finite(checkpoint, name)
    return checkpoint


def _read_pytorch(local: str, name: str) -> Any:
    try:
        return torch.load(local, map_location="cpu", weights_only=True)
    except Exception as err:
        raise UnreadableCheckpointError(
            f"{name} is not a readable PyTorch checkpoint ({_pytorch_cause(err, local)})"
        ) from err


def read_checkpoint(
    path_or_url: str,
    *,
    caffe2: bool = False,
    sha256: Optional[str] = None,
    cache_dir: Optional[str] = None,
    origin: Optional[str] = None,
) -> dict:
    """Read a checkpoint file or URL without running code from it.

    `origin` (e.g. FROM_TRAIN) is named next to the path in errors.

    Returns:
        `.pyth`: the saved dict (a bare state dict is wrapped as {"model_state": ...}).
        Caffe2 `.pkl`: {"blobs": {name: numpy array}}.
    Raises:
        UnreadableCheckpointError: corrupt, failing its checksum, not a checkpoint, or refused
            for safety; NonFiniteCheckpointError (a subclass) for NaN or infinite values.
    """
    local = fetch(path_or_url, sha256=sha256, cache_dir=cache_dir, origin=origin)
    name = describe(path_or_url, origin)
    if caffe2:
        return _read_caffe2(local, name, origin)
    if local.endswith(".pkl"):
        raise ValueError(
            f"{name} looks like a Caffe2 pickle; set {_type_key(origin)} caffe2"
        )
    data = _read_pytorch(local, name)
    if isinstance(data, dict) and CHECKSUM_KEY in data and (
            data[CHECKSUM_KEY] != content_digest(data)):
        raise UnreadableCheckpointError(
            f"{name} fails its checksum: its contents changed after it was saved (bit rot on "
            "the disk, or an incomplete copy). Copy it again, or use an earlier checkpoint."
        )
    if isinstance(data, dict) and data and all(torch.is_tensor(v) for v in data.values()):
        data = {"model_state": data}
    if isinstance(data, dict) and "model_state" in data:
        _check_finite(data, name)
        return data
    keys = sorted(data)[:_MAX_LISTED] if isinstance(data, dict) else type(data).__name__
    raise ValueError(f"{name} holds no 'model_state' (found {keys})")


def convert_names(checkpoint: dict, *, caffe2: bool) -> dict[str, torch.Tensor]:
    """Model state of a checkpoint with the model's parameter names (Caffe2, DDP prefix)."""
    if caffe2:
        return convert_caffe2_blobs(checkpoint["blobs"])
    return strip_module_prefix(dict(checkpoint["model_state"]))


def _listing(title: str, keys: list[str]) -> str:
    more = f" ... (+{len(keys) - _MAX_LISTED} more)" if len(keys) > _MAX_LISTED else ""
    return f"\n  {len(keys)} {title}: {keys[:_MAX_LISTED]}{more}"


def load_state(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    *,
    partial: bool,
    source: str,
    origin: Optional[str] = None,
) -> bool:
    """Copy `state` into `model` (plain or DDP-wrapped).

    Strict unless `partial`: missing or unexpected keys and shape mismatches raise. Always
    allowed: missing `num_batches_tracked` counters, and missing `sampler.*` parameters when
    the checkpoint has none at all (an ATFR model initialised from a baseline checkpoint:
    the sampler keeps its fresh initialisation).

    Returns:
        True when every model parameter and buffer came from the checkpoint.
    Raises:
        ValueError: listing the mismatched keys (first 20 and the count), with advice that
            fits `origin` (where `source` came from, e.g. FROM_TRAIN).
    """
    model_state = unwrap_model(model).state_dict()
    baseline = not any(k.startswith(SAMPLER_PREFIX) for k in state)
    absent = [k for k in model_state if k not in state]
    fresh = [k for k in absent if baseline and k.startswith(SAMPLER_PREFIX)]
    missing = [k for k in absent if k not in fresh and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in model_state]
    mismatched = [
        f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(model_state[k].shape)}"
        for k, v in state.items()
        if k in model_state and v.shape != model_state[k].shape
    ]
    report = (
        (_listing("missing", missing) if missing else "")
        + (_listing("unexpected", unexpected) if unexpected else "")
        + (_listing("shape mismatches", mismatched) if mismatched else "")
    )
    if report and not partial:
        raise ValueError(
            f"Checkpoint {describe(source, origin)} does not match the model:{report}\n"
            + _MISMATCH_ADVICE.get(origin, _OTHER_MODEL)
        )
    if report:
        logger.warning("Partial load of %s; not loaded:%s", source, report)
    if fresh:
        logger.info("%s has no sampler; %d sampler tensors keep their initialisation: %s",
                    source, len(fresh), fresh[:_MAX_LISTED])
    matching = {
        k: v for k, v in state.items() if k in model_state and v.shape == model_state[k].shape
    }
    unwrap_model(model).load_state_dict(matching, strict=False)
    logger.info("Loaded %d tensors from %s", len(matching), source)
    return not (report or fresh)


def _fits(optimizer: torch.optim.Optimizer, saved: dict, groups: Tuple[dict, ...]) -> bool:
    """Whether the saved `groups` (in this order) have the optimizer's group sizes and every
    saved per-parameter tensor the shape of the parameter it would be restored to."""
    current = optimizer.param_groups
    if [len(g["params"]) for g in groups] != [len(g["params"]) for g in current]:
        return False
    params = [p for g in current for p in g["params"]]
    index = {key: params[i] for i, key in enumerate(k for g in groups for k in g["params"])}
    for key, entry in saved.get("state", {}).items():
        if key not in index:
            return False
        for value in entry.values():
            if torch.is_tensor(value) and value.ndim > 0 and value.shape != index[key].shape:
                return False
    return True


def load_optimizer_state(optimizer: torch.optim.Optimizer, saved: dict, source: str) -> None:
    """Restore an optimizer state_dict of this codebase or of PySlowFast into `optimizer`.

    torch checks only the number of parameters per group, so a state of another model could
    load and break (or silently skew) the updates; here every momentum or moment tensor must
    also fit its parameter. Groups in another order (the two-group layout this codebase
    saved before it took PySlowFast's order) are matched by their sizes and shapes, with a
    warning.

    Raises:
        ValueError: naming `source`, when no order of the saved groups fits.
    """
    groups = tuple(saved.get("param_groups", ()))
    fitting = [order for order in itertools.permutations(groups) if _fits(optimizer, saved, order)]
    if not fitting:
        raise ValueError(
            f"{source}: its optimizer state does not fit this model's optimizer (parameters per "
            f"group saved {[len(g['params']) for g in groups]}, here "
            f"{[len(g['params']) for g in optimizer.param_groups]}, or tensors of other shapes): "
            "it was saved for another model or with another SOLVER.ZERO_WD_1D_PARAM. Resume "
            "with the config it was written with."
        )
    if fitting[0] != groups:
        logger.warning("%s: optimizer parameter groups saved in another order; matched by "
                       "their sizes and shapes.", source)
    optimizer.load_state_dict({**saved, "param_groups": list(fitting[0])})


def load_checkpoint(
    path_or_url: str,
    model: nn.Module,
    optimizer: Optional[torch.optim.Optimizer] = None,
    scaler: Optional[Any] = None,
    *,
    epoch_reset: bool = False,
    inflation: bool = False,
    convert_from_caffe2: bool = False,
    partial: bool = False,
    sha256: Optional[str] = None,
    cache_dir: Optional[str] = None,
    origin: Optional[str] = None,
    clear_patterns: Sequence[str] = (),
) -> dict:
    """Load a `.pyth` or Caffe2 `.pkl` checkpoint (path or http(s) URL) into `model`.

    Args:
        path_or_url: local file or URL (downloaded once into `cache_dir`, see model_zoo).
        model: plain or DDP-wrapped model.
        optimizer, scaler: restored from the file when given and present, unless
            `epoch_reset`; the optimizer only when the whole model state was loaded.
        epoch_reset: fine-tuning: report epoch -1 and skip optimizer/scaler state.
        inflation: inflate 2D kernels to the model's 3D ones (see `reconcile_shapes`).
        convert_from_caffe2: the file is a Caffe2 pickle with Caffe2 blob names.
        partial: load the matching tensors and log the rest instead of raising.
        sha256: expected digest of the file (None: model_zoo.KNOWN_SHA256 for URLs).
        cache_dir: download folder for URLs.
        origin: where the path came from (FROM_TRAIN, ...), for errors and their advice.
        clear_patterns: substrings removed from the checkpoint's names first
            (TRAIN.CHECKPOINT_CLEAR_NAME_PATTERN; `clear_name_patterns`).
    Returns:
        {"epoch": last finished 0-based epoch (-1 after epoch_reset or for Caffe2),
         "iteration": iteration of the next epoch to resume from (0 = its start)}.
    """
    logger.info("Loading checkpoint %s", path_or_url)
    checkpoint = read_checkpoint(
        path_or_url, caffe2=convert_from_caffe2, sha256=sha256, cache_dir=cache_dir,
        origin=origin,
    )
    try:
        state = clear_name_patterns(convert_names(checkpoint, caffe2=convert_from_caffe2),
                                    clear_patterns)
    except ValueError as err:
        raise ValueError(f"{describe(path_or_url, origin)}: {err}") from err
    state = reconcile_shapes(state, unwrap_model(model).state_dict(), inflation=inflation)
    complete = load_state(model, state, partial=partial, source=path_or_url, origin=origin)
    if epoch_reset or "epoch" not in checkpoint:
        return {"epoch": -1, "iteration": 0}
    if optimizer is not None and checkpoint.get("optimizer_state"):
        if complete:
            load_optimizer_state(optimizer, checkpoint["optimizer_state"],
                                 describe(path_or_url, origin))
        else:
            logger.warning("Optimizer state of %s not loaded: the model differs.", path_or_url)
    if scaler is not None and checkpoint.get("scaler_state"):
        scaler.load_state_dict(checkpoint["scaler_state"])
    return {"epoch": int(checkpoint["epoch"]), "iteration": int(checkpoint.get("iteration", 0))}
