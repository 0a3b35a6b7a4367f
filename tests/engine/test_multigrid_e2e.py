"""Multigrid (long + short cycle) training end to end on the SSv2-format demo data."""

import json
import os

import pytest
from engine_tiny import tiny_cfg

from slowfast_atfr import checkpoint as cu
from slowfast_atfr.datasets.demo import make_demo_ssv2_dataset
from slowfast_atfr.engine.evaluator import test as run_test
from slowfast_atfr.engine.trainer import Trainer


@pytest.mark.slow
def test_long_and_short_cycle_schedule_trains_and_tests(tmp_path):
    data = tmp_path / "ssv2"
    make_demo_ssv2_dataset(str(data), num_classes=2, videos_per_class=14,
                           val_videos_per_class=2, frames=16, size=32, ext="mp4")
    overrides = {
        "MODEL.MODEL_NAME": "ResNet", "MODEL.ARCH": "resnet3d", "MODEL.NUM_CLASSES": 2,
        "RESNET.DEPTH": 18, "RESNET.WIDTH_PER_GROUP": 2,
        "RESNET.NUM_BLOCK_TEMP_KERNEL": [[2], [2], [2], [2]],
        "ATFR.ENABLED": True, "ATFR.PATHWAYS": [True],
        "TRAIN.DATASET": "ssv2", "TEST.DATASET": "ssv2", "DATA.PATH_TO_DATA_DIR": str(data),
        "TRAIN.BATCH_SIZE": 1, "TEST.BATCH_SIZE": 4, "DATA.NUM_FRAMES": 4,
        "DATA.TRAIN_CROP_SIZE": 32, "DATA.TEST_CROP_SIZE": 32,
        "DATA.TRAIN_JITTER_SCALES": [32, 40], "TEST.NUM_ENSEMBLE_VIEWS": 1,
        "SOLVER.LR_POLICY": "steps_with_relative_lrs", "SOLVER.STEPS": [0, 2],
        "SOLVER.LRS": [1.0, 0.1], "SOLVER.MAX_EPOCH": 2, "SOLVER.BASE_LR": 0.01,
        # Batches of one clip (BN over a few values) and libx264's run-to-run differences in
        # the decoded frames make the loss jump; clipping keeps every run finite.
        "SOLVER.CLIP_GRAD_L2NORM": 1.0,
        "MULTIGRID.LONG_CYCLE": True, "MULTIGRID.SHORT_CYCLE": True,
        "MULTIGRID.LONG_CYCLE_FACTORS": [(0.5, 0.5 ** 0.5), (1, 1)],
        "MULTIGRID.BN_BASE_SIZE": 2, "TRAIN.EVAL_PERIOD": 10, "TRAIN.CHECKPOINT_PERIOD": 10,
        "LOG_PERIOD": 100,
    }
    cfg = tiny_cfg(tmp_path / "out", **overrides)
    trainer = Trainer(cfg.clone())
    # Phase 1: T 2, S 23, batch 4 with 2-way sub-batch BN; epoch 3: the full shape.
    assert trainer.cfg.SOLVER.MAX_EPOCH == 3
    assert trainer.multigrid.schedule == [(0, [4, 2, 23], 2), (0, [1, 4, 32], 3),
                                          (1, [1, 4, 32], 3)]
    shapes = []
    original = trainer.run_step

    def spy(inputs, labels):
        shapes.append((trainer.epoch, tuple(inputs[0].shape)))
        original(inputs, labels)

    trainer.run_step = spy
    trainer.train()
    first = {shape for epoch, shape in shapes if epoch == 0}
    # Short cycle: crops 12 (0.5 S) with batch 16, 16 (0.707 S) with batch 8, 23 with 4.
    assert first == {(16, 3, 2, 12, 12), (8, 3, 2, 16, 16), (4, 3, 2, 23, 23)}
    assert {shape[2:] for epoch, shape in shapes if epoch == 2} <= {
        (4, 16, 16), (4, 23, 23), (4, 32, 32)}
    assert any(epoch == 2 and shape[3] == 32 for epoch, shape in shapes)
    names = sorted(os.listdir(cu.get_checkpoint_dir(str(tmp_path / "out"))))
    # A checkpoint before the shape change (reloaded into the rebuilt model), and the last.
    assert names == ["checkpoint_epoch_00002.pyth", "checkpoint_epoch_00003.pyth"]
    stats = run_test(cfg.clone())
    assert stats["videos_scored"] == stats["videos_expected"] == 4
    with open(tmp_path / "out" / "atfr_stats_test.json") as f:
        atfr = json.load(f)
    assert atfr["num_clips"] == 4 and 0 < atfr["mean_gflops"]
    assert all(1 <= int(b) <= 4 for b in atfr["bprime_histogram"]["pathway0"])
