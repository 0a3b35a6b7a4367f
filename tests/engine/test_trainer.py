"""Train loop: mid-epoch resume after a kill, NaN stop, bad videos, mixed precision, hooks."""

import os

import pytest
import torch
from engine_tiny import tiny_cfg
from subprocess_runs import final_state, run

from slowfast_atfr import checkpoint as cu
from slowfast_atfr.engine.evaluator import test as run_test
from slowfast_atfr.engine.trainer import Trainer


@pytest.mark.slow
def test_resume_after_kill_mid_epoch_equals_uninterrupted_run(tmp_path):
    opts = ["TEST.ENABLE", "False", "TRAIN.CHECKPOINT_ITER_PERIOD", "2",
            "TRAIN.EVAL_PERIOD", "5", "ATFR.ENABLED", "True", "ATFR.PATHWAYS", "[True]"]
    run(tmp_path / "full", *opts)
    # 4 iterations per epoch: killed after iteration 3 of epoch 2; the last checkpoint is
    # the one after 2 iterations of epoch 2.
    killed = run(tmp_path / "cut", *opts, kill_after=7, check=False)
    assert killed.returncode != 0
    last = cu.get_last_checkpoint(str(tmp_path / "cut"))
    assert os.path.basename(last) == "checkpoint_epoch_00001_iter_00000002.pyth"
    resumed = run(tmp_path / "cut", *opts)
    assert "Resumed from" in resumed.stdout and "at epoch 2, iteration 2" in resumed.stdout
    # The resumed run did only the 2 missing iterations of epoch 2.
    assert resumed.stdout.count('"_type": "train_iter"') == 1  # LOG_PERIOD 2: iter 4/4
    path_a, full = final_state(tmp_path / "full")
    path_b, cut = final_state(tmp_path / "cut")
    assert os.path.basename(path_a) == os.path.basename(path_b) == "checkpoint_epoch_00002.pyth"
    assert full["epoch"] == cut["epoch"] == 1
    for key, value in full["model_state"].items():
        torch.testing.assert_close(cut["model_state"][key], value, rtol=0, atol=0, msg=key)


def test_nan_loss_stops_with_message_and_keeps_last_good_checkpoint(tmp_path):
    cfg = tiny_cfg(tmp_path, **{"SOLVER.LR_POLICY": "steps_with_relative_lrs",
                                "SOLVER.STEPS": [0, 1], "SOLVER.LRS": [1.0, 1e30],
                                "SOLVER.MAX_EPOCH": 3, "TRAIN.EVAL_PERIOD": 5})
    with pytest.raises(RuntimeError, match=r"loss is (nan|inf) at epoch 2, iteration \d"):
        Trainer(cfg).train()
    names = sorted(os.listdir(cu.get_checkpoint_dir(str(tmp_path))))
    assert names == ["checkpoint_epoch_00001.pyth"]
    state = torch.load(cu.get_last_checkpoint(str(tmp_path)), weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["model_state"].values())
    cfg.SOLVER.LRS = [1.0, 0.5]  # rerun with a lower learning rate: resumes from it
    trainer = Trainer(cfg)
    trainer.train()
    assert trainer.epoch == 2 and cu.get_last_checkpoint(str(tmp_path)).endswith("00003.pyth")


def test_bad_videos_are_counted_per_epoch_and_logged_once(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("ENGINE_TINY_BAD_VIDEOS", "3,5")
    cfg = tiny_cfg(tmp_path, **{"SOLVER.MAX_EPOCH": 2, "TRAIN.EVAL_PERIOD": 5})
    with caplog.at_level("WARNING", logger="slowfast_atfr"):
        trainer = Trainer(cfg)
        trainer.train()
    with open(os.path.join(str(tmp_path), "json_stats.log")) as f:
        epochs = [line for line in f if '"train_epoch"' in line]
    assert len(epochs) == 2 and all('"bad_videos": 2' in line for line in epochs)
    replaced = [r for r in caplog.records if "Bad video replaced" in r.getMessage()]
    assert len(replaced) == 2  # each path once, although met in both epochs
    assert any("4 bad videos (2 distinct)" in r.getMessage() for r in caplog.records)


def test_mixed_precision_and_clipping_train_on_cpu(tmp_path):
    cfg = tiny_cfg(tmp_path, **{"TRAIN.MIXED_PRECISION": True, "SOLVER.CLIP_GRAD_L2NORM": 0.5,
                                "SOLVER.CLIP_GRAD_VAL": 1.0, "SOLVER.MAX_EPOCH": 1,
                                "BN.USE_PRECISE_STATS": True, "BN.NUM_BATCHES_PRECISE": 2,
                                "SOLVER.OPTIMIZING_METHOD": "adamw"})
    trainer = Trainer(cfg)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    after = trainer.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert all(torch.isfinite(v.float()).all() for v in after.values())
    assert trainer.val_meter.num_samples == 8


def test_lr_is_set_every_iteration_from_the_fractional_epoch(tmp_path):
    cfg = tiny_cfg(tmp_path, **{"SOLVER.WARMUP_EPOCHS": 1.0, "SOLVER.WARMUP_START_LR": 0.0,
                                "SOLVER.LR_POLICY": "constant", "SOLVER.MAX_EPOCH": 2,
                                "TRAIN.EVAL_PERIOD": 5, "TRAIN.CHECKPOINT_PERIOD": 5})
    trainer = Trainer(cfg)
    seen = []
    original = trainer.run_step

    def spy(inputs, labels):
        seen.append(trainer.optimizer.param_groups[0]["lr"])
        original(inputs, labels)

    trainer.run_step = spy
    trainer.train()
    # Linear warm-up from 0 to BASE_LR over epoch 1 (4 iterations), then constant.
    assert seen == pytest.approx([0.0, 0.0125, 0.025, 0.0375] + [0.05] * 4)


def test_missing_data_directory_names_the_path(tmp_path):
    missing = str(tmp_path / "no_such_dir")
    cfg = tiny_cfg(tmp_path, **{"TRAIN.DATASET": "kinetics", "DATA.PATH_TO_DATA_DIR": missing})
    with pytest.raises(FileNotFoundError, match="no_such_dir"):
        Trainer(cfg)


def test_tensorboard_scalars_are_written(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = tiny_cfg(tmp_path, **{"TENSORBOARD.ENABLE": True, "SOLVER.MAX_EPOCH": 1,
                                "ATFR.ENABLED": True, "ATFR.PATHWAYS": [True], "LOG_PERIOD": 1})
    Trainer(cfg).train()
    run_test(cfg)
    files = os.listdir(tmp_path / "runs")
    assert any(name.startswith("events.out.tfevents") for name in files)
    events = EventAccumulator(str(tmp_path / "runs"))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert {"train/loss", "train/top1_err", "val/top1_acc"} <= set(tags)
    assert "train/mean_bprime/pathway0" in tags and "val/mean_bprime/pathway0" in tags
    # Iteration level, and the final test's accuracy, cost and B' histogram.
    assert {"train_iter/loss", "train_iter/lr", "test/top1_acc", "test/top5_acc",
            "test/mean_gflops", "test/baseline_gflops"} <= set(tags)
    assert len(events.Scalars("train_iter/loss")) == 4  # 4 iterations, LOG_PERIOD 1
    histogram = events.Histograms("test/bprime/pathway0")[0].histogram_value
    assert histogram.num == 16  # 8 test videos x 2 views


@pytest.mark.parametrize("separately", [True, False])
def test_sampler_gradients_are_clipped_apart_from_the_backbone(tmp_path, separately):
    cfg = tiny_cfg(tmp_path, **{"SOLVER.CLIP_GRAD_L2NORM": 1.0, "ATFR.ENABLED": True,
                                "ATFR.PATHWAYS": [True],
                                "SOLVER.CLIP_GRAD_SAMPLER_SEPARATELY": separately})
    trainer = Trainer(cfg)
    sampler = {id(p) for p in trainer.model.sampler.parameters()}
    assert sampler
    params = list(trainer.model.parameters())
    for p in params:  # Eq. 8 makes the sampler's gradient much larger than the rest
        p.grad = torch.full_like(p, 10.0 if id(p) in sampler else 1e-4)
    backbone_before = torch.cat([p.grad.flatten() for p in params if id(p) not in sampler])
    trainer.step.clip_gradients()

    def norm(in_sampler):
        return torch.cat([p.grad.flatten() for p in params
                          if (id(p) in sampler) == in_sampler]).norm()

    backbone_after = torch.cat([p.grad.flatten() for p in params if id(p) not in sampler])
    if separately:
        assert torch.equal(backbone_after, backbone_before)  # under the threshold: untouched
        assert norm(True) == pytest.approx(1.0, rel=1e-4)
    else:  # one global norm: the sampler's gradient shrinks the backbone's too
        assert backbone_after.norm() < 0.01 * backbone_before.norm()
        assert (norm(True) ** 2 + norm(False) ** 2).sqrt() == pytest.approx(1.0, rel=1e-4)


def test_auto_resume_skips_a_damaged_newest_checkpoint(tmp_path, caplog):
    cfg = tiny_cfg(tmp_path, **{"SOLVER.MAX_EPOCH": 2, "TRAIN.EVAL_PERIOD": 5})
    Trainer(cfg).train()
    folder = cu.get_checkpoint_dir(str(tmp_path))
    newest = os.path.join(folder, "checkpoint_epoch_00002.pyth")
    with open(newest, "r+b") as f:  # damaged on disk after it was written
        f.truncate(100)
    cfg.SOLVER.MAX_EPOCH = 3
    trainer = Trainer(cfg)
    trainer.train()
    assert "Skipping unreadable checkpoint" in caplog.text and newest in caplog.text
    # Resumed from epoch 1's checkpoint: epoch 2 was trained again (its file rewritten), then 3.
    assert torch.load(newest, weights_only=True)["epoch"] == 1
    assert torch.load(cu.get_last_checkpoint(str(tmp_path)), weights_only=True)["epoch"] == 2


def test_resuming_another_models_checkpoint_names_the_problem(tmp_path):
    Trainer(tiny_cfg(tmp_path, **{"SOLVER.MAX_EPOCH": 1, "TRAIN.EVAL_PERIOD": 5})).train()
    atfr = tiny_cfg(tmp_path, **{"SOLVER.MAX_EPOCH": 2, "TRAIN.EVAL_PERIOD": 5,
                                 "ATFR.ENABLED": True, "ATFR.PATHWAYS": [True]})
    with pytest.raises(ValueError, match="no ATFR sampler parameters.*Use a new OUTPUT_DIR"):
        Trainer(atfr).train()
