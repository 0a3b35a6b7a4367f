"""Short-cycle batch sampler and the data set's handling of (index, short_cycle_idx) pairs."""

import pytest
import torch
from dataset_helpers import tiny_cfg
from torch.utils.data import SequentialSampler

from slowfast_atfr.datasets import build_dataset
from slowfast_atfr.datasets.multigrid_helper import (
    ShortCycleBatchSampler,
    short_cycle_batch_sizes,
)


def test_batch_sizes_keep_b_s2_about_constant():
    assert short_cycle_batch_sizes(4, [0.5, 0.5**0.5]) == [16, 8, 4]
    sizes = short_cycle_batch_sizes(6, [0.5, 0.5**0.5])
    for b, f in zip(sizes, [0.5, 0.5**0.5, 1.0]):
        assert b * f**2 == pytest.approx(6, rel=0.1)


@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_yields_index_cycle_pairs(tmp_path, drop_last):
    cfg = tiny_cfg(tmp_path)
    sampler = ShortCycleBatchSampler(SequentialSampler(range(40)), batch_size=4,
                                     drop_last=drop_last, cfg=cfg)
    batches = list(sampler)
    assert [len(b) for b in batches] == [16, 8, 4] + ([] if drop_last else [12])
    assert len(sampler) == len(batches)
    assert [{c for _, c in b} for b in batches[:3]] == [{0}, {1}, {2}]
    assert [i for b in batches for i, _ in b] == list(range(sum(map(len, batches))))


def test_dataset_crops_at_the_cycle_size(demo_root):
    cfg = tiny_cfg(demo_root)
    cfg.MULTIGRID.SHORT_CYCLE = True
    dataset = build_dataset("kinetics", cfg, "train")
    torch.manual_seed(0)
    sizes = [dataset[(1, cycle)][0][0].shape[-1] for cycle in range(3)]
    assert sizes == [16, 23, 32]  # round(32 * 0.5), round(32 * 0.707), full
    frames, label, index, meta = dataset[(torch.tensor(1), 0)]
    assert index == 1 and label == dataset.labels[1] and meta["valid"]
