"""Norm layers of the backbones, resolved once by name (`get_norm`).

Every variant counts valid frames only inside a `varlen` lengths context, so ATFR
training statistics ignore padding. Parameter and buffer names are PySlowFast's.
"""

from functools import partial
from typing import Callable

import torch
import torch.distributed as dist
import torch.nn as nn

from slowfast_atfr.models import varlen
from slowfast_atfr.models.varlen import VarLenBatchNorm3d

_NORM_TYPES = ("batchnorm", "sub_batchnorm", "sync_batchnorm")


def _masked_moments(x: torch.Tensor, lengths, groups: int):
    """Per-group, per-channel (mean [G, C], var [G, C], count [G, 1]) over valid frames.

    Sample i of x [N, C, T, H, W] belongs to group i % groups (PySlowFast's sub-batches).
    """
    n, c, t, h, w = x.shape
    if lengths is None:
        mask = x.new_ones(n, 1, t, 1, 1)
    else:
        mask = varlen.valid_mask(lengths.to(x.device), t).to(x.dtype)[:, None, :, None, None]
    xs = x.view(n // groups, groups, c, t, h, w)
    ms = mask.view(n // groups, groups, 1, t, 1, 1)
    count = ms.sum(dim=(0, 3, 4, 5)).view(groups, 1) * h * w
    mean = (xs * ms).sum(dim=(0, 3, 4, 5)) / count
    centred = (xs - mean.view(1, groups, c, 1, 1, 1)) * ms
    var = centred.pow(2).sum(dim=(0, 3, 4, 5)) / count
    return mean, var, count


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
        mean = means.mean(0)
        self.bn.running_mean.copy_(mean)
        self.bn.running_var.copy_(variances.mean(0) + (means - mean).pow(2).mean(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, C, T, H, W] with N divisible by num_splits in training."""
        lengths = varlen.active_lengths(x.shape[2])
        if not self.training:
            x = self.bn(x)
        else:
            if x.shape[0] % self.num_splits != 0:
                raise ValueError(f"Batch size {x.shape[0]} must be divisible by "
                                 f"BN.NUM_SPLITS={self.num_splits}.")
            x = self._split_forward(x, lengths)
        if self.affine:
            x = x * self.weight.view(-1, 1, 1, 1) + self.bias.view(-1, 1, 1, 1)
        return varlen.zero_padding(x, lengths)

    def _split_forward(self, x: torch.Tensor, lengths) -> torch.Tensor:
        n, c = x.shape[:2]
        mean, var, count = _masked_moments(x, lengths, self.num_splits)
        split_bn = self.split_bn
        if split_bn.track_running_stats:
            split_bn._update_running_stats(mean.reshape(-1), var.reshape(-1),
                                           count.expand(-1, c).reshape(-1))
        shape = (n // self.num_splits, self.num_splits, c) + x.shape[2:]
        scale = torch.rsqrt(var + split_bn.eps).view(1, self.num_splits, c, 1, 1, 1)
        y = (x.view(shape) - mean.view(1, self.num_splits, c, 1, 1, 1)) * scale
        return y.view_as(x)


class SyncBatchNorm3d(VarLenBatchNorm3d):
    """VarLenBatchNorm3d whose training statistics are summed over all processes.

    Unlike PySlowFast's NaiveSyncBatchNorm3d it always reduces over the whole default process
    group (BN.NUM_SYNC_DEVICES and BN.GLOBAL_SYNC are not read), which is what multigrid
    needs to keep MULTIGRID.BN_BASE_SIZE samples per statistic or more. Falls back to local
    statistics without torch.distributed. Same state dict as nn.BatchNorm3d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        synced = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        if not (self.training and synced):
            return super().forward(x)
        lengths = varlen.active_lengths(x.shape[2])
        mean, var, count = _masked_moments(x, lengths, 1)
        stats = torch.cat([mean[0] * count[0], (var[0] + mean[0].pow(2)) * count[0], count[0]])
        dist.all_reduce(stats)
        c = x.shape[1]
        total = stats[2 * c:]
        mean = stats[:c] / total
        var = (stats[c:2 * c] / total - mean.pow(2)).clamp(min=0)
        if self.track_running_stats:
            self._update_running_stats(mean, var, total)
        y = (x - mean.view(1, -1, 1, 1, 1)) * torch.rsqrt(var + self.eps).view(1, -1, 1, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, -1, 1, 1, 1) + self.bias.view(1, -1, 1, 1, 1)
        return varlen.zero_padding(y, lengths)


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
    raise ValueError(f"BN.NORM_TYPE={name!r} is not valid; expected one of {list(_NORM_TYPES)}.")
