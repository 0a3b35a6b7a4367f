"""Honest accounting: no epoch of zero iterations, no statistic of nothing, bad videos of every
split counted, no accuracy from NaN scores or weights."""

import math

import pytest
import torch
from engine_tiny import tiny_cfg

from slowfast_atfr import checkpoint as cu
from slowfast_atfr.datasets import loader as data_loader
from slowfast_atfr.engine.evaluator import perform_test
from slowfast_atfr.engine.evaluator import test as run_test
from slowfast_atfr.engine.trainer import Trainer
from slowfast_atfr.evaluation.meters import EpochMeter, ScalarMeter
from slowfast_atfr.evaluation.view_ensemble import TestMeter
from slowfast_atfr.models import build_model


def test_a_batch_larger_than_the_data_set_is_refused_not_trained_for_zero_iterations(tmp_path):
    cfg = tiny_cfg(tmp_path, **{"TRAIN.BATCH_SIZE": 32})  # 16 training videos
    with pytest.raises(ValueError) as err:
        Trainer(cfg)
    message = str(err.value)
    assert "TRAIN.BATCH_SIZE=32" in message and "16 of the 16 training clips" in message
    assert "zero iterations" in message and "Lower TRAIN.BATCH_SIZE" in message
    assert not (tmp_path / "json_stats.log").exists(), "nothing may be reported"


def test_meters_that_counted_nothing_give_nan_or_refuse(tmp_path):
    empty = ScalarMeter(5)
    assert math.isnan(empty.get_global_avg()) and math.isnan(empty.get_win_median())
    meter = EpochMeter("val", 3, tiny_cfg(tmp_path))
    with pytest.raises(RuntimeError, match="val epoch 1 counted no sample"):
        meter.log_epoch_stats(0)
    test_meter = TestMeter(4, 3, num_videos=2)
    stats = test_meter.finalize_metrics()
    assert stats["videos_scored"] == 0 and math.isnan(stats["top1_acc"])


def test_validation_counts_and_logs_its_bad_videos(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("ENGINE_TINY_BAD_VIDEOS", "5")
    trainer = Trainer(tiny_cfg(tmp_path, **{"SOLVER.MAX_EPOCH": 1}))
    trainer.train()
    stats = trainer.evaluate()
    assert stats["bad_videos"] == 1
    assert "Validation replaced 1 bad videos: ['synthetic/val/video_005.mp4']" in caplog.text


def test_test_counts_its_bad_videos(tmp_path, monkeypatch):
    monkeypatch.setenv("ENGINE_TINY_BAD_VIDEOS", "2")
    stats = run_test(tiny_cfg(tmp_path, **{"TEST.SKIP_BAD_VIDEOS": True}))
    assert stats["num_bad_videos"] == 1


def test_no_accuracy_from_nan_scores(tmp_path):
    cfg = tiny_cfg(tmp_path)
    model = build_model(cfg)
    with torch.no_grad():
        model.head.weight[0, 0] = float("nan")
    loader = data_loader.construct_loader(cfg, "test")
    with pytest.raises(RuntimeError, match=r"NaN or infinite scores for 4 test clips \(videos "
                                           r"\['synthetic/test/video_000\.mp4', "
                                           r"'synthetic/test/video_001\.mp4'\]\)"):
        perform_test(cfg, model, loader)
    assert not (tmp_path / "json_stats.log").exists()


def test_no_test_from_a_diverged_checkpoint(tmp_path):
    cfg = tiny_cfg(tmp_path)
    model = build_model(cfg)
    with torch.no_grad():
        model.head.weight[1, 1] = float("inf")
    path = str(tmp_path / "diverged.pyth")
    torch.save({"model_state": model.state_dict(), "epoch": 0}, path)
    cfg.TEST.CHECKPOINT_FILE_PATH = path
    with pytest.raises(cu.NonFiniteCheckpointError, match="head.weight"):
        run_test(cfg)
