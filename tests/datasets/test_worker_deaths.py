"""A loader worker killed by a signal is reported with the videos of the batch it was loading."""

import os
import signal
import time

import pytest
import torch
from dataset_helpers import tiny_cfg
from torch.multiprocessing import reductions

from slowfast_atfr.datasets import decoder
from slowfast_atfr.datasets.loader import (
    ReportingDataLoader,
    WorkerDiedError,
    construct_loader,
    skip_batches,
)


@pytest.mark.parametrize("rebuilt", [False, True], ids=["construct_loader", "skip_batches"])
def test_a_killed_worker_names_the_videos_of_its_batch(demo_root, monkeypatch, rebuilt):
    cfg = tiny_cfg(demo_root)  # test split: 6 clips per video, batches of 4 clips
    cfg.TEST.BATCH_SIZE, cfg.DATA_LOADER.NUM_WORKERS = 4, 1
    loader = construct_loader(cfg, "test")
    first, second = loader.dataset.paths[:2]
    decode = decoder.decode_video

    def killed_on_second(path, *args, **kwargs):
        if path == second:  # as the out-of-memory killer would
            os.kill(os.getpid(), signal.SIGKILL)
        return decode(path, *args, **kwargs)

    monkeypatch.setattr(decoder, "decode_video", killed_on_second)  # the forked worker's too
    # The worker dies in the second batch (clips 4-7); the first may or may not reach us.
    with pytest.raises(WorkerDiedError) as info:
        for _ in skip_batches(loader, 1) if rebuilt else loader:
            pass
    message = str(info.value)
    assert "DataLoader worker 0" in message and "killed by signal SIGKILL" in message
    assert f"videos {[first, second]} (dataset indices [4, 5, 6, 7])" in message
    assert "DATA_LOADER.NUM_WORKERS" in message


def test_a_worker_dying_while_its_finished_batch_is_in_transit_is_reported(
        demo_root, monkeypatch, tmp_path):
    cfg = tiny_cfg(demo_root)
    cfg.TEST.BATCH_SIZE, cfg.DATA_LOADER.NUM_WORKERS = 4, 1
    loader = construct_loader(cfg, "test")
    first, second = loader.dataset.paths[:2]
    decode = decoder.decode_video
    loading, go = tmp_path / "loading_second", tmp_path / "die_now"

    def killed_on_second(path, *args, **kwargs):
        if path == second:
            loading.touch()
            while not go.exists():
                time.sleep(0.01)
            os.kill(os.getpid(), signal.SIGKILL)
        return decode(path, *args, **kwargs)

    monkeypatch.setattr(decoder, "decode_video", killed_on_second)
    batches = iter(loader)  # the worker is forked here: what follows patches the main process

    def sender_dying(*args):
        # Fetching the first batch's shared memory from the worker fails as the worker dies,
        # before its death can be seen (the out-of-memory killer between two batches).
        while not loading.exists():
            time.sleep(0.01)
        go.touch()
        raise ConnectionResetError(104, "Connection reset by peer")

    monkeypatch.setattr(reductions, "rebuild_storage_fd", sender_dying)
    with pytest.raises(WorkerDiedError) as info:
        for _ in batches:
            pass
    message = str(info.value)
    assert "killed by signal SIGKILL" in message
    assert f"videos {[first, second]} (dataset indices [4, 5, 6, 7])" in message


class _Failing(torch.utils.data.Dataset):
    paths = ["a.mp4", "b.mp4"]

    def __len__(self):
        return 2

    def __getitem__(self, index):
        raise RuntimeError(f"no item {index}")


def test_errors_of_living_workers_pass_through():
    batches = iter(ReportingDataLoader(_Failing(), batch_size=2, num_workers=1))
    with pytest.raises(RuntimeError, match="(?s)Caught RuntimeError in DataLoader.*no item 0"):
        next(batches)
    # Run out, the iterator stops its worker now; left to the garbage collector, torch may
    # wait 5 s for a worker whose queues are already gone.
    assert next(batches, None) is None
