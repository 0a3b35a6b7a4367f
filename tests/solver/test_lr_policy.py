"""Learning rate policies: cosine with warm-up, steps with relative lrs, constant."""

import math

import pytest

from slowfast_atfr.config.defaults import get_cfg
from slowfast_atfr.solver.lr_policy import get_lr_at_epoch


def solver(**kw):
    cfg = get_cfg()
    for k, v in kw.items():
        cfg.SOLVER[k] = v
    return cfg


def test_cosine_half_period_from_base_to_end():
    cfg = solver(LR_POLICY="cosine", BASE_LR=0.8, COSINE_END_LR=0.008, MAX_EPOCH=100,
                 WARMUP_EPOCHS=0.0)
    assert get_lr_at_epoch(cfg, 0.0) == pytest.approx(0.8)
    assert get_lr_at_epoch(cfg, 50.0) == pytest.approx((0.8 + 0.008) / 2)
    assert get_lr_at_epoch(cfg, 100.0) == pytest.approx(0.008)
    lrs = [get_lr_at_epoch(cfg, e / 10) for e in range(1001)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_linear_warmup_is_continuous_with_the_policy():
    cfg = solver(LR_POLICY="cosine", BASE_LR=1.6, COSINE_END_LR=0.0, MAX_EPOCH=196,
                 WARMUP_EPOCHS=34.0, WARMUP_START_LR=0.01)
    end = 1.6 * 0.5 * (1 + math.cos(math.pi * 34 / 196))
    assert get_lr_at_epoch(cfg, 0.0) == pytest.approx(0.01)
    assert get_lr_at_epoch(cfg, 17.0) == pytest.approx((0.01 + end) / 2)
    assert get_lr_at_epoch(cfg, 34.0 - 1e-9) == pytest.approx(end)
    assert get_lr_at_epoch(cfg, 34.0) == pytest.approx(end)


def test_steps_with_relative_lrs():
    cfg = solver(LR_POLICY="steps_with_relative_lrs", BASE_LR=0.1, STEPS=[0, 10, 15],
                 LRS=[1, 0.1, 0.01], MAX_EPOCH=20, WARMUP_EPOCHS=0.0)
    got = [get_lr_at_epoch(cfg, e) for e in (0, 9.99, 10, 14.5, 15, 19.9)]
    assert got == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


def test_constant_and_unknown_policy():
    cfg = solver(LR_POLICY="constant", BASE_LR=0.3, WARMUP_EPOCHS=0.0)
    assert get_lr_at_epoch(cfg, 7.5) == 0.3
    cfg.SOLVER.LR_POLICY = "exp"
    with pytest.raises(ValueError, match="SOLVER.LR_POLICY='exp'"):
        get_lr_at_epoch(cfg, 0.0)


def test_steps_policy_needs_matching_lists():
    cfg = solver(LR_POLICY="steps_with_relative_lrs", STEPS=[0, 5], LRS=[1], WARMUP_EPOCHS=0.0)
    with pytest.raises(ValueError, match="SOLVER.STEPS"):
        get_lr_at_epoch(cfg, 1.0)


def test_cosine_after_warmup_starts_at_its_peak():
    cfg = solver(LR_POLICY="cosine", BASE_LR=1.0, COSINE_END_LR=0.0, MAX_EPOCH=100,
                 WARMUP_EPOCHS=20.0, WARMUP_START_LR=0.0, COSINE_AFTER_WARMUP=True)
    assert get_lr_at_epoch(cfg, 10.0) == pytest.approx(0.5)  # linear to the peak
    assert get_lr_at_epoch(cfg, 20.0) == pytest.approx(1.0)
    assert get_lr_at_epoch(cfg, 60.0) == pytest.approx(0.5)  # half-way through [20, 100]
    assert get_lr_at_epoch(cfg, 100.0) == pytest.approx(0.0)


def test_lrs_may_be_longer_than_steps_as_in_pyslowfast():
    # PySlowFast's SlowFast stepwise recipe: 6 relative lrs for 4 steps.
    cfg = solver(LR_POLICY="steps_with_relative_lrs", BASE_LR=0.1, STEPS=[0, 94, 154, 196],
                 LRS=[1, 0.1, 0.01, 0.001, 0.0001, 0.00001], MAX_EPOCH=196, WARMUP_EPOCHS=0.0)
    got = [get_lr_at_epoch(cfg, e) for e in (0, 94, 153.9, 195.9)]
    assert got == pytest.approx([0.1, 0.01, 0.01, 0.001])
