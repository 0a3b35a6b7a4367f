"""DataLoaders: per-process batch size, distributed sampling, short-cycle batches, collate."""

from typing import Any, Dict, List, Sequence, Tuple

import torch
import torch.distributed as dist
from fvcore.common.config import CfgNode
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, SequentialSampler

from slowfast_atfr.datasets.build import build_dataset
from slowfast_atfr.datasets.multigrid_helper import ShortCycleBatchSampler
from slowfast_atfr.utils import distributed as du

Batch = Tuple[List[torch.Tensor], torch.Tensor, torch.Tensor, Dict[str, Any]]


def collate(batch: Sequence[tuple]) -> Batch:
    """Stack items into `(inputs, labels [N], index [N], meta)`.

    inputs: one [N, C, T, H, W] tensor per pathway; meta["bad_videos"] is the flat list of
    every item's replaced bad videos and meta["valid"] a bool tensor [N].
    """
    frames, labels, indices, metas = zip(*batch)
    inputs = [torch.stack([item[p] for item in frames]) for p in range(len(frames[0]))]
    meta = {
        "bad_videos": [path for m in metas for path in m["bad_videos"]],
        "valid": torch.tensor([bool(m["valid"]) for m in metas], dtype=torch.bool),
    }
    return inputs, torch.tensor(labels, dtype=torch.long), torch.tensor(indices), meta


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def construct_loader(cfg: CfgNode, split: str, is_precise_bn: bool = False) -> DataLoader:
    """Build the DataLoader of `split` ("train", "val" or "test").

    The batch size per process is TRAIN.BATCH_SIZE (TEST.BATCH_SIZE for test) divided by the
    processes per machine. Train shuffles and drops the last partial batch; with
    MULTIGRID.SHORT_CYCLE (and not `is_precise_bn`) it batches with `ShortCycleBatchSampler`.
    """
    if split not in ("train", "val", "test"):
        raise ValueError(f"split={split!r} must be 'train', 'val' or 'test'.")
    train = split == "train"
    name = cfg.TEST.DATASET if split == "test" else cfg.TRAIN.DATASET
    total = cfg.TEST.BATCH_SIZE if split == "test" else cfg.TRAIN.BATCH_SIZE
    batch_size = total // du.processes_per_machine(cfg)
    if batch_size < 1:
        raise ValueError(f"Batch size {total} is smaller than the processes per machine "
                         f"({du.processes_per_machine(cfg)}).")
    dataset = build_dataset(name, cfg, split)
    if _distributed():
        sampler = DistributedSampler(dataset, shuffle=train)
    else:
        sampler = RandomSampler(dataset) if train else SequentialSampler(dataset)
    common = dict(
        num_workers=cfg.DATA_LOADER.NUM_WORKERS,
        pin_memory=cfg.DATA_LOADER.PIN_MEMORY and cfg.NUM_GPUS > 0 and torch.cuda.is_available(),
        collate_fn=collate,
    )
    if train and cfg.MULTIGRID.SHORT_CYCLE and not is_precise_bn:
        batch_sampler = ShortCycleBatchSampler(
            sampler, batch_size=batch_size, drop_last=True, cfg=cfg
        )
        return DataLoader(dataset, batch_sampler=batch_sampler, **common)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=train, **common)


def shuffle_dataset(loader: DataLoader, epoch: int) -> None:
    """Give the DistributedSampler of `loader` its epoch, so each epoch shuffles differently."""
    sampler = loader.sampler
    if isinstance(loader.batch_sampler, ShortCycleBatchSampler):
        sampler = loader.batch_sampler.sampler
    if isinstance(sampler, DistributedSampler):
        sampler.set_epoch(epoch)
