"""Precise BatchNorm statistics (BN.USE_PRECISE_STATS): recomputed on training batches
with the weights fixed, so the statistics match the final weights instead of a running
average over the epoch's changing ones."""

from typing import Iterable, Iterator, List

import torch
import torch.nn as nn
from fvcore.nn.precise_bn import update_bn_stats

from slowfast_atfr.models.bn_layout import aggregate_sub_bn_stats
from slowfast_atfr.utils import distributed as du
from slowfast_atfr.utils import misc
from slowfast_atfr.utils.progress import track


def _inputs(loader: Iterable, device: torch.device) -> Iterator[List[torch.Tensor]]:
    for batch in loader:
        yield misc.to_device(batch[0], device)


def compute_precise_bn_stats(model: nn.Module, loader: Iterable, num_iters: int,
                             device: torch.device) -> None:
    """Recompute BN running statistics on `num_iters` training batches (BN.USE_PRECISE_STATS).

    The statistics are averaged over processes so every rank keeps identical buffers.
    """
    if num_iters <= 0:
        return
    inner = du.unwrap_model(model)
    update_bn_stats(inner, track(_inputs(loader, device), num_iters, "Precise BN"), num_iters)
    norms = [m for m in inner.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
             and m.running_mean is not None]
    du.all_reduce([m.running_mean for m in norms] + [m.running_var for m in norms])
    aggregate_sub_bn_stats(inner)
