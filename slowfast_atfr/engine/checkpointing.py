"""The train loop's use of `slowfast_atfr.utils.checkpoint`: save, resume, reload.

Only rank 0 writes; every rank waits for the file, then all ranks read the same file.
Files hold the plain BatchNorm layout, so they load into a model of any BN.NORM_TYPE
(multigrid switches between them) and into the test model. Under "train_loop" they also
hold what makes a mid-epoch resume exact: every rank's RNG states, the epoch's meter so far
and the hooks' state.
"""

from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

from slowfast_atfr.utils import bn_helper, env, logging
from slowfast_atfr.utils import checkpoint as cu
from slowfast_atfr.utils import distributed as du

if TYPE_CHECKING:
    from slowfast_atfr.engine.trainer import Trainer

logger = logging.get_logger(__name__)


def _loop_state(trainer: "Trainer") -> Dict[str, Any]:
    """The train loop's state beyond the weights; collective (every rank calls it)."""
    hook_states = {type(h).__name__: h.state_dict() for h in trainer.hooks}
    return {
        "rng_states": du.all_gather_objects(env.rng_state()),
        "train_meter": trainer.train_meter.state_dict(),
        "min_val_errors": [trainer.val_meter.min_top1_err, trainer.val_meter.min_top5_err],
        "hooks": {name: state for name, state in hook_states.items() if state is not None},
    }


def restore_loop_state(trainer: "Trainer", state: Dict[str, Any], mid_epoch: bool) -> None:
    """Give the trainer back what `_loop_state` saved; RNGs and meter only `mid_epoch`
    (an epoch start reseeds and resets them anyway)."""
    trainer.val_meter.min_top1_err, trainer.val_meter.min_top5_err = state["min_val_errors"]
    for hook in trainer.hooks:
        if type(hook).__name__ in state["hooks"]:
            hook.load_state_dict(state["hooks"][type(hook).__name__])
    if not mid_epoch:
        return
    trainer.train_meter.load_state_dict(state["train_meter"])
    rng_states = state["rng_states"]
    if len(rng_states) != du.get_world_size():
        logger.warning(
            "The checkpoint was saved by %d processes and %d resume it: the random streams "
            "of the rest of this epoch (dropout, ...) differ from an uninterrupted run's.",
            len(rng_states), du.get_world_size())
        return
    env.set_rng_state(rng_states[du.get_rank()])


def save(trainer: "Trainer", epoch: int, iterations_done: Optional[int] = None) -> str:
    """Save after 0-based `epoch` ends, or after `iterations_done` iterations inside it.

    Keeps the newest TRAIN.CHECKPOINT_ITER_KEEP mid-epoch checkpoints.
    """
    cfg = trainer.cfg
    path = cu.save_checkpoint(
        cfg.OUTPUT_DIR, bn_helper.NormalBNView(trainer.model), trainer.optimizer,
        epoch, cfg, scaler=trainer.scaler, iteration=iterations_done,
        extra={"train_loop": _loop_state(trainer)},
    )
    if du.is_master_proc():
        cu.prune_mid_epoch_checkpoints(cfg.OUTPUT_DIR, cfg.TRAIN.CHECKPOINT_ITER_KEEP)
    du.synchronize()
    return path


def load_into(trainer: "Trainer", path: str) -> dict:
    """Load model (any BN layout), optimizer and scaler state of `path` into the trainer."""
    checkpoint = cu.read_checkpoint(path, origin=cu.FROM_RESUME)
    state = bn_helper.to_model_bn_state(cu.convert_names(checkpoint, caffe2=False),
                                        trainer.model)
    if not cu.load_state(trainer.model, state, partial=False, source=path,
                         origin=cu.FROM_RESUME):
        # Only a baseline's checkpoint lacks the sampler: another model's run folder.
        raise ValueError(
            f"Cannot resume from {path}: it has no ATFR sampler parameters (a run without "
            "ATFR wrote it), so OUTPUT_DIR holds another model's checkpoints. Use a new "
            "OUTPUT_DIR, or TRAIN.AUTO_RESUME False with TRAIN.CHECKPOINT_FILE_PATH to "
            "initialise from it."
        )
    if checkpoint.get("optimizer_state"):
        cu.load_optimizer_state(trainer.optimizer, checkpoint["optimizer_state"], path)
    if checkpoint.get("scaler_state"):
        trainer.scaler.load_state_dict(checkpoint["scaler_state"])
    return {"epoch": int(checkpoint.get("epoch", -1)),
            "iteration": int(checkpoint.get("iteration", 0)),
            "train_loop": checkpoint.get("train_loop")}


def resume(trainer: "Trainer") -> Tuple[int, int]:
    """(start epoch, start iteration inside it): AUTO_RESUME from OUTPUT_DIR's newest
    readable checkpoint (possibly mid-epoch), else TRAIN.CHECKPOINT_FILE_PATH, else scratch."""
    cfg = trainer.cfg
    if du.is_master_proc():
        cu.remove_stale_temp_files(cfg.OUTPUT_DIR)
    if cfg.TRAIN.AUTO_RESUME and cu.has_checkpoint(cfg.OUTPUT_DIR):
        # The newest readable one: a damaged or non-finite file is skipped with a warning,
        # and kept.
        path, info = cu.load_newest_readable(cfg.OUTPUT_DIR, lambda p: load_into(trainer, p))
        start_epoch, start_iter = info["epoch"] + 1, info["iteration"]
        trainer.pending_loop_state = info["train_loop"]
        logger.info("Resumed from %s at epoch %d, iteration %d.", path, start_epoch + 1,
                    start_iter)
        return start_epoch, start_iter
    start = cu.load_train_state(cfg, trainer.model, trainer.optimizer, trainer.scaler)
    return start.start_epoch, start.start_iter


def reload_last(trainer: "Trainer") -> None:
    """Load the last checkpoint of OUTPUT_DIR into the rebuilt model (multigrid shape change)."""
    path = cu.get_last_checkpoint(trainer.cfg.OUTPUT_DIR)
    if path is not None:
        load_into(trainer, path)
        logger.info("Reloaded %s after the shape change.", path)
