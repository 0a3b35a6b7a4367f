"""The train loop: epochs of iterations, extended through hooks (engine/hooks.py).

Assumptions: `construct_loader(cfg, split)` yields `(inputs, labels, index,
meta)` with inputs one [N, C, T, H, W] tensor per pathway; the model returns logits [N, K]
in train and eval and sets `temporal_lengths` [N, P] (or None without ATFR).
"""

import itertools
from typing import List, Optional

import torch
from fvcore.common.config import CfgNode

from slowfast_atfr.datasets import loader as data_loader
from slowfast_atfr.engine import checkpointing, hooks
from slowfast_atfr.engine.setup import default_setup
from slowfast_atfr.engine.train_step import TrainStep
from slowfast_atfr.models import build_model
from slowfast_atfr.utils import bn_helper, env, logging, metrics, misc
from slowfast_atfr.utils import distributed as du
from slowfast_atfr.utils.flops import params_count
from slowfast_atfr.utils.meters import EpochMeter, build_tensorboard_writer
from slowfast_atfr.utils.multigrid import MultigridSchedule

logger = logging.get_logger(__name__)


def default_hooks() -> List[hooks.HookBase]:
    """The standard hooks, in the order they must run at an epoch's end."""
    return [hooks.LRScheduler(), hooks.BadVideoCounter(), hooks.EpochStatsLogger(),
            hooks.PreciseBN(), hooks.PeriodicCheckpointer(), hooks.PeriodicEval()]


class _SkipBatches(torch.utils.data.Sampler):
    """A batch sampler that drops the first `skip` batches of `batch_sampler` (resume)."""

    def __init__(self, batch_sampler, skip: int) -> None:
        self.batch_sampler, self.skip = batch_sampler, skip

    def __iter__(self):
        return itertools.islice(iter(self.batch_sampler), self.skip, None)

    def __len__(self) -> int:
        return max(len(self.batch_sampler) - self.skip, 0)


def skip_batches(loader: torch.utils.data.DataLoader, skip: int):
    """`loader` without its first `skip` batches, which are never loaded."""
    if skip == 0:
        return loader
    return torch.utils.data.DataLoader(
        loader.dataset, batch_sampler=_SkipBatches(loader.batch_sampler, skip),
        num_workers=loader.num_workers, collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory, worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context, timeout=loader.timeout,
    )


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
        self.val_loader = data_loader.construct_loader(cfg, "val")
        self._precise_bn_loader = None
        self.train_meter = EpochMeter("train", len(self.train_loader), cfg, self.writer)
        self.val_meter = EpochMeter("val", len(self.val_loader), cfg, self.writer)

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
        """Run (or resume) training until SOLVER.MAX_EPOCH."""
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
        self._call("after_train")
        if self.writer is not None:
            self.writer.close()

    def train_epoch(self, start_iter: int = 0) -> None:
        """One epoch from iteration `start_iter` (the earlier ones were done before a restart)."""
        self.model.train()
        self.train_meter.reset()
        self.epoch_iters = len(self.train_loader)
        self.train_meter.epoch_iters = self.epoch_iters
        self.train_meter.iter_tic()
        for i, (inputs, labels, _, meta) in enumerate(
                skip_batches(self.train_loader, start_iter), start=start_iter):
            self.iteration, self.meta = i, meta
            self.train_meter.data_toc()
            self._call("before_step")
            self.run_step(inputs, labels)
            self._call("after_step")
            self.train_meter.iter_toc()
            self.train_meter.log_iter_stats(self.epoch, i)
            self.train_meter.iter_tic()

    def run_step(self, inputs: List[torch.Tensor], labels: torch.Tensor) -> None:
        """The shared TrainStep, with the finite-loss check and the meters' statistics."""
        inputs, labels = misc.to_device(inputs, self.device), labels.to(self.device)
        logits, loss = self.step.forward(inputs, labels)
        top1, top5 = metrics.topk_errors(logits.detach(), labels, (1, 5))
        stats = torch.tensor([loss.detach().item(), top1, top5], device=self.device)
        du.all_reduce([stats], average=True)
        misc.check_finite_loss(stats[0], self.epoch, self.iteration)
        self.step.update(loss)
        self.train_meter.update_stats(
            float(stats[1]), float(stats[2]), float(stats[0]), self.lr,
            labels.shape[0] * du.get_world_size(), self._mean_bprime())

    def _mean_bprime(self) -> Optional[List[float]]:
        lengths = du.unwrap_model(self.model).temporal_lengths
        return None if lengths is None else lengths.float().mean(0).tolist()

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Top-1/top-5 error (and mean B') on the validation split; logs val json_stats."""
        bn_helper.aggregate_sub_bn_stats(self.model)
        self.model.eval()
        self.val_meter.reset()
        for inputs, labels, _, _ in self.val_loader:
            inputs, labels = misc.to_device(inputs, self.device), labels.to(self.device)
            with self.step.autocast():
                logits = self.model(inputs)
            top1, top5 = metrics.topk_errors(logits.float(), labels, (1, 5))
            stats = torch.tensor([top1, top5], device=self.device)
            du.all_reduce([stats], average=True)
            self.val_meter.update_stats(float(stats[0]), float(stats[1]), None, None,
                                        labels.shape[0] * du.get_world_size(),
                                        self._mean_bprime())
        result = self.val_meter.log_epoch_stats(self.epoch)
        self.model.train()
        return result


def train(cfg: CfgNode) -> None:
    """Entry of one training process (see `slowfast_atfr.engine.launch.launch_job`)."""
    default_setup(cfg, "train")
    Trainer(cfg).train()
