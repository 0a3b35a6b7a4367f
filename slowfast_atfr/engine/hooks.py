"""Hooks of the train loop, one job each (detectron2 style).

The trainer calls, in registration order: `before_train`, then per epoch `before_epoch`,
per iteration `before_step` / `after_step`, then `after_epoch`, and `after_train`.
"""

from typing import TYPE_CHECKING, Any, Dict, List, Optional

from slowfast_atfr.datasets import loader as data_loader
from slowfast_atfr.engine import checkpointing
from slowfast_atfr.engine.precise_bn import compute_precise_bn_stats
from slowfast_atfr.solver.optimizer import get_epoch_lr, set_lr
from slowfast_atfr.utils import distributed as du
from slowfast_atfr.utils import logging, misc

if TYPE_CHECKING:
    from slowfast_atfr.engine.trainer import Trainer

logger = logging.get_logger(__name__)


class HookBase:
    """A hook sees the trainer's state (`self.trainer`: epoch, iteration, batch, ...)."""

    trainer: "Trainer"

    def before_train(self) -> None:
        pass

    def before_epoch(self) -> None:
        pass

    def before_step(self) -> None:
        pass

    def after_step(self) -> None:
        pass

    def after_epoch(self) -> None:
        pass

    def after_train(self) -> None:
        pass

    def state_dict(self) -> Optional[Dict[str, Any]]:
        """What a checkpoint must keep for a resumed run to go on exactly (None: nothing).

        Called on every rank at once (it may gather)."""
        return None

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        pass


class LRScheduler(HookBase):
    """Set the lr of every iteration from the fractional epoch (SOLVER.LR_POLICY)."""

    def before_step(self) -> None:
        t = self.trainer
        lr = get_epoch_lr(t.cfg, t.epoch + t.iteration / max(t.epoch_iters, 1))
        set_lr(t.optimizer, lr)
        t.lr = lr


class EpochStatsLogger(HookBase):
    """Log the train meter's epoch json_stats (after the hooks that add to it)."""

    def after_epoch(self) -> None:
        self.trainer.train_meter.log_epoch_stats(self.trainer.epoch)


class PreciseBN(HookBase):
    """Recompute BN statistics before a checkpoint or an evaluation (BN.USE_PRECISE_STATS)."""

    def after_epoch(self) -> None:
        t = self.trainer
        cfg = t.cfg
        if not cfg.BN.USE_PRECISE_STATS:
            return
        if not (t.is_checkpoint_epoch() or t.is_eval_epoch()):
            return
        loader = t.precise_bn_loader()
        data_loader.shuffle_dataset(loader, t.epoch)
        num_iters = min(cfg.BN.NUM_BATCHES_PRECISE, len(loader))
        logger.info("Precise BN: recomputing statistics on %d batches.", num_iters)
        compute_precise_bn_stats(t.model, loader, num_iters, t.device)


class PeriodicCheckpointer(HookBase):
    """Save at epoch ends (TRAIN.CHECKPOINT_PERIOD, the last epoch, before a multigrid shape
    change) and every TRAIN.CHECKPOINT_ITER_PERIOD iterations inside an epoch."""

    def after_step(self) -> None:
        t = self.trainer
        period = t.cfg.TRAIN.CHECKPOINT_ITER_PERIOD
        done = t.iteration + 1
        if period > 0 and done % period == 0 and done < t.epoch_iters:
            checkpointing.save(t, t.epoch, iterations_done=done)

    def after_epoch(self) -> None:
        t = self.trainer
        if t.is_checkpoint_epoch():
            checkpointing.save(t, t.epoch)


class PeriodicEval(HookBase):
    """Evaluate on the validation split every TRAIN.EVAL_PERIOD epochs and at the end."""

    def after_epoch(self) -> None:
        t = self.trainer
        if t.is_eval_epoch():
            t.evaluate()


class BadVideoCounter(HookBase):
    """Count the bad videos the loader replaced: each path logged once, totals per epoch."""

    def __init__(self) -> None:
        self.seen: Dict[str, int] = {}
        self.epoch_paths: List[str] = []

    def before_epoch(self) -> None:
        self.epoch_paths = []

    def after_step(self) -> None:
        paths = misc.bad_videos_of(self.trainer.meta)
        self.epoch_paths.extend(paths)

    def after_epoch(self) -> None:
        paths = du.all_gather_strings(self.epoch_paths)
        for path in paths:
            if path not in self.seen:
                logger.warning("Bad video replaced during training: %s", path)
            self.seen[path] = self.seen.get(path, 0) + 1
        self.trainer.train_meter.extra["bad_videos"] = len(paths)

    def state_dict(self) -> Dict[str, Any]:
        return {"seen": dict(self.seen),
                "epoch_paths": du.all_gather_strings(self.epoch_paths)}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.seen = dict(state["seen"])
        # Rank 0 carries what all ranks met; the others add theirs from here on.
        self.epoch_paths = list(state["epoch_paths"]) if du.is_master_proc() else []

    def after_train(self) -> None:
        if self.seen:
            logger.warning("Training met %d bad videos (%d distinct): %s",
                           sum(self.seen.values()), len(self.seen), sorted(self.seen))
        else:
            logger.info("Training met no bad video.")
