"""Multigrid schedule: shapes keep B*T*S^2, epochs and lr steps are rewritten consistently."""

import pytest

from slowfast_atfr.config.defaults import assert_and_infer_cfg, get_cfg
from slowfast_atfr.engine.multigrid import MultigridSchedule, long_cycle_schedule, shape_at_epoch
from slowfast_atfr.solver.lr_policy import get_lr_at_epoch


def mg_cfg(short=True, long=True):
    cfg = get_cfg()
    cfg.NUM_GPUS, cfg.NUM_CPU_PROCESSES = 0, 1
    cfg.TRAIN.BATCH_SIZE, cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE = 8, 8, 224
    cfg.SOLVER.LR_POLICY = "steps_with_relative_lrs"
    cfg.SOLVER.STEPS, cfg.SOLVER.LRS, cfg.SOLVER.MAX_EPOCH = [0, 94, 154], [1, 0.1, 0.01], 196
    cfg.MULTIGRID.SHORT_CYCLE, cfg.MULTIGRID.LONG_CYCLE = short, long
    return assert_and_infer_cfg(cfg)


@pytest.mark.parametrize("short", [True, False])
def test_long_cycle_shapes_keep_batch_times_volume(short):
    cfg = mg_cfg(short=short)
    schedule = long_cycle_schedule(cfg)
    assert len(schedule) == 2 * 4 + 1  # 2 lr steps x 4 shapes + fine-tuning
    volume = 8 * 224 ** 2
    for step, (b, t, s), _ in schedule:
        assert abs(b * t * s * s - volume) / volume < 0.1
    assert [shape[1:] for _, shape, _ in schedule[:4]] == [[2, 158], [4, 158], [4, 224],
                                                           [8, 224]]
    assert schedule[-1][1] == [1, 8, 224] and schedule[-1][0] == 2
    ends = [end for _, _, end in schedule]
    assert ends == sorted(ends) and ends[-1] == round(196 * 1.5)


def test_init_rewrites_steps_lrs_and_max_epoch():
    cfg = mg_cfg()
    mg = MultigridSchedule()
    mg.init_multigrid(cfg)
    assert cfg.SOLVER.MAX_EPOCH == mg.schedule[-1][2] == 294
    assert len(cfg.SOLVER.STEPS) == len(cfg.SOLVER.LRS) == len(mg.schedule) + 1
    assert cfg.SOLVER.STEPS[0] == 0 and cfg.SOLVER.STEPS == sorted(cfg.SOLVER.STEPS)
    # lr scales with the batch (factor 8 for the smallest shape) and decays by GAMMA per step.
    assert cfg.SOLVER.LRS[0] == pytest.approx(8 * 1.0)
    assert cfg.SOLVER.LRS[4] == pytest.approx(8 * 0.1)
    assert cfg.SOLVER.LRS[-1] == pytest.approx(0.01)
    assert get_lr_at_epoch(cfg, 0) == pytest.approx(cfg.SOLVER.BASE_LR * 8)


def test_update_long_cycle_sets_shape_batch_bn_and_rate():
    cfg = mg_cfg()
    cfg.MULTIGRID.BN_BASE_SIZE = 8
    mg = MultigridSchedule()
    mg.init_multigrid(cfg)
    cfg, changed = mg.update_long_cycle(cfg, 0)
    assert changed and (cfg.DATA.NUM_FRAMES, cfg.DATA.TRAIN_CROP_SIZE) == (2, 158)
    assert cfg.TRAIN.BATCH_SIZE == 64
    assert cfg.BN.NORM_TYPE == "sub_batchnorm" and cfg.BN.NUM_SPLITS == 8
    assert cfg.DATA.SAMPLING_RATE == 8 * 8 // 2  # same time span with 4x fewer frames
    assert mg.update_long_cycle(cfg, 0) == (cfg, False)
    last = mg.schedule[-1][2] - 1
    cfg, changed = mg.update_long_cycle(cfg, last)
    assert changed and cfg.TRAIN.BATCH_SIZE == 8 and cfg.BN.NORM_TYPE == "batchnorm"
    boundary = mg.schedule[0][2] - 1
    assert mg.shape_changes_after(boundary) and not mg.shape_changes_after(boundary - 1)
    assert shape_at_epoch(mg.schedule, 10 ** 6) == mg.schedule[-1][1]


def test_short_cycle_only_scales_epochs():
    cfg = mg_cfg(long=False)
    mg = MultigridSchedule()
    mg.init_multigrid(cfg)
    assert mg.schedule is None
    assert cfg.SOLVER.MAX_EPOCH == 294 and cfg.SOLVER.STEPS == [0, 141, 231]


def test_long_cycle_needs_the_steps_policy():
    cfg = mg_cfg()
    cfg.SOLVER.LR_POLICY = "cosine"
    with pytest.raises(ValueError, match="SOLVER.LR_POLICY steps_with_relative_lrs"):
        MultigridSchedule().init_multigrid(cfg)
