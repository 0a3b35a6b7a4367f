"""Checkpoints written before the package split (commit ffa9f1a) load after it.

The files in pre_split/ were written by that commit's code:
- slowfast_r18_atfr.pyth (with SGD state after one step), x3d_xs_atfr.pyth: the tiny ATFR
  models of tests/models/tiny_models.py (`tiny_cfg(name, variant, atfr=True)`, built after
  `torch.manual_seed(0)`), saved with `save_checkpoint(..., epoch=3, cfg)`; eval_logits.pt
  holds each model's eval logits in float64 on `_clip(seed=1)`.
- tiny_checkpoint_epoch_00001_iter_00000002.pyth: the engine's tiny model (engine_tiny.py,
  `RESUME_OPTS`) killed after iteration 2 of epoch 2 (mid-epoch save with the train loop's
  state), and tiny_uninterrupted_epoch_00002.pyth the same run's final checkpoint without
  the interruption.
"""

import os
import shutil

import pytest
import torch
from subprocess_runs import final_state, run
from tiny_models import CROP, tiny_cfg

from slowfast_atfr import checkpoint as cu
from slowfast_atfr.models import build_model

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pre_split")
RESUME_OPTS = ["TEST.ENABLE", "False", "TRAIN.CHECKPOINT_ITER_PERIOD", "1",
               "MODEL.DROPOUT_RATE", "0.5", "BN.NORM_TYPE", "sub_batchnorm", "BN.NUM_SPLITS", "2"]


def _clip(cfg, seed):
    gen = torch.Generator().manual_seed(seed)
    fast = torch.randn(1, 3, cfg.DATA.NUM_FRAMES, CROP, CROP, generator=gen)
    return [fast[:, :, ::cfg.SLOWFAST.ALPHA], fast] if cfg.MODEL.MODEL_NAME == "SlowFast" else [
        fast]


@pytest.mark.parametrize("name, variant, file", [
    ("SlowFast", "r18", "slowfast_r18_atfr.pyth"), ("X3D", "xs", "x3d_xs_atfr.pyth")])
def test_a_model_checkpoint_loads_strictly_and_gives_the_same_logits(name, variant, file):
    cfg = tiny_cfg(name, variant, atfr=True)
    model = build_model(cfg)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    info = cu.load_checkpoint(os.path.join(HERE, file), model, optimizer)
    assert info == {"epoch": 3, "iteration": 0}
    assert bool(optimizer.state) == (name == "SlowFast")  # momentum buffers restored
    model.eval().double()
    with torch.no_grad():
        logits = model([x.double() for x in _clip(cfg, seed=1)])
    expected = torch.load(os.path.join(HERE, "eval_logits.pt"), weights_only=True)
    torch.testing.assert_close(logits, expected[f"{name}_{variant}"], rtol=1e-9, atol=1e-9)


@pytest.mark.slow
def test_a_mid_epoch_checkpoint_resumes_to_the_uninterrupted_result(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    name = "checkpoint_epoch_00001_iter_00000002.pyth"
    shutil.copy(os.path.join(HERE, "tiny_" + name), folder / name)
    resumed = run(tmp_path, *RESUME_OPTS)
    assert "at epoch 2, iteration 2" in resumed.stdout
    path, got = final_state(tmp_path)
    assert os.path.basename(path) == "checkpoint_epoch_00002.pyth"
    want = torch.load(os.path.join(HERE, "tiny_uninterrupted_epoch_00002.pyth"),
                      weights_only=True)
    assert set(got["model_state"]) == set(want["model_state"])
    for key, value in want["model_state"].items():
        # The weights match to rounding; the BN running statistics only closely, because a
        # checkpoint holds sub-batch statistics folded into one (plain BN layout).
        tol = 1e-4 if "running" in key else 1e-6
        torch.testing.assert_close(got["model_state"][key], value, rtol=tol, atol=tol, msg=key)
