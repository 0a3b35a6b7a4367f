"""construct_loader, collate, shuffle_dataset and the decoding backend note."""

import logging
import shutil

import pytest
import torch
import torch.distributed as dist
from dataset_helpers import NUM_DEMO_CLASSES, tiny_cfg
from torch.utils.data import DataLoader, DistributedSampler

from slowfast_atfr.datasets import build as build_module
from slowfast_atfr.datasets import loader as loader_module
from slowfast_atfr.datasets.loader import collate, construct_loader, shuffle_dataset
from slowfast_atfr.datasets.multigrid_helper import ShortCycleBatchSampler


def test_collate_stacks_pathways_and_flattens_meta():
    item = ([torch.zeros(3, 1, 4, 4), torch.ones(3, 4, 4, 4)], 2, 7,
            {"bad_videos": ["a", "b"], "valid": True})
    other = ([torch.zeros(3, 1, 4, 4), torch.ones(3, 4, 4, 4)], 0, 1,
             {"bad_videos": [], "valid": False})
    inputs, labels, index, meta = collate([item, other, item])
    assert [x.shape for x in inputs] == [(3, 3, 1, 4, 4), (3, 3, 4, 4, 4)]
    assert labels.tolist() == [2, 0, 2] and index.tolist() == [7, 1, 7]
    assert meta["bad_videos"] == ["a", "b", "a", "b"]
    assert meta["valid"].dtype == torch.bool and meta["valid"].tolist() == [True, False, True]


def test_train_loader_batch_per_process_and_drop_last(demo_root):
    cfg = tiny_cfg(demo_root)
    cfg.TRAIN.BATCH_SIZE, cfg.NUM_CPU_PROCESSES = 4, 2
    batches = list(construct_loader(cfg, "train"))
    assert len(batches) == 2 * NUM_DEMO_CLASSES // 2
    inputs, labels, index, meta = batches[0]
    assert inputs[0].shape == (2, 3, 4, 32, 32) and labels.shape == (2,)
    cfg.NUM_CPU_PROCESSES = 1
    assert len(construct_loader(cfg, "train")) == 1  # 6 videos, batch 4, last dropped


def test_test_loader_keeps_order_and_every_clip(demo_root):
    cfg = tiny_cfg(demo_root, arch="slowfast")
    cfg.SLOWFAST.ALPHA, cfg.TEST.BATCH_SIZE = 4, 4
    cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS = 1, 3
    index = torch.cat([b[2] for b in construct_loader(cfg, "test")])
    assert index.tolist() == list(range(3 * NUM_DEMO_CLASSES))
    inputs, labels, _, meta = next(iter(construct_loader(cfg, "test")))
    assert [x.shape[2] for x in inputs] == [1, 4] and meta["valid"].all()


def test_bad_videos_reach_the_main_process_from_workers(demo_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(demo_root, root)
    with open(root / "train.csv", "a") as f:
        f.write("missing.mp4 0\n")
    cfg = tiny_cfg(root)
    cfg.TRAIN.BATCH_SIZE, cfg.DATA_LOADER.NUM_WORKERS = 7, 1
    _, _, _, meta = next(iter(construct_loader(cfg, "train")))
    assert "missing.mp4" in meta["bad_videos"]  # found nowhere: relative to the working dir


def test_short_cycle_loader(demo_root):
    cfg = tiny_cfg(demo_root)
    cfg.MULTIGRID.SHORT_CYCLE, cfg.TRAIN.BATCH_SIZE = True, 1
    loader = construct_loader(cfg, "train")
    assert isinstance(loader.batch_sampler, ShortCycleBatchSampler)
    shapes = [tuple(b[0][0].shape) for b in loader]
    assert shapes == [(4, 3, 4, 16, 16), (2, 3, 4, 23, 23)]
    precise = construct_loader(cfg, "train", is_precise_bn=True)
    assert not isinstance(precise.batch_sampler, ShortCycleBatchSampler)


def test_unknown_dataset_and_split(demo_root):
    cfg = tiny_cfg(demo_root)
    with pytest.raises(ValueError, match="split"):
        construct_loader(cfg, "training")
    cfg.TRAIN.DATASET = "nope"
    with pytest.raises(KeyError, match="nope"):
        construct_loader(cfg, "train")


def test_distributed_sampler_and_shuffle_dataset(demo_root, tmp_path, monkeypatch):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'init'}", rank=0,
                            world_size=1)
    try:
        monkeypatch.setattr(loader_module, "_distributed", lambda: True)
        cfg = tiny_cfg(demo_root)
        cfg.TRAIN.BATCH_SIZE = 2
        loader = construct_loader(cfg, "train")
        assert isinstance(loader.sampler, DistributedSampler)
        shuffle_dataset(loader, 3)
        assert loader.sampler.epoch == 3
        cfg.MULTIGRID.SHORT_CYCLE = True
        loader = construct_loader(cfg, "train")
        shuffle_dataset(loader, 5)
        assert loader.batch_sampler.sampler.epoch == 5
    finally:
        dist.destroy_process_group()
    plain = DataLoader(range(4))
    shuffle_dataset(plain, 1)  # no DistributedSampler: nothing to do


def test_torchvision_backend_is_noted_once_per_process(demo_root, caplog):
    build_module._warn_torchvision_backend.cache_clear()  # another test may have warned
    cfg = tiny_cfg(demo_root)
    cfg.DATA.DECODING_BACKEND = "torchvision"
    cfg.TRAIN.BATCH_SIZE = 2
    with caplog.at_level(logging.WARNING):
        next(iter(construct_loader(cfg, "train")))
        next(iter(construct_loader(cfg, "val")))
    notes = [r.getMessage() for r in caplog.records if "DECODING_BACKEND" in r.getMessage()]
    assert len(notes) == 1
    assert "decoding with PyAV" in notes[0] and "DATA.DECODING_SHORT_SIZE is not applied" \
        in notes[0] and "DATA.DECODING_BACKEND pyav" in notes[0]
