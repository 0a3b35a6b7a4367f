"""The train loop: epochs of iterations, extended through hooks (engine/hooks.py).

Assumptions: `construct_loader(cfg, split)` yields `(inputs, labels, index,
meta)` with inputs one [N, C, T, H, W] tensor per pathway; the model returns logits [N, K]
in train and eval and sets `temporal_lengths` [N, P] (or None without ATFR).
"""

import signal
from typing import List, Optional

import torch
from fvcore.common.config import CfgNode

from slowfast_atfr import checkpoint as cu
from slowfast_atfr.datasets import loader as data_loader
from slowfast_atfr.engine import checkpointing, hooks
from slowfast_atfr.engine.multigrid import MultigridSchedule
from slowfast_atfr.engine.preemption import StopSignals, TrainingInterrupted
from slowfast_atfr.engine.setup import default_setup
from slowfast_atfr.engine.train_step import TrainStep
from slowfast_atfr.evaluation import metrics
from slowfast_atfr.evaluation.meters import EpochMeter, build_tensorboard_writer
from slowfast_atfr.models import bn_layout, build_model
from slowfast_atfr.models.cost import params_count
from slowfast_atfr.utils import distributed as du
from slowfast_atfr.utils import env, logging, misc
from slowfast_atfr.utils.progress import track

logger = logging.get_logger(__name__)


def default_hooks() -> List[hooks.HookBase]:
    """The standard hooks, in the order they must run at an epoch's end."""
    return [hooks.LRScheduler(), hooks.BadVideoCounter(), hooks.EpochStatsLogger(),
            hooks.PreciseBN(), hooks.PeriodicCheckpointer(), hooks.PeriodicEval()]


class Trainer:
    """Owns the model, optimizer, grad scaler, loaders and meters of one training run."""

    def __init__(self, cfg: CfgNode, hook_list: Optional[List[hooks.HookBase]] = None) -> None:
        self.cfg = cfg
        self.device = du.device_of(cfg)
        self.multigrid: Optional[MultigridSchedule] = None
        if cfg.MULTIGRID.LONG_CYCLE or cfg.MULTIGRID.SHORT_CYCLE:
            self.multigrid = MultigridSchedule()
            self.multigrid.init_multigrid(cfg)
            if cfg.MULTIGRID.LONG_CYCLE:
                self.multigrid.update_long_cycle(cfg, 0)
        self.writer = build_tensorboard_writer(cfg)
        self.hooks = default_hooks() if hook_list is None else hook_list
        for hook in self.hooks:
            hook.trainer = self
        self.epoch, self.iteration, self.epoch_iters = 0, 0, 0
        self.lr: Optional[float] = None
        self.meta: dict = {}
        self._precise_bn_loader = None
        # The "train_loop" state of the checkpoint resumed from, applied as its epoch starts.
        self.pending_loop_state: Optional[dict] = None
        self.stop = StopSignals()
        self.build()

    def build(self) -> None:
        """(Re)build model, optimizer, scaler, loaders and meters for the current config."""
        cfg = self.cfg
        model = build_model(cfg)
        if du.is_master_proc() and cfg.LOG_MODEL_INFO:
            logger.info("Model %s: %.3f M parameters.", type(model).__name__,
                        params_count(model) / 1e6)
        self.model = du.place_model(cfg, model)
        self.step = TrainStep.from_cfg(cfg, self.model)
        self.train_loader = data_loader.construct_loader(cfg, "train")
        self._check_iterations()
        self.val_loader = data_loader.construct_loader(cfg, "val")
        self._precise_bn_loader = None
        self.train_meter = EpochMeter("train", len(self.train_loader), cfg, self.writer)
        self.val_meter = EpochMeter("val", len(self.val_loader), cfg, self.writer)

    def _check_iterations(self) -> None:
        """Refuse an epoch of zero iterations: it would train nothing and report made-up
        statistics."""
        if len(self.train_loader) > 0:
            return
        cfg, loader = self.cfg, self.train_loader
        phase = (f" in the multigrid phase at {cfg.DATA.NUM_FRAMES} frames x "
                 f"{cfg.DATA.TRAIN_CROP_SIZE} px" if self.multigrid is not None else "")
        raise ValueError(
            f"TRAIN.BATCH_SIZE={cfg.TRAIN.BATCH_SIZE}{phase} gives each of the "
            f"{du.get_world_size()} processes batches larger than its "
            f"{len(loader.batch_sampler.sampler)} of the {len(loader.dataset)} training clips "
            f"(data set {cfg.TRAIN.DATASET!r} in {cfg.DATA.PATH_TO_DATA_DIR!r}); the last "
            "partial batch is dropped, so every epoch would train zero iterations. Lower "
            "TRAIN.BATCH_SIZE (multigrid scales it up for small shapes), or add videos."
        )

    @property
    def optimizer(self) -> torch.optim.Optimizer:
        return self.step.optimizer

    @property
    def scaler(self) -> torch.amp.GradScaler:
        return self.step.scaler

    def precise_bn_loader(self):
        if self._precise_bn_loader is None:
            self._precise_bn_loader = data_loader.construct_loader(
                self.cfg, "train", is_precise_bn=True)
        return self._precise_bn_loader

    def is_checkpoint_epoch(self) -> bool:
        period = misc.is_period_epoch(self.epoch, self.cfg.TRAIN.CHECKPOINT_PERIOD,
                                      self.cfg.SOLVER.MAX_EPOCH)
        return period or bool(self.multigrid and self.multigrid.shape_changes_after(self.epoch))

    def is_eval_epoch(self) -> bool:
        return misc.is_period_epoch(self.epoch, self.cfg.TRAIN.EVAL_PERIOD,
                                    self.cfg.SOLVER.MAX_EPOCH)

    def _call(self, stage: str) -> None:
        for hook in self.hooks:
            getattr(hook, stage)()

    def train(self) -> None:
        """Run (or resume) training until SOLVER.MAX_EPOCH.

        Raises:
            TrainingInterrupted: SIGTERM or SIGINT arrived; a checkpoint of the iteration
                reached was saved, and rerunning the same command resumes from it.
        """
        with self.stop:
            self._train()

    def _train(self) -> None:
        start_epoch, start_iter = checkpointing.resume(self)
        self._call("before_train")
        for epoch in range(start_epoch, self.cfg.SOLVER.MAX_EPOCH):
            self.epoch = epoch
            if self.multigrid is not None and self.cfg.MULTIGRID.LONG_CYCLE:
                _, changed = self.multigrid.update_long_cycle(self.cfg, epoch)
                if changed:
                    self.build()
                    checkpointing.reload_last(self)
            # Seed per epoch, so a resumed epoch sees the same batches as an uninterrupted one.
            env.seed_all(self.cfg.RNG_SEED + du.get_rank() + 100003 * (epoch + 1))
            data_loader.shuffle_dataset(self.train_loader, epoch)
            self._call("before_epoch")
            self.train_epoch(start_iter if epoch == start_epoch else 0)
            self._call("after_epoch")
            if self._stop_agreed():
                self._stop_after_epoch()
        self._call("after_train")
        if self.writer is not None:
            self.writer.close()

    def train_epoch(self, start_iter: int = 0) -> None:
        """One epoch from iteration `start_iter` (the earlier ones were done before a restart)."""
        self._train_mode()
        self.train_meter.reset()
        self.epoch_iters = len(self.train_loader)
        self.train_meter.epoch_iters = self.epoch_iters
        batches = iter(data_loader.skip_batches(self.train_loader, start_iter))
        if self.pending_loop_state is not None:
            # After the loader drew its seed, as the uninterrupted run's loader did.
            checkpointing.restore_loop_state(self, self.pending_loop_state, start_iter > 0)
            self.pending_loop_state = None
        self.train_meter.iter_tic()
        desc = f"Epoch {self.epoch + 1}/{self.cfg.SOLVER.MAX_EPOCH}"
        for i, (inputs, labels, _, meta) in enumerate(
                track(batches, self.epoch_iters - start_iter, desc), start=start_iter):
            self.iteration, self.meta = i, meta
            self.train_meter.data_toc()
            self._call("before_step")
            stop = self.run_step(inputs, labels)
            self._call("after_step")
            self.train_meter.iter_toc()
            self.train_meter.log_iter_stats(self.epoch, i)
            if stop:
                self._stop_mid_epoch(stop)
            self.train_meter.iter_tic()

    def _agreed_signal(self, any_rank_received: bool) -> int:
        """The signal to stop on (this rank's own, else SIGTERM), or 0 when no rank got one."""
        return (self.stop.received or int(signal.SIGTERM)) if any_rank_received else 0

    def _stop_agreed(self) -> int:
        flag = torch.tensor([float(self.stop.received)], device=self.device)
        du.all_reduce([flag], average=False)
        return self._agreed_signal(bool(flag.item() > 0))

    def _stop_mid_epoch(self, signum: int) -> None:
        """Save after the iteration just done (possibly the epoch's last: a resumed run then
        runs the epoch-end hooks) and stop."""
        path = checkpointing.save(self, self.epoch, iterations_done=self.iteration + 1)
        self._interrupted(signum, path, f"iteration {self.iteration + 1}/{self.epoch_iters} "
                                        f"of epoch {self.epoch + 1}")

    def _stop_after_epoch(self) -> None:
        path = (cu.get_path_to_checkpoint(self.cfg.OUTPUT_DIR, self.epoch)
                if self.is_checkpoint_epoch() else checkpointing.save(self, self.epoch))
        self._interrupted(self._agreed_signal(True), path, f"the end of epoch {self.epoch + 1}")

    def _interrupted(self, signum: int, path: str, where: str) -> None:
        logger.warning("%s received: stopped at %s and saved %s. Rerun the same command to "
                       "resume exactly from there.", signal.Signals(signum).name, where, path)
        raise TrainingInterrupted(signum, path)

    def run_step(self, inputs: List[torch.Tensor], labels: torch.Tensor) -> int:
        """The shared TrainStep, with the finite-loss check and the meters' statistics.

        Returns:
            the stop signal some rank received (0: none), agreed on by every rank.
        """
        inputs, labels = misc.to_device(inputs, self.device), labels.to(self.device)
        logits, loss = self.step.forward(inputs, labels)
        top1, top5 = metrics.topk_errors(logits.detach(), labels, (1, 5))
        # The stop flag rides on the statistics' all-reduce: no extra collective per step.
        stats = torch.tensor([loss.detach().item(), top1, top5, float(self.stop.received)],
                             device=self.device)
        du.all_reduce([stats], average=True)
        misc.check_finite_loss(stats[0], self.epoch, self.iteration)
        misc.check_loss_explosion(float(stats[0]), self.train_meter.recent_losses,
                                  self.cfg.TRAIN.KILL_LOSS_EXPLOSION_FACTOR, self.epoch,
                                  self.iteration)
        self.step.update(loss)
        self.train_meter.update_stats(
            float(stats[1]), float(stats[2]), float(stats[0]), self.lr,
            labels.shape[0] * du.get_world_size(), self._mean_bprime())
        return self._agreed_signal(bool(stats[3] > 0))

    def _mean_bprime(self) -> Optional[List[float]]:
        lengths = du.unwrap_model(self.model).temporal_lengths
        return None if lengths is None else lengths.float().mean(0).tolist()

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Top-1/top-5 error (and mean B') on the validation split; logs val json_stats."""
        bn_layout.aggregate_sub_bn_stats(self.model)
        self.model.eval()
        self.val_meter.reset()
        bad_videos: List[str] = []
        self.val_meter.iter_tic()
        for i, (inputs, labels, _, meta) in enumerate(
                track(self.val_loader, len(self.val_loader), "Validation")):
            self.val_meter.data_toc()
            bad_videos.extend(misc.bad_videos_of(meta))
            inputs, labels = misc.to_device(inputs, self.device), labels.to(self.device)
            with self.step.autocast():
                logits = self.model(inputs)
            top1, top5 = metrics.topk_errors(logits.float(), labels, (1, 5))
            stats = torch.tensor([top1, top5], device=self.device)
            du.all_reduce([stats], average=True)
            self.val_meter.update_stats(float(stats[0]), float(stats[1]), None, None,
                                        labels.shape[0] * du.get_world_size(),
                                        self._mean_bprime())
            self.val_meter.iter_toc()
            self.val_meter.log_iter_stats(self.epoch, i)
            self.val_meter.iter_tic()
        bad_videos = du.all_gather_strings(bad_videos)
        if bad_videos:
            logger.warning("Validation replaced %d bad videos: %s", len(bad_videos),
                           sorted(set(bad_videos)))
        self.val_meter.extra["bad_videos"] = len(bad_videos)
        result = self.val_meter.log_epoch_stats(self.epoch)
        self._train_mode()
        return result

    def _train_mode(self) -> None:
        """Training mode, with BatchNorm statistics fixed under MODEL.FROZEN_BN."""
        self.model.train()
        if self.cfg.MODEL.FROZEN_BN:
            bn_layout.freeze_bn_statistics(self.model)


def train(cfg: CfgNode) -> None:
    """Entry of one training process (see `slowfast_atfr.engine.launch.launch_job`)."""
    default_setup(cfg, "train")
    Trainer(cfg).train()
