"""Checkpoints in PySlowFast's `.pyth` format: paths, atomic saving, resume order.

A `.pyth` file holds `{"epoch", "model_state", "optimizer_state", "cfg"}` (plus "iteration"
for a mid-epoch save, "scaler_state" with mixed precision, the train loop's resume state and
the sha256 of the contents), so upstream checkpoints load here and ours load upstream.
Loading (also Caffe2 `.pkl` and URLs) is in checkpoint_load.py and re-exported here.
"""

import contextlib
import errno
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, TypeVar

import torch
from torch import nn

from slowfast_atfr.utils import logging
from slowfast_atfr.utils.checkpoint_load import (  # noqa: F401 (re-exported)
    CHECKSUM_KEY,
    FROM_LAST_FOR_TEST,
    FROM_RESUME,
    FROM_TEST,
    FROM_TRAIN,
    FROM_TRAIN_FOR_TEST,
    NonFiniteCheckpointError,
    UnreadableCheckpointError,
    content_digest,
    convert_names,
    load_checkpoint,
    load_optimizer_state,
    load_state,
    non_finite_keys,
    read_checkpoint,
)
from slowfast_atfr.utils.distributed import is_master_proc, unwrap_model

logger = logging.get_logger(__name__)

T = TypeVar("T")

# 'checkpoint_epoch_00003.pyth' = 3 epochs done; 'checkpoint_epoch_00003_iter_00000100.pyth' =
# 3 epochs and 100 iterations of the 4th done. Both sort by (epochs done, iterations done).
_NAME = re.compile(r"checkpoint_epoch_(\d+)(?:_iter_(\d+))?\.pyth\Z")
# Temp files of `_atomic_save`; one left behind is from a write that was killed.
_TEMP = re.compile(r"\.checkpoint_epoch_.*\.pyth\..*\.tmp\Z")


class NonFiniteWeightsError(RuntimeError):
    """The weights to save hold NaN or inf values: the run diverged, nothing was written."""


def get_checkpoint_dir(output_dir: str) -> str:
    """Folder of a job's checkpoints: OUTPUT_DIR/checkpoints."""
    return os.path.join(output_dir, "checkpoints")


def get_path_to_checkpoint(output_dir: str, epoch: int, iteration: Optional[int] = None) -> str:
    """Path of the checkpoint saved after 0-based `epoch` (or after `iteration` iterations of
    it). The end-of-epoch name uses epoch + 1, as upstream."""
    if iteration is None:
        name = f"checkpoint_epoch_{epoch + 1:05d}.pyth"
    else:
        name = f"checkpoint_epoch_{epoch:05d}_iter_{iteration:08d}.pyth"
    return os.path.join(get_checkpoint_dir(output_dir), name)


def _checkpoints(path_to_dir: str) -> list[tuple[tuple[int, int], str]]:
    folder = get_checkpoint_dir(path_to_dir)
    if not os.path.isdir(folder):
        return []
    found = []
    for name in os.listdir(folder):
        match = _NAME.match(name)
        if match:
            found.append(((int(match.group(1)), int(match.group(2) or 0)), name))
    return sorted(found)


def get_last_checkpoint(path_to_dir: str) -> Optional[str]:
    """Newest checkpoint of the job in `path_to_dir` (its OUTPUT_DIR), mid-epoch ones included,
    or None."""
    found = _checkpoints(path_to_dir)
    return os.path.join(get_checkpoint_dir(path_to_dir), found[-1][1]) if found else None


def load_newest_readable(path_to_dir: str, load: Callable[[str], T]) -> tuple[str, T]:
    """`load(path)` on the newest checkpoint of `path_to_dir` (its OUTPUT_DIR) that is readable.

    A file `load` finds unreadable (disk or copy damage; saving itself is atomic) is skipped
    with a warning and kept, so one bad file does not end a resumable run.

    Returns:
        (path loaded, what `load` returned).
    Raises:
        UnreadableCheckpointError: no checkpoint is readable (naming them all).
    """
    folder = get_checkpoint_dir(path_to_dir)
    unreadable = []
    for _, name in reversed(_checkpoints(path_to_dir)):
        path = os.path.join(folder, name)
        try:
            if not os.path.isfile(path):
                raise UnreadableCheckpointError(_not_a_file(path))
            return path, load(path)
        except UnreadableCheckpointError as err:
            logger.warning("Skipping unreadable checkpoint %s: %s", path, err)
            unreadable.append(name)
    raise UnreadableCheckpointError(
        f"no readable checkpoint in {folder} to resume from; unreadable: {unreadable}"
    )


def _not_a_file(path: str) -> str:
    if os.path.islink(path) and not os.path.exists(path):
        return f"{path} is a link to {os.readlink(path)!r}, which does not exist"
    if os.path.isdir(path):
        return f"{path} is a folder, not a checkpoint file"
    return f"{path} is not a regular file"


def remove_stale_temp_files(path_to_dir: str) -> List[str]:
    """Delete the temp files that killed checkpoint writes left in OUTPUT_DIR/checkpoints.

    Call only while holding the OUTPUT_DIR lock (no other process can be writing).
    """
    folder = get_checkpoint_dir(path_to_dir)
    names = sorted(n for n in os.listdir(folder) if _TEMP.match(n)) if os.path.isdir(
        folder) else []
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(folder, name))
    if names:
        logger.info("Removed %d temp files of interrupted checkpoint writes in %s: %s",
                    len(names), folder, names)
    return names


def prune_mid_epoch_checkpoints(path_to_dir: str, keep: int) -> List[str]:
    """Delete all but the newest `keep` mid-epoch checkpoints (0 keeps all); returns names."""
    if keep <= 0:
        return []
    mid_epoch = [name for _, name in _checkpoints(path_to_dir) if "_iter_" in name]
    removed = mid_epoch[:-keep]
    for name in removed:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(get_checkpoint_dir(path_to_dir), name))
    if removed:
        logger.info("Removed older mid-epoch checkpoints (TRAIN.CHECKPOINT_ITER_KEEP=%d): %s",
                    keep, removed)
    return removed


def has_checkpoint(path_to_dir: str) -> bool:
    """Whether the job in `path_to_dir` (its OUTPUT_DIR) has saved a checkpoint."""
    return bool(_checkpoints(path_to_dir))


def _atomic_save(obj: dict, path: str) -> None:
    """torch.save to a temp file in the same folder, fsync, then rename over `path`."""
    folder = os.path.dirname(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                                   dir=folder)
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
            free_mb = shutil.disk_usage(folder).free / 2**20
            raise OSError(err.errno, (
                f"Disk full: checkpoint {path} was not written ({free_mb:.0f} MiB free there; "
                "the earlier checkpoints are intact). Free space, or set OUTPUT_DIR to "
                "another disk, and rerun to resume.")) from err
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def save_checkpoint(
    path_to_dir: str,
    model: nn.Module,
    optimizer: Optional[torch.optim.Optimizer],
    epoch: int,
    cfg: Any,
    scaler: Optional[Any] = None,
    iteration: Optional[int] = None,
    extra: Optional[dict] = None,
) -> str:
    """Save a PySlowFast `.pyth` checkpoint atomically, with the sha256 of its contents;
    only rank 0 writes. Non-finite weights are never saved.

    Args:
        path_to_dir: the job folder (cfg.OUTPUT_DIR); files go to its `checkpoints/`.
        model: plain or DDP-wrapped model (saved without the wrapper's `module.` prefix).
        optimizer: its state is saved under "optimizer_state" (None saves `{}`).
        epoch: 0-based epoch; finished when `iteration` is None, else the one in progress.
        cfg: the config; its `dump()` is stored under "cfg".
        scaler: a GradScaler, saved under "scaler_state" when given.
        iteration: mid-epoch save after this many iterations (>= 1) of `epoch`; resuming
            continues with iteration `iteration` of `epoch`.
        extra: more entries (plain data and tensors), e.g. the train loop's resume state.
    Returns:
        Path of the checkpoint (also on ranks other than 0, which write nothing).
    Raises:
        NonFiniteWeightsError: a weight or optimizer value is NaN or inf (nothing written).
    """
    if iteration is not None and iteration < 1:
        raise ValueError(f"iteration must be >= 1 for a mid-epoch checkpoint, got {iteration}")
    path = get_path_to_checkpoint(path_to_dir, epoch, iteration)
    if not is_master_proc():
        return path
    os.makedirs(os.path.dirname(path), exist_ok=True)
    checkpoint = {
        # Last finished epoch, as upstream; a mid-epoch save has finished epoch - 1.
        "epoch": epoch if iteration is None else epoch - 1,
        "model_state": unwrap_model(model).state_dict(),
        "optimizer_state": optimizer.state_dict() if optimizer is not None else {},
        "cfg": cfg.dump(),
        **(extra or {}),
    }
    bad = non_finite_keys(checkpoint["model_state"], checkpoint["optimizer_state"])
    if bad:
        last = get_last_checkpoint(path_to_dir)
        raise NonFiniteWeightsError(
            f"Training stopped: {len(bad)} weight or optimizer tensors are NaN or infinite "
            f"(first: {bad[:5]}), so {os.path.basename(path)} was not saved. The newest "
            f"checkpoint, {last or 'none yet'}, is the last finite one and a rerun resumes "
            "from it: lower SOLVER.BASE_LR or set SOLVER.CLIP_GRAD_L2NORM first."
        )
    if iteration is not None:
        checkpoint["iteration"] = iteration
    if scaler is not None:
        checkpoint["scaler_state"] = scaler.state_dict()
    checkpoint[CHECKSUM_KEY] = content_digest(checkpoint)
    _atomic_save(checkpoint, path)
    logger.info("Saved checkpoint %s", path)
    return path


@dataclass(frozen=True)
class TrainStart:
    """Where training starts: 0-based epoch, 0-based iteration inside it, file loaded."""

    start_epoch: int
    start_iter: int
    path: Optional[str]


def _checkpoint_type(key: str, value: str) -> bool:
    """True for "caffe2"; raises on anything but "pytorch" / "caffe2"."""
    if value not in ("pytorch", "caffe2"):
        raise ValueError(f"{key}={value!r}; expected 'pytorch' or 'caffe2'")
    return value == "caffe2"


def load_train_state(
    cfg: Any, model: nn.Module, optimizer: torch.optim.Optimizer, scaler: Optional[Any] = None
) -> TrainStart:
    """Initialise training in PySlowFast's order, including mid-epoch resume.

    1. TRAIN.AUTO_RESUME and a checkpoint in OUTPUT_DIR/checkpoints: resume the newest
       readable one (model, optimizer, scaler, epoch and iteration).
    2. TRAIN.CHECKPOINT_FILE_PATH (path or URL) with TRAIN.CHECKPOINT_TYPE / _INFLATE /
       _EPOCH_RESET / _PARTIAL / _SHA256.
    3. Otherwise from scratch.
    """
    if cfg.TRAIN.AUTO_RESUME and has_checkpoint(cfg.OUTPUT_DIR):
        path, info = load_newest_readable(
            cfg.OUTPUT_DIR,
            lambda p: load_checkpoint(p, model, optimizer, scaler, origin=FROM_RESUME),
        )
        logger.info("Resumed from %s", path)
    elif cfg.TRAIN.CHECKPOINT_FILE_PATH:
        path = cfg.TRAIN.CHECKPOINT_FILE_PATH
        info = load_checkpoint(
            path,
            model,
            optimizer,
            scaler,
            epoch_reset=cfg.TRAIN.CHECKPOINT_EPOCH_RESET,
            inflation=cfg.TRAIN.CHECKPOINT_INFLATE,
            convert_from_caffe2=_checkpoint_type(
                "TRAIN.CHECKPOINT_TYPE", cfg.TRAIN.CHECKPOINT_TYPE
            ),
            partial=cfg.TRAIN.CHECKPOINT_PARTIAL,
            sha256=cfg.TRAIN.CHECKPOINT_SHA256 or None,
            cache_dir=cfg.MODEL_ZOO_CACHE_DIR or None,
            origin=FROM_TRAIN,
            clear_patterns=cfg.TRAIN.CHECKPOINT_CLEAR_NAME_PATTERN,
        )
    else:
        logger.info("Training from scratch.")
        return TrainStart(start_epoch=0, start_iter=0, path=None)
    return TrainStart(start_epoch=info["epoch"] + 1, start_iter=info["iteration"], path=path)


def load_train_checkpoint(
    cfg: Any, model: nn.Module, optimizer: torch.optim.Optimizer, scaler: Optional[Any] = None
) -> int:
    """Upstream's entry point: `load_train_state(...).start_epoch`.

    A loop that saves mid-epoch checkpoints (TRAIN.CHECKPOINT_ITER_PERIOD) should call
    `load_train_state` instead, to also skip the iterations already done.
    """
    return load_train_state(cfg, model, optimizer, scaler).start_epoch


def load_test_checkpoint(cfg: Any, model: nn.Module) -> Optional[str]:
    """Load the weights to test, in PySlowFast's order; returns the file loaded or None.

    TEST.CHECKPOINT_FILE_PATH, else the newest checkpoint in OUTPUT_DIR, else
    TRAIN.CHECKPOINT_FILE_PATH, else nothing (a warning: random weights).
    """
    cache_dir = cfg.MODEL_ZOO_CACHE_DIR or None
    # As PySlowFast, TRAIN.CHECKPOINT_CLEAR_NAME_PATTERN applies to the files a user names,
    # not to this run's own checkpoints.
    patterns = cfg.TRAIN.CHECKPOINT_CLEAR_NAME_PATTERN
    if cfg.TEST.CHECKPOINT_FILE_PATH:
        path = cfg.TEST.CHECKPOINT_FILE_PATH
        caffe2 = _checkpoint_type("TEST.CHECKPOINT_TYPE", cfg.TEST.CHECKPOINT_TYPE)
        sha256, origin = cfg.TEST.CHECKPOINT_SHA256 or None, FROM_TEST
    elif has_checkpoint(cfg.OUTPUT_DIR):
        path, caffe2, sha256 = get_last_checkpoint(cfg.OUTPUT_DIR), False, None
        origin, patterns = FROM_LAST_FOR_TEST, ()
    elif cfg.TRAIN.CHECKPOINT_FILE_PATH:
        path = cfg.TRAIN.CHECKPOINT_FILE_PATH
        caffe2 = _checkpoint_type("TRAIN.CHECKPOINT_TYPE", cfg.TRAIN.CHECKPOINT_TYPE)
        sha256, origin = cfg.TRAIN.CHECKPOINT_SHA256 or None, FROM_TRAIN_FOR_TEST
    else:
        logger.warning("No checkpoint to load: testing a randomly initialised model.")
        return None
    load_checkpoint(
        path, model, convert_from_caffe2=caffe2, sha256=sha256, cache_dir=cache_dir,
        origin=origin, clear_patterns=patterns,
    )
    return path
