"""Multigrid short cycle (Wu et al., CVPR 2020): batches of smaller crops, larger batch sizes."""

from typing import Iterator, List, Sequence, Tuple

import torch
from fvcore.common.config import CfgNode


def short_cycle_batch_sizes(batch_size: int, factors: Sequence[float]) -> List[int]:
    """Batch size of each short-cycle shape, keeping B * S^2 about constant.

    Args:
        batch_size: batch size at the full crop size.
        factors: crop-size factors of the short shapes (MULTIGRID.SHORT_CYCLE_FACTORS).

    Returns:
        one batch size per factor, then `batch_size` for the full shape.
    """
    return [max(1, int(round(batch_size / f**2))) for f in factors] + [batch_size]


class ShortCycleBatchSampler(torch.utils.data.Sampler):
    """Yield batches of `(index, short_cycle_idx)` pairs, cycling through the short shapes.

    Batch k uses shape k % (len(factors) + 1); the data set crops short_cycle_idx
    i < len(factors) at int(round(TRAIN_CROP_SIZE * factors[i])) and the last at full size.
    """

    def __init__(
        self,
        sampler: torch.utils.data.Sampler,
        *,
        batch_size: int,
        drop_last: bool,
        cfg: CfgNode,
    ):
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size} must be >= 1.")
        self.sampler = sampler
        self.drop_last = drop_last
        self.batch_sizes = short_cycle_batch_sizes(batch_size, cfg.MULTIGRID.SHORT_CYCLE_FACTORS)

    def __iter__(self) -> Iterator[List[Tuple[int, int]]]:
        cycle, batch = 0, []
        for index in self.sampler:
            batch.append((index, cycle))
            if len(batch) == self.batch_sizes[cycle]:
                yield batch
                cycle, batch = (cycle + 1) % len(self.batch_sizes), []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        remaining, cycle, count = len(self.sampler), 0, 0
        while remaining >= self.batch_sizes[cycle]:
            remaining -= self.batch_sizes[cycle]
            cycle, count = (cycle + 1) % len(self.batch_sizes), count + 1
        return count + (1 if remaining and not self.drop_last else 0)
