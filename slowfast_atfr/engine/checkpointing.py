"""The train loop's use of `slowfast_atfr.checkpoint`: save, resume, reload.

Only rank 0 writes; every rank waits for the file, then all ranks read the same file.
Files hold the plain BatchNorm layout, so they load into a model of any BN.NORM_TYPE
(multigrid switches between them) and into the test model. Under "train_loop" they also
hold what makes a mid-epoch resume exact: every rank's RNG states, the epoch's meter so far
and the hooks' state.
"""

from typing import TYPE_CHECKING, Any, Dict, Optional, Tuple

from slowfast_atfr import checkpoint as cu
from slowfast_atfr.utils import distributed as du
from slowfast_atfr.utils import env, logging

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
        cfg.OUTPUT_DIR, trainer.model, trainer.optimizer,
        epoch, cfg, scaler=trainer.scaler, iteration=iterations_done,
        extra={"train_loop": _loop_state(trainer)},
    )
    if du.is_master_proc():
        cu.prune_mid_epoch_checkpoints(cfg.OUTPUT_DIR, cfg.TRAIN.CHECKPOINT_ITER_KEEP)
    du.synchronize()
    return path


def resume(trainer: "Trainer") -> Tuple[int, int]:
    """(start epoch, start iteration inside it), in `cu.load_train_state`'s order; the loop
    state saved with a resumed checkpoint waits in `trainer.pending_loop_state`."""
    if du.is_master_proc():  # this run holds the OUTPUT_DIR lock: no other writer
        cu.remove_stale_temp_files(trainer.cfg.OUTPUT_DIR)
    start = cu.load_train_state(trainer.cfg, trainer.model, trainer.optimizer, trainer.scaler)
    trainer.pending_loop_state = start.train_loop
    return start.start_epoch, start.start_iter


def reload_last(trainer: "Trainer") -> None:
    """Load the last checkpoint of OUTPUT_DIR into the rebuilt model (multigrid shape change)."""
    path = cu.get_last_checkpoint(trainer.cfg.OUTPUT_DIR)
    if path is not None:
        cu.load_run_checkpoint(path, trainer.model, trainer.optimizer, trainer.scaler)
        logger.info("Reloaded %s after the shape change.", path)
