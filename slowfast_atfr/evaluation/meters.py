"""Train and validation meters: loss, lr, top-k error, timing, `json_stats` lines.

Test-time aggregation over views is in `view_ensemble.py`; B' and GFLOPs statistics of
ATFR models are in `atfr_meter.py`.
"""

from collections import deque
from typing import Any, Dict, List, Optional

import numpy as np
from fvcore.common.config import CfgNode
from fvcore.common.timer import Timer

from slowfast_atfr.utils import distributed as du
from slowfast_atfr.utils import logging, misc
from slowfast_atfr.utils.progress import eta_text

logger = logging.get_logger(__name__)


class ScalarMeter:
    """A scalar series with a sliding window (for iteration logs) and a global mean."""

    def __init__(self, window_size: int) -> None:
        self.deque: deque = deque(maxlen=window_size)
        self.total = 0.0
        self.count = 0

    def reset(self) -> None:
        self.deque.clear()
        self.total = 0.0
        self.count = 0

    def add_value(self, value: float, weight: int = 1) -> None:
        self.deque.append(value)
        self.total += value * weight
        self.count += weight

    def get_win_median(self) -> float:
        """Median of the window; NaN when nothing was counted (never a made-up 0)."""
        return float(np.median(self.deque)) if self.deque else float("nan")

    def get_global_avg(self) -> float:
        """Mean of every value; NaN when nothing was counted."""
        return self.total / self.count if self.count else float("nan")

    def state_dict(self) -> Dict[str, Any]:
        return {"window": list(self.deque), "total": self.total, "count": self.count}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.deque.clear()
        self.deque.extend(state["window"])
        self.total, self.count = state["total"], state["count"]


class TensorboardWriter:
    """Scalars to TensorBoard (TENSORBOARD.ENABLE); tensorboard is imported only when used."""

    def __init__(self, log_dir: str) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=log_dir)

    def add_scalars(self, scalars: Dict[str, Any], step: int) -> None:
        """Numbers as they are; a per-pathway list (mean_bprime) as `key/pathway<p>`."""
        for key, value in scalars.items():
            if isinstance(value, (list, tuple)):
                for p, item in enumerate(value):
                    self.add_scalars({f"{key}/pathway{p}": item}, step)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def add_count_histogram(self, tag: str, counts: Dict[str, int], step: int) -> None:
        """A histogram of integer values from their counts ({"3": 12, ...}: 12 clips at B' 3),
        one bin per value."""
        values = sorted((int(v), c) for v, c in counts.items())
        if not values:
            return
        num = sum(c for _, c in values)
        self.writer.add_histogram_raw(
            tag, min=values[0][0], max=values[-1][0], num=num,
            sum=sum(v * c for v, c in values), sum_squares=sum(v * v * c for v, c in values),
            bucket_limits=[v + 0.5 for v, _ in values], bucket_counts=[c for _, c in values],
            global_step=step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def build_tensorboard_writer(cfg: CfgNode) -> Optional[TensorboardWriter]:
    """A writer on rank 0 when TENSORBOARD.ENABLE, else None."""
    if not (cfg.TENSORBOARD.ENABLE and du.is_master_proc()):
        return None
    import os

    return TensorboardWriter(cfg.TENSORBOARD.LOG_DIR or os.path.join(cfg.OUTPUT_DIR, "runs"))


class EpochMeter:
    """Loss, lr, top-1/top-5 error, mean B' and timing over one epoch of one split.

    Args:
        split: "train" or "val" (the `_type` prefix of the json_stats lines).
        epoch_iters: iterations per epoch.
        cfg: the config (MAX_EPOCH, LOG_PERIOD, OUTPUT_DIR).
        writer: optional TensorBoard writer.
    """

    def __init__(self, split: str, epoch_iters: int, cfg: CfgNode,
                 writer: Optional[TensorboardWriter] = None) -> None:
        self.split = split
        self.epoch_iters = epoch_iters
        self.max_epoch = cfg.SOLVER.MAX_EPOCH
        self.log_period = cfg.LOG_PERIOD
        self.output_dir = cfg.OUTPUT_DIR
        self.writer = writer
        self.iter_timer, self.data_timer, self.net_timer = Timer(), Timer(), Timer()
        self.loss = ScalarMeter(cfg.LOG_PERIOD)
        # The epoch's last losses, for TRAIN.KILL_LOSS_EXPLOSION_FACTOR (whatever LOG_PERIOD).
        self.recent_losses: deque = deque(maxlen=misc.LOSS_EXPLOSION_WINDOW)
        self.top1_err = ScalarMeter(cfg.LOG_PERIOD)
        self.top5_err = ScalarMeter(cfg.LOG_PERIOD)
        self.iter_time = ScalarMeter(cfg.LOG_PERIOD)
        self.bprime: List[ScalarMeter] = []
        self.lr = None
        self.num_samples = 0
        self.min_top1_err = 100.0
        self.min_top5_err = 100.0
        self.extra: Dict[str, Any] = {}

    def reset(self) -> None:
        for meter in [self.loss, self.top1_err, self.top5_err, *self.bprime]:
            meter.reset()
        self.recent_losses.clear()
        self.lr = None
        self.num_samples = 0
        self.extra = {}

    def state_dict(self) -> Dict[str, Any]:
        """What the epoch counted so far: a run resumed mid-epoch reports the whole epoch."""
        return {"meters": [m.state_dict() for m in [self.loss, self.top1_err, self.top5_err,
                                                    *self.bprime]],
                "num_samples": self.num_samples, "lr": self.lr,
                "recent_losses": list(self.recent_losses)}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        meters = state["meters"]
        self.bprime = [ScalarMeter(self.log_period) for _ in meters[3:]]
        for meter, saved in zip([self.loss, self.top1_err, self.top5_err, *self.bprime], meters):
            meter.load_state_dict(saved)
        self.num_samples, self.lr = state["num_samples"], state["lr"]
        self.recent_losses.clear()
        self.recent_losses.extend(state.get("recent_losses", ()))

    def iter_tic(self) -> None:
        """Start timing an iteration (the data loading part first)."""
        self.iter_timer.reset()
        self.data_timer.reset()

    def data_toc(self) -> None:
        """The batch is loaded: start the net timer."""
        self.data_timer.pause()
        self.net_timer.reset()

    def iter_toc(self) -> None:
        self.iter_timer.pause()
        self.net_timer.pause()
        self.iter_time.add_value(self.iter_timer.seconds())

    def eta_seconds(self, cur_epoch: int, cur_iter: int) -> float:
        """Time left: of the whole training for "train", of this epoch for "val" (from the
        median iteration time of the window)."""
        left = self.epoch_iters - cur_iter - 1
        if self.split == "train":
            left += (self.max_epoch - cur_epoch - 1) * self.epoch_iters
        return self.iter_time.get_win_median() * left

    def update_stats(self, top1_err: float, top5_err: float, loss: Optional[float],
                     lr: Optional[float], mb_size: int,
                     mean_bprime: Optional[List[float]] = None) -> None:
        """Record one batch; errors in percent, `mean_bprime` one value per pathway."""
        if loss is not None:
            self.loss.add_value(loss, mb_size)
            self.recent_losses.append(loss)
        self.top1_err.add_value(top1_err, mb_size)
        self.top5_err.add_value(top5_err, mb_size)
        if mean_bprime is not None:
            while len(self.bprime) < len(mean_bprime):
                self.bprime.append(ScalarMeter(self.log_period))
            for meter, value in zip(self.bprime, mean_bprime):
                meter.add_value(value, mb_size)
        self.lr = lr
        self.num_samples += mb_size

    def _common(self, cur_epoch: int) -> Dict[str, Any]:
        stats: Dict[str, Any] = {"epoch": f"{cur_epoch + 1}/{self.max_epoch}",
                                 "gpu_mem": f"{misc.gpu_mem_usage():.2f}G"}
        if self.lr is not None:
            stats["lr"] = self.lr
        return stats

    def log_iter_stats(self, cur_epoch: int, cur_iter: int) -> Optional[Dict[str, Any]]:
        """Log a json_stats line every LOG_PERIOD iterations (rank 0)."""
        if (cur_iter + 1) % self.log_period != 0 or not du.is_master_proc():
            return None
        stats = {"_type": f"{self.split}_iter", **self._common(cur_epoch),
                 "iter": f"{cur_iter + 1}/{self.epoch_iters}",
                 "eta": eta_text(self.eta_seconds(cur_epoch, cur_iter)),
                 "time_diff": self.iter_timer.seconds(), "dt_data": self.data_timer.seconds(),
                 "dt_net": self.net_timer.seconds(),
                 "top1_err": self.top1_err.get_win_median(),
                 "top5_err": self.top5_err.get_win_median()}
        if self.loss.count:
            stats["loss"] = self.loss.get_win_median()
        logging.log_json_stats(stats)
        if self.writer is not None:
            step = cur_epoch * self.epoch_iters + cur_iter + 1
            self.writer.add_scalars({f"{self.split}_iter/{k}": stats[k]
                                     for k in ("loss", "lr", "top1_err") if k in stats}, step)
        return stats

    def log_epoch_stats(self, cur_epoch: int) -> Dict[str, Any]:
        """Log and return the epoch's json_stats (rank 0 writes OUTPUT_DIR/json_stats.log).

        Raises:
            RuntimeError: the epoch counted no sample: its errors would be made up.
        """
        if self.num_samples == 0:
            raise RuntimeError(
                f"The {self.split} epoch {cur_epoch + 1} counted no sample, so it has no error "
                "to report; its data loader yielded no batch (see the batch size and data set "
                "size checks)."
            )
        top1, top5 = self.top1_err.get_global_avg(), self.top5_err.get_global_avg()
        self.min_top1_err = min(self.min_top1_err, top1)
        self.min_top5_err = min(self.min_top5_err, top5)
        stats = {"_type": f"{self.split}_epoch", **self._common(cur_epoch),
                 "top1_err": top1, "top5_err": top5, "top1_acc": 100.0 - top1,
                 "top5_acc": 100.0 - top5, "num_samples": self.num_samples, **self.extra}
        if self.loss.count:
            stats["loss"] = self.loss.get_global_avg()
        if self.split == "val":
            stats.update(min_top1_err=self.min_top1_err, min_top5_err=self.min_top5_err)
        if self.bprime:
            stats["mean_bprime"] = [m.get_global_avg() for m in self.bprime]
        if du.is_master_proc():
            logging.log_json_stats(stats, self.output_dir)
            if self.writer is not None:
                scalars = {f"{self.split}/{k}": v for k, v in stats.items()}
                self.writer.add_scalars(scalars, cur_epoch + 1)
        return stats
