"""Checkpoint files of a run: their names and folder, atomic saving, pruning.

A `.pyth` file holds `{"epoch", "model_state", "optimizer_state", "cfg"}` (plus "iteration"
for a mid-epoch save, "scaler_state" with mixed precision, the train loop's resume state and
the sha256 of the contents), so upstream checkpoints load here and ours load upstream. The
model state is always in the plain BatchNorm layout (`bn_layout`), so a file loads into a
model of any BN.NORM_TYPE.
"""

import contextlib
import errno
import os
import re
import shutil
import tempfile
from typing import Any, Callable, List, Optional, TypeVar

import torch
from torch import nn

from slowfast_atfr.checkpoint.load import (
    CHECKSUM_KEY,
    UnreadableCheckpointError,
    content_digest,
    non_finite_keys,
)
from slowfast_atfr.models import bn_layout
from slowfast_atfr.utils import logging
from slowfast_atfr.utils.distributed import is_master_proc

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
        model: plain or DDP-wrapped model, saved without the wrapper's `module.` prefix and
            in the plain BatchNorm layout (`bn_layout.plain_bn_state`).
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
        "model_state": bn_layout.plain_bn_state(model),
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
