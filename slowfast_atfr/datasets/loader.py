"""DataLoaders: per-process batch size, distributed sampling, short-cycle batches, collate.

Every epoch's order is a function of (RNG_SEED, epoch) alone (`shuffle_dataset`), and so is
every training item's randomness (`VideoDataset.set_epoch`), so a run resumed mid-epoch
loads exactly the batches an uninterrupted run would have. A loader worker that dies (the
out-of-memory killer's SIGKILL, a crash) is reported with the videos it was loading
(`ReportingDataLoader`).
"""

import itertools
import signal
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.distributed as dist
from fvcore.common.config import CfgNode
from torch.utils.data import (
    DataLoader,
    DistributedSampler,
    RandomSampler,
    SequentialSampler,
    get_worker_info,
)
from torch.utils.data import _utils as loader_utils
from torch.utils.data.dataloader import _MultiProcessingDataLoaderIter

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


class EpochRandomSampler(RandomSampler):
    """A RandomSampler whose order depends only on (seed, epoch), like DistributedSampler's."""

    def __init__(self, data_source, seed: int) -> None:
        super().__init__(data_source, generator=torch.Generator())
        self.seed = seed
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed + epoch)


# Dataset indices of its current batch that each worker records, at most.
_MAX_RECORDED = 512
# Seconds between checks that the workers are alive while the main process waits for a batch.
_WORKER_CHECK_S = 0.5
# How long a failed batch transfer waits for its worker's death to show.
_TRANSIT_DEATH_WAIT_S = 5.0
# What to do about a worker killed by these signals; others mean a crash while loading.
_SIGNAL_ADVICE = {
    signal.SIGKILL: "SIGKILL is what the out-of-memory killer sends: lower DATA_LOADER.NUM_WORKERS "
                    "or the memory of a batch (TRAIN.BATCH_SIZE, DATA.NUM_FRAMES, crop sizes), or "
                    "give the job more memory",
    signal.SIGBUS: "SIGBUS usually means shared memory (/dev/shm) ran out: enlarge it or lower "
                   "DATA_LOADER.NUM_WORKERS",
}
_CRASH_ADVICE = ("a crash while loading one of these videos: decode them one by one to find it "
                 "and drop it from the list")
_SIGNAL_NAMES = {s.value: s.name for s in signal.Signals}


class WorkerDiedError(RuntimeError):
    """A DataLoader worker process died; the message names it and the videos it was loading."""


class _RecordBatches:
    """`worker_init_fn` that makes the worker's copy of the data set write the dataset indices
    of each batch into its row of `in_flight` (memory shared with the main process) before
    loading the batch: row = [count, index, index, ...]."""

    def __init__(self, in_flight: torch.Tensor, worker_init_fn: Optional[Callable]) -> None:
        self.in_flight, self.worker_init_fn = in_flight, worker_init_fn

    def __call__(self, worker_id: int) -> None:
        dataset = get_worker_info().dataset
        load = getattr(dataset, "__getitems__", None) or (lambda batch: [dataset[i] for i in batch])
        row = self.in_flight[worker_id]

        def record_then_load(batch: list) -> list:
            # Short-cycle batches hold (index, short_cycle_idx) pairs.
            indices = [i[0] if isinstance(i, (tuple, list)) else i for i in batch][:_MAX_RECORDED]
            row[1: len(indices) + 1] = torch.tensor(indices, dtype=torch.int64)
            row[0] = len(indices)
            return load(batch)

        dataset.__getitems__ = record_then_load
        if self.worker_init_fn is not None:
            self.worker_init_fn(worker_id)


def _batch_videos(dataset, indices: List[int]) -> List[str]:
    """The distinct videos of dataset indices (test mode has several clips per video)."""
    if not hasattr(dataset, "paths"):
        return [f"dataset index {i}" for i in indices]
    video = dataset.video_index if hasattr(dataset, "video_index") else int
    return list(dict.fromkeys(dataset.paths[video(i)] for i in indices))


def _death_report(worker_id: int, process, row: torch.Tensor, dataset) -> str:
    if process.exitcode < 0:
        name = _SIGNAL_NAMES.get(-process.exitcode, str(-process.exitcode))
        how = f"was killed by signal {name}"
        advice = _SIGNAL_ADVICE.get(-process.exitcode, f"{name} means {_CRASH_ADVICE}")
    else:
        how, advice = f"exited with code {process.exitcode}", f"that means {_CRASH_ADVICE}"
    count = int(row[0])
    if count < 0:
        return f"DataLoader worker {worker_id} (pid {process.pid}) {how} before loading a batch."
    indices = row[1: count + 1].tolist()
    return (f"DataLoader worker {worker_id} (pid {process.pid}) {how} while loading the batch "
            f"of videos {_batch_videos(dataset, indices)} (dataset indices {indices}); {advice}.")


class _ReportingIter(_MultiProcessingDataLoaderIter):
    """Worker iterator whose dead workers raise `WorkerDiedError` from `next()`.

    torch's SIGCHLD handler would raise a bare "worker is killed by signal" error wherever the
    main thread happens to be; this iterator takes its workers off that handler and checks
    them every `_WORKER_CHECK_S` while it waits for a batch, where it can name the batch.
    """

    def __init__(self, loader: "ReportingDataLoader") -> None:
        loader.in_flight.fill_(-1)  # new workers have loaded nothing yet
        super().__init__(loader)
        loader_utils.signal_handling._remove_worker_pids(id(self))
        self._worker_pids_set = False
        self._in_flight = loader.in_flight

    def _try_get_data(self, timeout: float = _WORKER_CHECK_S):
        return super()._try_get_data(timeout)

    def _next_data(self):
        try:
            return super()._next_data()
        except (RuntimeError, OSError, EOFError) as e:
            # A worker that dies while its finished batch is still in the queue breaks the
            # transfer of that batch's shared memory (ConnectionResetError, EOFError), maybe
            # before its death can be seen: give its exit time to be seen.
            in_transit = not isinstance(e, RuntimeError)
            dead = self._dead_workers(_TRANSIT_DEATH_WAIT_S if in_transit else 0.0)
            if not dead:
                raise
            raise WorkerDiedError(" ".join(_death_report(k, w, self._in_flight[k], self._dataset)
                                           for k, w in dead)) from e

    def _dead_workers(self, wait_s: float) -> list:
        """[(worker id, process)] of the workers that ended with an error, waiting up to
        `wait_s` for one."""
        deadline = time.monotonic() + wait_s
        while True:
            dead = [(k, w) for k, w in enumerate(self._workers)
                    if not w.is_alive() and w.exitcode not in (0, None)]
            if dead or time.monotonic() >= deadline:
                return dead
            time.sleep(0.02)


class ReportingDataLoader(DataLoader):
    """A DataLoader whose dead workers are reported with the videos of the batch they were
    loading (`WorkerDiedError`); the cost is one small shared-memory write per batch."""

    def __init__(self, dataset, *, num_workers: int = 0, worker_init_fn=None, **kwargs) -> None:
        if isinstance(worker_init_fn, _RecordBatches):  # rebuilt from another loader
            worker_init_fn = worker_init_fn.worker_init_fn
        self.in_flight = torch.full((num_workers, _MAX_RECORDED + 1), -1, dtype=torch.int64)
        if num_workers > 0:
            worker_init_fn = _RecordBatches(self.in_flight.share_memory_(), worker_init_fn)
        super().__init__(dataset, num_workers=num_workers, worker_init_fn=worker_init_fn, **kwargs)

    def _get_iterator(self):
        if self.num_workers == 0:
            return super()._get_iterator()
        self.check_worker_number_rationality()
        return _ReportingIter(self)


def _leave_stop_signals_to_the_main_process(worker_id: int) -> None:
    """A worker ignores SIGTERM and SIGINT, which a scheduler or a terminal sends to every
    process of a job: the main process stops training cleanly on them (after the current
    iteration, engine/preemption.py), which needs its workers alive, and then ends them."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_IGN)


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def construct_loader(
    cfg: CfgNode, split: str, is_precise_bn: bool = False
) -> ReportingDataLoader:
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
        sampler = DistributedSampler(dataset, shuffle=train, seed=cfg.RNG_SEED)
    else:
        sampler = EpochRandomSampler(dataset, cfg.RNG_SEED) if train else SequentialSampler(
            dataset)
    common = dict(
        num_workers=cfg.DATA_LOADER.NUM_WORKERS,
        pin_memory=cfg.DATA_LOADER.PIN_MEMORY and cfg.NUM_GPUS > 0 and torch.cuda.is_available(),
        collate_fn=collate,
        worker_init_fn=_leave_stop_signals_to_the_main_process,
    )
    if train and cfg.MULTIGRID.SHORT_CYCLE and not is_precise_bn:
        batch_sampler = ShortCycleBatchSampler(
            sampler, batch_size=batch_size, drop_last=True, cfg=cfg
        )
        return ReportingDataLoader(dataset, batch_sampler=batch_sampler, **common)
    return ReportingDataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=train,
                               **common)


def shuffle_dataset(loader: DataLoader, epoch: int) -> None:
    """Give the sampler and the data set of `loader` their epoch: each epoch shuffles and
    augments differently, and the same epoch always the same way."""
    sampler = loader.sampler
    if isinstance(loader.batch_sampler, ShortCycleBatchSampler):
        sampler = loader.batch_sampler.sampler
    if isinstance(sampler, (DistributedSampler, EpochRandomSampler)):
        sampler.set_epoch(epoch)
    if hasattr(loader.dataset, "set_epoch"):
        loader.dataset.set_epoch(epoch)


class _SkipBatches(torch.utils.data.Sampler):
    """A batch sampler that drops the first `skip` batches of `batch_sampler` (resume)."""

    def __init__(self, batch_sampler, skip: int) -> None:
        self.batch_sampler, self.skip = batch_sampler, skip

    def __iter__(self):
        return itertools.islice(iter(self.batch_sampler), self.skip, None)

    def __len__(self) -> int:
        return max(len(self.batch_sampler) - self.skip, 0)


def skip_batches(loader: DataLoader, skip: int) -> DataLoader:
    """`loader` without its first `skip` batches, which are never loaded (mid-epoch resume)."""
    if skip == 0:
        return loader
    return ReportingDataLoader(
        loader.dataset, batch_sampler=_SkipBatches(loader.batch_sampler, skip),
        num_workers=loader.num_workers, collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory, worker_init_fn=loader.worker_init_fn,
        multiprocessing_context=loader.multiprocessing_context, timeout=loader.timeout,
    )
