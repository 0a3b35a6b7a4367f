"""Checkpoints that never lie: checksums, non-finite weights, pruning, leftovers, full disks."""

import errno
import os
import re
import struct

import pytest
import torch
from tiny_job import Tiny, job_cfg, same_state, sgd

from slowfast_atfr import checkpoint as cu


def _flip_a_weight_bit(path: str, value: float) -> None:
    """Flip one bit inside the stored bytes of `value` (bit rot torch.load does not notice)."""
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        at = data.find(struct.pack("<f", value))
        assert at > 0
        data[at + 1] ^= 0x10
        f.seek(0)
        f.write(data)


def _model_with(value: float) -> Tiny:
    model = Tiny()
    with torch.no_grad():
        model.head.projection.weight[0, 0] = value
    return model


def test_bit_rot_fails_the_checksum_and_auto_resume_falls_back(tmp_path, caplog):
    cfg = job_cfg(tmp_path)
    older = _model_with(123.25)
    older_path = cu.save_checkpoint(cfg.OUTPUT_DIR, older, sgd(older), 0, cfg)
    newest = cu.save_checkpoint(cfg.OUTPUT_DIR, _model_with(456.75), None, 1, cfg)
    _flip_a_weight_bit(newest, 456.75)
    assert torch.load(newest, weights_only=True)["model_state"]  # still loads without a check
    with pytest.raises(cu.UnreadableCheckpointError, match=f"{newest}.*fails its checksum"):
        cu.read_checkpoint(newest)
    model = Tiny()
    assert cu.load_train_state(cfg, model, sgd(model)).path == older_path
    assert same_state(model, older)
    assert "fails its checksum" in caplog.text


def test_checksum_covers_what_was_saved_and_upstream_files_need_none(tmp_path):
    cfg = job_cfg(tmp_path)
    path = cu.save_checkpoint(cfg.OUTPUT_DIR, Tiny(), None, 0, cfg)
    saved = torch.load(path, weights_only=True)
    assert saved[cu.CHECKSUM_KEY] == cu.content_digest(saved)
    upstream = str(tmp_path / "upstream.pyth")  # PySlowFast's files carry no checksum
    torch.save({k: v for k, v in saved.items() if k != cu.CHECKSUM_KEY}, upstream)
    assert cu.read_checkpoint(upstream)["epoch"] == 0


def test_non_finite_weights_are_not_saved_and_the_newest_stays_finite(tmp_path):
    cfg = job_cfg(tmp_path)
    good = cu.save_checkpoint(cfg.OUTPUT_DIR, Tiny(), None, 0, cfg)
    with pytest.raises(cu.NonFiniteWeightsError,
                       match=r"head\.projection\.weight.*not saved.*checkpoint_epoch_00001"):
        cu.save_checkpoint(cfg.OUTPUT_DIR, _model_with(float("nan")), None, 1, cfg)
    assert cu.get_last_checkpoint(cfg.OUTPUT_DIR) == good


@pytest.mark.parametrize("origin", ["TEST.CHECKPOINT_FILE_PATH", "TRAIN.CHECKPOINT_FILE_PATH"])
def test_non_finite_checkpoints_are_refused_at_load_naming_the_file(tmp_path, origin):
    path = str(tmp_path / "diverged.pyth")
    torch.save({"model_state": _model_with(float("inf")).state_dict(), "epoch": 3}, path)
    cfg = job_cfg(tmp_path)
    section, key = origin.split(".")
    setattr(cfg[section], key, path)
    model = Tiny()
    with pytest.raises(cu.NonFiniteCheckpointError,
                       match=re.escape(f"{path} ({origin}) holds NaN or infinite") +
                       r".*head\.projection\.weight.*Use an earlier checkpoint"):
        if section == "TEST":
            cu.load_test_checkpoint(cfg, model)
        else:
            cu.load_train_state(cfg, model, sgd(model))


def test_auto_resume_skips_non_finite_folders_and_dangling_links(tmp_path, caplog):
    cfg = job_cfg(tmp_path)
    good = cu.save_checkpoint(cfg.OUTPUT_DIR, Tiny(), None, 0, cfg)
    folder = cu.get_checkpoint_dir(cfg.OUTPUT_DIR)
    diverged = cu.get_path_to_checkpoint(cfg.OUTPUT_DIR, 1)  # written by an older version
    torch.save({"model_state": _model_with(float("nan")).state_dict(), "epoch": 1}, diverged)
    os.mkdir(cu.get_path_to_checkpoint(cfg.OUTPUT_DIR, 2))
    os.symlink(os.path.join(folder, "gone.pyth"), cu.get_path_to_checkpoint(cfg.OUTPUT_DIR, 3))
    model = Tiny()
    assert cu.load_train_state(cfg, model, sgd(model)) == cu.TrainStart(1, 0, good)
    assert "is a link to" in caplog.text and "which does not exist" in caplog.text
    assert "is a folder, not a checkpoint file" in caplog.text
    assert "NaN or infinite" in caplog.text


def test_mid_epoch_checkpoints_are_pruned_to_the_newest_few(tmp_path):
    cfg = job_cfg(tmp_path)
    model = Tiny()
    cu.save_checkpoint(cfg.OUTPUT_DIR, model, None, 0, cfg)
    for iteration in (10, 20, 30):
        cu.save_checkpoint(cfg.OUTPUT_DIR, model, None, 1, cfg, iteration=iteration)
    assert cu.prune_mid_epoch_checkpoints(cfg.OUTPUT_DIR, keep=2) == [
        "checkpoint_epoch_00001_iter_00000010.pyth"]
    assert sorted(os.listdir(cu.get_checkpoint_dir(cfg.OUTPUT_DIR))) == [
        "checkpoint_epoch_00001.pyth", "checkpoint_epoch_00001_iter_00000020.pyth",
        "checkpoint_epoch_00001_iter_00000030.pyth"]
    assert cu.prune_mid_epoch_checkpoints(cfg.OUTPUT_DIR, keep=0) == []


def test_stale_temp_files_of_killed_writes_are_removed(tmp_path):
    cfg = job_cfg(tmp_path)
    kept = cu.save_checkpoint(cfg.OUTPUT_DIR, Tiny(), None, 0, cfg)
    folder = cu.get_checkpoint_dir(cfg.OUTPUT_DIR)
    stale = os.path.join(folder, ".checkpoint_epoch_00002.pyth.k2j3x9.tmp")
    with open(stale, "wb") as f:
        f.write(b"half a checkpoint")
    assert cu.remove_stale_temp_files(cfg.OUTPUT_DIR) == [os.path.basename(stale)]
    assert os.listdir(folder) == [os.path.basename(kept)]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_a_full_disk_says_so_first_and_keeps_the_earlier_checkpoints(tmp_path, monkeypatch):
    cfg = job_cfg(tmp_path)
    earlier = cu.save_checkpoint(cfg.OUTPUT_DIR, Tiny(), None, 0, cfg)

    def fdopen_on_a_full_disk(fd, mode):  # the kernel's ENOSPC, from /dev/full
        os.close(fd)
        return open("/dev/full", mode)

    monkeypatch.setattr(os, "fdopen", fdopen_on_a_full_disk)
    with pytest.raises(OSError) as err:
        cu.save_checkpoint(cfg.OUTPUT_DIR, Tiny(), None, 1, cfg)
    assert err.value.errno == errno.ENOSPC
    assert str(err.value).split("\n")[0].startswith(f"[Errno {errno.ENOSPC}] Disk full")
    assert "checkpoint_epoch_00002.pyth was not written" in str(err.value)
    assert os.listdir(cu.get_checkpoint_dir(cfg.OUTPUT_DIR)) == [os.path.basename(earlier)]
