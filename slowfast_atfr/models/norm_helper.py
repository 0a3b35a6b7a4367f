"""Norm layers of the backbones, resolved once by name (`get_norm`).

Every variant counts valid frames only inside a `varlen` lengths context, so ATFR
training statistics ignore padding. Parameter and buffer names are PySlowFast's.
"""

from functools import partial
from typing import Callable

import torch
import torch.distributed as dist
import torch.nn as nn

from slowfast_atfr.config.choices import NORM_TYPES
from slowfast_atfr.models import varlen
from slowfast_atfr.models.varlen import VarLenBatchNorm3d


class SubBatchNorm3d(nn.Module):
    """BatchNorm whose training statistics come from `num_splits` sub-batches (multigrid).

    Same names as PySlowFast: affine `weight`/`bias` here, statistics in `bn` (used in
    eval) and `split_bn` (`num_splits` x channels, used in training); `aggregate_stats`
    folds `split_bn` into `bn` before evaluation.
    """

    def __init__(self, num_splits: int, **kwargs):
        super().__init__()
        self.num_splits = num_splits
        num_features = kwargs["num_features"]
        self.affine = kwargs.get("affine", True)
        if self.affine:
            kwargs["affine"] = False
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        self.bn = VarLenBatchNorm3d(**kwargs)
        kwargs["num_features"] = num_features * num_splits
        self.split_bn = VarLenBatchNorm3d(**kwargs)

    @torch.no_grad()
    def aggregate_stats(self) -> None:
        """Set `bn`'s running statistics to the mixture of the sub-batch statistics."""
        if not self.split_bn.track_running_stats:
            return
        means = self.split_bn.running_mean.view(self.num_splits, -1)
        variances = self.split_bn.running_var.view(self.num_splits, -1)
        # Equal parts: each split counts once, its variance is its M2 per element.
        count, mean, m2 = varlen.combine_moments(torch.ones_like(means), means, variances)
        self.bn.running_mean.copy_(mean)
        self.bn.running_var.copy_(m2 / count)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, C, T, H, W] (or a varlen batch of N clips) with N divisible by num_splits
        in training."""
        if not self.training:
            x = self.bn(x)
            if self.affine:
                x = x * self.weight.view(-1, 1, 1, 1) + self.bias.view(-1, 1, 1, 1)
            return varlen.zero_invalid(x)
        clips = varlen.num_clips(x)
        if clips % self.num_splits != 0:
            raise ValueError(f"Batch size {clips} must be divisible by "
                             f"BN.NUM_SPLITS={self.num_splits}.")
        weight, bias = (self.weight, self.bias) if self.affine else (None, None)
        return varlen.normalise_frames(x, self.split_bn, self.num_splits, weight, bias)


class SyncBatchNorm3d(VarLenBatchNorm3d):
    """VarLenBatchNorm3d whose training statistics are combined over all processes.

    Unlike PySlowFast's NaiveSyncBatchNorm3d it always reduces over the whole default process
    group (BN.NUM_SYNC_DEVICES and BN.GLOBAL_SYNC are not read), which is what multigrid
    needs to keep MULTIGRID.BN_BASE_SIZE samples per statistic or more. The backward pass
    sums the statistics' gradients over the processes too (varlen.normalise_frames).
    Falls back to local statistics without torch.distributed. Same state dict as
    nn.BatchNorm3d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        synced = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if not (self.training and synced):
            return super().forward(x)
        return varlen.normalise_frames(x, self, 1, self.weight, self.bias,
                                       process_group=dist.group.WORLD)


def get_norm(name: str = "batchnorm", *, num_splits: int = 1) -> Callable[..., nn.Module]:
    """The norm constructor for BN.NORM_TYPE `name`.

    Returns a callable used as `norm_module(num_features=C, eps=..., momentum=...)`.

    Raises:
        ValueError: if `name` is not one of "batchnorm", "sub_batchnorm", "sync_batchnorm".
    """
    if name == "batchnorm":
        return VarLenBatchNorm3d
    if name == "sub_batchnorm":
        return partial(SubBatchNorm3d, num_splits=num_splits)
    if name == "sync_batchnorm":
        return SyncBatchNorm3d
    raise ValueError(f"BN.NORM_TYPE={name!r} is not valid; expected one of {list(NORM_TYPES)}.")
