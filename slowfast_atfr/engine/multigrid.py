"""Multigrid training schedule (Wu et al., "A Multigrid Method for Efficiently Training
Video Models", CVPR 2020), with the (T, S) shape factors and epoch rules upstream uses.

Long cycle: training runs through shapes (T * t_factor, S * s_factor) per
MULTIGRID.LONG_CYCLE_FACTORS with the batch scaled so B * T * S^2 stays constant, within
every lr step, plus a final fine-tuning phase at the full shape. The schedule rewrites
SOLVER.STEPS / SOLVER.LRS (lr scaled with the batch) and SOLVER.MAX_EPOCH (total =
MAX_EPOCH * EPOCH_FACTOR). Short cycle: the data helper's ShortCycleBatchSampler varies
the crop every iteration; here only the epochs are scaled.
"""

from typing import List, Optional, Tuple

import numpy as np
from fvcore.common.config import CfgNode

from slowfast_atfr.utils import distributed as du
from slowfast_atfr.utils import logging

logger = logging.get_logger(__name__)

# (lr step index, [batch factor, T, S], end epoch) of one phase.
Phase = Tuple[int, List[int], int]


def long_cycle_schedule(cfg: CfgNode) -> List[Phase]:
    """The long-cycle phases for the default shape in `cfg` (see the module docstring)."""
    steps = list(cfg.SOLVER.STEPS) + [cfg.SOLVER.MAX_EPOCH]
    t0, s0 = cfg.MULTIGRID.DEFAULT_T, cfg.MULTIGRID.DEFAULT_S
    default_size = float(t0 * s0 * s0)
    avg_bs, all_shapes = [], []
    for t_factor, s_factor in cfg.MULTIGRID.LONG_CYCLE_FACTORS:
        base_t = max(1, int(round(t0 * t_factor)))
        base_s = int(round(s0 * s_factor))
        shapes = [[base_t, base_s]]
        if cfg.MULTIGRID.SHORT_CYCLE:
            shapes = [[base_t, s0 * f] for f in cfg.MULTIGRID.SHORT_CYCLE_FACTORS] + shapes
        # (T, S) -> [B factor, T, S] with B * T * S^2 constant.
        shapes = [[int(round(default_size / (t * s * s))), t, int(round(s))] for t, s in shapes]
        avg_bs.append(float(np.mean([s[0] for s in shapes])))
        all_shapes.append(shapes)
    schedule, total_iters = [], 0.0
    for step in range(len(steps) - 2):
        step_epochs = steps[step + 1] - steps[step]
        for index, shapes in enumerate(all_shapes):
            epochs = step_epochs * avg_bs[index] / sum(avg_bs)
            total_iters += epochs / avg_bs[index]
            schedule.append((step, shapes[-1], epochs))
    if not schedule:
        raise ValueError(
            f"MULTIGRID.LONG_CYCLE needs SOLVER.STEPS with at least one step after 0 and "
            f"before SOLVER.MAX_EPOCH={cfg.SOLVER.MAX_EPOCH}; got {list(cfg.SOLVER.STEPS)}."
        )
    iter_saving = (steps[-2] - steps[0]) / total_iters
    # The fine-tuning phase saves as many iterations as the rest of the schedule.
    ft_epochs = (steps[-1] - steps[-2]) / iter_saving * avg_bs[-1]
    schedule.append((len(steps) - 2, all_shapes[-1][-1], ft_epochs))
    scale = cfg.SOLVER.MAX_EPOCH * cfg.MULTIGRID.EPOCH_FACTOR / sum(s[2] for s in schedule)
    final, total = [], 0.0
    for step, shape, epochs in schedule:
        total += epochs * scale
        final.append((step, shape, int(round(total))))
    return final


def shape_at_epoch(schedule: List[Phase], epoch: int) -> List[int]:
    """[batch factor, T, S] of the phase containing 0-based `epoch`."""
    for _, shape, end in schedule:
        if epoch < end:
            return shape
    return schedule[-1][1]


class MultigridSchedule:
    """Rewrites the config for multigrid training and tells when the shape changes."""

    def __init__(self) -> None:
        self.schedule: Optional[List[Phase]] = None
        self.default_sampling_rate = 0

    def init_multigrid(self, cfg: CfgNode) -> CfgNode:
        """Rewrite SOLVER.STEPS / LRS / MAX_EPOCH for the long or short cycle (in place)."""
        self.default_sampling_rate = cfg.DATA.SAMPLING_RATE
        if cfg.MULTIGRID.LONG_CYCLE:
            if cfg.SOLVER.LR_POLICY != "steps_with_relative_lrs":
                raise ValueError(
                    "MULTIGRID.LONG_CYCLE rewrites SOLVER.STEPS and SOLVER.LRS; set "
                    f"SOLVER.LR_POLICY steps_with_relative_lrs (got {cfg.SOLVER.LR_POLICY!r})."
                )
            self.schedule = long_cycle_schedule(cfg)
            steps = [0] + [end for _, _, end in self.schedule]
            steps[-1] = (steps[-2] + steps[-1]) // 2
            lrs = [cfg.SOLVER.GAMMA ** step * shape[0] for step, shape, _ in self.schedule]
            cfg.SOLVER.STEPS = steps
            cfg.SOLVER.LRS = lrs[:-1] + [lrs[-2], lrs[-1]]
            cfg.SOLVER.MAX_EPOCH = self.schedule[-1][2]
            self.log_schedule()
        elif cfg.MULTIGRID.SHORT_CYCLE:
            factor = cfg.MULTIGRID.EPOCH_FACTOR
            cfg.SOLVER.STEPS = [int(s * factor) for s in cfg.SOLVER.STEPS]
            cfg.SOLVER.MAX_EPOCH = int(cfg.SOLVER.MAX_EPOCH * factor)
        return cfg

    def log_schedule(self) -> None:
        logger.info("Multigrid long-cycle schedule (lr step, [B factor, T, S], end epoch):")
        for phase in self.schedule or []:
            logger.info("  %s", phase)

    def shape_changes_after(self, epoch: int) -> bool:
        """True when 0-based `epoch` is the last one of a long-cycle shape."""
        if not self.schedule:
            return False
        return shape_at_epoch(self.schedule, epoch) != shape_at_epoch(self.schedule, epoch + 1)

    def update_long_cycle(self, cfg: CfgNode, epoch: int) -> Tuple[CfgNode, bool]:
        """Set the shape, batch size and BN type of `epoch`'s phase; True if it changed."""
        b_factor, t, s = shape_at_epoch(self.schedule, epoch)
        if t == cfg.DATA.NUM_FRAMES and s == cfg.DATA.TRAIN_CROP_SIZE:
            return cfg, False
        cfg.DATA.NUM_FRAMES = t
        cfg.DATA.TRAIN_CROP_SIZE = s
        cfg.TRAIN.BATCH_SIZE = b_factor * cfg.MULTIGRID.DEFAULT_B
        procs = du.processes_per_machine(cfg)
        bs_factor = cfg.TRAIN.BATCH_SIZE / procs / cfg.MULTIGRID.BN_BASE_SIZE
        if bs_factor > 1:
            cfg.BN.NORM_TYPE = "sub_batchnorm"
            cfg.BN.NUM_SPLITS = int(bs_factor)
        elif bs_factor < 1 and procs * cfg.NUM_SHARDS > 1:
            cfg.BN.NORM_TYPE = "sync_batchnorm"
        else:
            cfg.BN.NORM_TYPE = "batchnorm"
        # Keep the clip's time span: fewer frames are sampled further apart.
        cfg.DATA.SAMPLING_RATE = self.default_sampling_rate * cfg.MULTIGRID.DEFAULT_T // t
        logger.info("Long cycle at epoch %d: T=%d, S=%d, batch %d, BN %s (splits %d).",
                    epoch + 1, t, s, cfg.TRAIN.BATCH_SIZE, cfg.BN.NORM_TYPE, cfg.BN.NUM_SPLITS)
        return cfg, True
