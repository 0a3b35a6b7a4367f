"""The resume order: a run's own newest checkpoint, else TRAIN.CHECKPOINT_FILE_PATH, else
scratch; and the order in which testing finds its weights."""

import os

import pytest
import torch
from tiny_job import Tiny, job_cfg, same_state, sgd, train_step

from slowfast_atfr import checkpoint as cu


def test_mid_epoch_checkpoint_resumes_inside_the_epoch(tmp_path):
    cfg = job_cfg(tmp_path)
    model = Tiny()
    optimizer = sgd(model)
    train_step(model, optimizer)
    path = cu.save_checkpoint(cfg.OUTPUT_DIR, model, optimizer, 3, cfg, iteration=40)
    assert cu.load_checkpoint(path, Tiny()) == {"epoch": 2, "iteration": 40}
    start = cu.load_train_state(cfg, Tiny(), sgd(Tiny()))
    assert (start.start_epoch, start.start_iter, start.path) == (3, 40, path)
    assert cu.load_train_checkpoint(cfg, Tiny(), sgd(Tiny())) == 3


def test_train_resume_order(tmp_path):
    torch.manual_seed(0)
    pretrained = Tiny()
    pre_path = str(tmp_path / "pretrained.pyth")
    cfg = job_cfg(tmp_path, CHECKPOINT_FILE_PATH=pre_path, CHECKPOINT_EPOCH_RESET=True)
    torch.save({"epoch": 30, "model_state": pretrained.state_dict()}, pre_path)

    # 1. No checkpoint in OUTPUT_DIR: TRAIN.CHECKPOINT_FILE_PATH (epoch reset -> start at 0).
    model = Tiny()
    assert cu.load_train_state(cfg, model, sgd(model)) == cu.TrainStart(0, 0, pre_path)
    assert same_state(model, pretrained)
    cfg.TRAIN.CHECKPOINT_EPOCH_RESET = False
    assert cu.load_train_checkpoint(cfg, Tiny(), sgd(Tiny())) == 31

    # 2. A checkpoint in OUTPUT_DIR wins with AUTO_RESUME.
    torch.manual_seed(1)
    trained = Tiny()
    last = cu.save_checkpoint(cfg.OUTPUT_DIR, trained, sgd(trained), 6, cfg)
    model = Tiny()
    assert cu.load_train_state(cfg, model, sgd(model)) == cu.TrainStart(7, 0, last)
    assert same_state(model, trained)

    # 3. Without AUTO_RESUME the file path is used again; without both, scratch.
    cfg.TRAIN.AUTO_RESUME = False
    assert cu.load_train_state(cfg, Tiny(), sgd(Tiny())).path == pre_path
    cfg.TRAIN.CHECKPOINT_FILE_PATH = ""
    model = Tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert cu.load_train_state(cfg, model, sgd(model)) == cu.TrainStart(0, 0, None)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())

    cfg.TRAIN.CHECKPOINT_FILE_PATH = pre_path
    cfg.TRAIN.CHECKPOINT_TYPE = "tensorflow"
    with pytest.raises(ValueError, match="TRAIN.CHECKPOINT_TYPE"):
        cu.load_train_checkpoint(cfg, Tiny(), sgd(Tiny()))


def test_train_checkpoint_options_reach_the_loader(tmp_path):
    """CHECKPOINT_INFLATE and CHECKPOINT_PARTIAL from the config are honoured."""
    torch.manual_seed(0)
    source = Tiny(num_classes=7)
    path = str(tmp_path / "k400.pyth")
    torch.save({"epoch": 3, "model_state": source.state_dict()}, path)
    cfg = job_cfg(tmp_path, CHECKPOINT_FILE_PATH=path)
    target = Tiny(num_classes=5, stem_t=3)
    advice = r"\(TRAIN.CHECKPOINT_FILE_PATH\)(.|\n)*Set TRAIN.CHECKPOINT_PARTIAL True"
    with pytest.raises(ValueError, match=advice):
        cu.load_train_checkpoint(cfg, target, sgd(target))
    cfg.TRAIN.CHECKPOINT_INFLATE = True
    cfg.TRAIN.CHECKPOINT_PARTIAL = True
    cfg.TRAIN.CHECKPOINT_EPOCH_RESET = True
    assert cu.load_train_checkpoint(cfg, target, sgd(target)) == 0
    expected = source.s1.pathway0_stem.conv.weight.repeat(1, 1, 3, 1, 1) / 3
    assert torch.allclose(target.s1.pathway0_stem.conv.weight, expected)


def test_test_checkpoint_order(tmp_path, caplog):
    cfg = job_cfg(tmp_path)
    assert cu.load_test_checkpoint(cfg, Tiny()) is None
    assert "testing a randomly initialised model" in caplog.text

    torch.manual_seed(0)
    train_init = Tiny()
    cfg.TRAIN.CHECKPOINT_FILE_PATH = str(tmp_path / "init.pyth")
    torch.save({"epoch": 1, "model_state": train_init.state_dict()}, cfg.TRAIN.CHECKPOINT_FILE_PATH)
    model = Tiny()
    assert cu.load_test_checkpoint(cfg, model) == cfg.TRAIN.CHECKPOINT_FILE_PATH
    assert same_state(model, train_init)

    trained = Tiny()
    last = cu.save_checkpoint(cfg.OUTPUT_DIR, trained, None, 0, cfg)
    model = Tiny()
    assert cu.load_test_checkpoint(cfg, model) == last
    assert same_state(model, trained)

    chosen = Tiny()
    cfg.TEST.CHECKPOINT_FILE_PATH = str(tmp_path / "chosen.pyth")
    torch.save({"epoch": 2, "model_state": chosen.state_dict()}, cfg.TEST.CHECKPOINT_FILE_PATH)
    model = Tiny()
    assert cu.load_test_checkpoint(cfg, model) == cfg.TEST.CHECKPOINT_FILE_PATH
    assert same_state(model, chosen)


def test_auto_resume_falls_back_to_an_older_readable_checkpoint(tmp_path, caplog):
    cfg = job_cfg(tmp_path)
    torch.manual_seed(0)
    older = Tiny()
    older_path = cu.save_checkpoint(cfg.OUTPUT_DIR, older, sgd(older), 1, cfg)
    newest = cu.save_checkpoint(cfg.OUTPUT_DIR, Tiny(), None, 2, cfg, iteration=5)
    with open(newest, "r+b") as f:
        f.truncate(100)  # damaged after saving (disk, copy)
    model = Tiny()
    assert cu.load_train_state(cfg, model, sgd(model)) == cu.TrainStart(2, 0, older_path)
    assert same_state(model, older)
    assert f"Skipping unreadable checkpoint {newest}" in caplog.text
    assert os.path.exists(newest), "an unreadable checkpoint is never deleted"

    with open(older_path, "wb") as f:
        f.write(b"not a checkpoint")
    with pytest.raises(cu.UnreadableCheckpointError) as err:
        cu.load_train_state(cfg, Tiny(), sgd(Tiny()))
    message = str(err.value)
    assert cu.get_checkpoint_dir(cfg.OUTPUT_DIR) in message
    assert os.path.basename(newest) in message and os.path.basename(older_path) in message
