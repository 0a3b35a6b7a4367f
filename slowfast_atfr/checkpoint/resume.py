"""The one order in which a run finds its weights, as PySlowFast's: for training
(`load_train_state`: own newest checkpoint, else TRAIN.CHECKPOINT_FILE_PATH, else scratch)
and for testing (`load_test_checkpoint`)."""

from dataclasses import dataclass
from typing import Any, Optional

import torch
from torch import nn

from slowfast_atfr.checkpoint.io import (
    get_last_checkpoint,
    has_checkpoint,
    load_newest_readable,
)
from slowfast_atfr.checkpoint.load import (
    FROM_LAST_FOR_TEST,
    FROM_RESUME,
    FROM_TEST,
    FROM_TRAIN,
    FROM_TRAIN_FOR_TEST,
    convert_names,
    load_checkpoint,
    load_optimizer_state,
    load_state,
    read_checkpoint,
)
from slowfast_atfr.models import bn_layout
from slowfast_atfr.utils import logging

logger = logging.get_logger(__name__)


@dataclass(frozen=True)
class TrainStart:
    """Where training starts: 0-based epoch, 0-based iteration inside it, file loaded, and
    the train loop's state saved with that file (None unless resuming our own run)."""

    start_epoch: int
    start_iter: int
    path: Optional[str]
    train_loop: Optional[dict] = None


def _checkpoint_type(key: str, value: str) -> bool:
    """True for "caffe2"; raises on anything but "pytorch" / "caffe2"."""
    if value not in ("pytorch", "caffe2"):
        raise ValueError(f"{key}={value!r}; expected 'pytorch' or 'caffe2'")
    return value == "caffe2"


def load_run_checkpoint(path: str, model: nn.Module,
                        optimizer: Optional[torch.optim.Optimizer] = None,
                        scaler: Optional[Any] = None) -> dict:
    """Load one of this run's own checkpoints, strictly, into a model of any BN layout.

    Returns:
        {"epoch": last finished 0-based epoch, "iteration": the next one inside the epoch
         after it (0 = its start), "train_loop": the loop state saved with it, or None}.
    """
    checkpoint = read_checkpoint(path, origin=FROM_RESUME)
    state = bn_layout.to_model_bn_state(convert_names(checkpoint, caffe2=False), model)
    if not load_state(model, state, partial=False, source=path, origin=FROM_RESUME):
        # Only a baseline's checkpoint lacks the sampler: another model's run folder.
        raise ValueError(
            f"Cannot resume from {path}: it has no ATFR sampler parameters (a run without "
            "ATFR wrote it), so OUTPUT_DIR holds another model's checkpoints. Use a new "
            "OUTPUT_DIR, or TRAIN.AUTO_RESUME False with TRAIN.CHECKPOINT_FILE_PATH to "
            "initialise from it."
        )
    if optimizer is not None and checkpoint.get("optimizer_state"):
        load_optimizer_state(optimizer, checkpoint["optimizer_state"], path)
    if scaler is not None and checkpoint.get("scaler_state"):
        scaler.load_state_dict(checkpoint["scaler_state"])
    return {"epoch": int(checkpoint.get("epoch", -1)),
            "iteration": int(checkpoint.get("iteration", 0)),
            "train_loop": checkpoint.get("train_loop")}


def load_train_state(
    cfg: Any, model: nn.Module, optimizer: torch.optim.Optimizer, scaler: Optional[Any] = None
) -> TrainStart:
    """Initialise training in PySlowFast's order, including mid-epoch resume.

    1. TRAIN.AUTO_RESUME and a checkpoint in OUTPUT_DIR/checkpoints: resume the newest
       readable one (model, optimizer, scaler, epoch, iteration and loop state); a damaged
       file is skipped with a warning and kept.
    2. TRAIN.CHECKPOINT_FILE_PATH (path or URL) with TRAIN.CHECKPOINT_TYPE / _INFLATE /
       _EPOCH_RESET / _PARTIAL / _SHA256.
    3. Otherwise from scratch.
    """
    if cfg.TRAIN.AUTO_RESUME and has_checkpoint(cfg.OUTPUT_DIR):
        path, info = load_newest_readable(
            cfg.OUTPUT_DIR, lambda p: load_run_checkpoint(p, model, optimizer, scaler))
        start = TrainStart(info["epoch"] + 1, info["iteration"], path, info["train_loop"])
        logger.info("Resumed from %s at epoch %d, iteration %d.", path, start.start_epoch + 1,
                    start.start_iter)
        return start
    if not cfg.TRAIN.CHECKPOINT_FILE_PATH:
        logger.info("Training from scratch.")
        return TrainStart(start_epoch=0, start_iter=0, path=None)
    path = cfg.TRAIN.CHECKPOINT_FILE_PATH
    info = load_checkpoint(
        path,
        model,
        optimizer,
        scaler,
        epoch_reset=cfg.TRAIN.CHECKPOINT_EPOCH_RESET,
        inflation=cfg.TRAIN.CHECKPOINT_INFLATE,
        convert_from_caffe2=_checkpoint_type("TRAIN.CHECKPOINT_TYPE", cfg.TRAIN.CHECKPOINT_TYPE),
        partial=cfg.TRAIN.CHECKPOINT_PARTIAL,
        sha256=cfg.TRAIN.CHECKPOINT_SHA256 or None,
        cache_dir=cfg.MODEL_ZOO_CACHE_DIR or None,
        origin=FROM_TRAIN,
        clear_patterns=cfg.TRAIN.CHECKPOINT_CLEAR_NAME_PATTERN,
    )
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
