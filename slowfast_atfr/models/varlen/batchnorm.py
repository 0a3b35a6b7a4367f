"""BatchNorm whose statistics count valid frames only: one fused operation for every variant.

`batch_norm_frames` normalises a `[R, C, T, H, W]` tensor whose frames belong to statistic
groups, given as a one-hot membership matrix (padding belongs to none: it is never counted
and its output is zero). `normalise_frames` is what the norm layers call: one group is plain
BatchNorm over valid frames (`VarLenBatchNorm3d` on a padded batch); G groups are
PySlowFast's sub-batches (`SubBatchNorm3d`, multigrid); with a process group the moments are
combined over all processes (`SyncBatchNorm3d`). It is memory-lean like the native kernel:
the forward pass takes per-frame moments in one pass (`var_mean` over H, W) and combines
them per group (Chan's parallel formula, no cancellation), writes the output in one more
pass, and keeps only the input and the [C, G] statistics for the backward pass, which
computes the input gradient from them in closed form. Packed batches with one group need
none of this: every frame is valid, so `VarLenBatchNorm3d` runs the native kernel there.
"""

from typing import Optional, Tuple

import torch
import torch.distributed as dist
import torch.nn as nn

from slowfast_atfr.models.varlen import context
from slowfast_atfr.models.varlen.layout import ClipLayout, zero_padding

Moments = Tuple[torch.Tensor, torch.Tensor, torch.Tensor]


def _per_frame(values: torch.Tensor) -> torch.Tensor:
    """[R, C, T] -> [C, R * T] (frames in the row-major order of `ClipLayout.membership`)."""
    return values.transpose(0, 1).reshape(values.shape[1], -1)


def _to_frames(values: torch.Tensor, member: torch.Tensor, shape: torch.Size,
               dtype: torch.dtype) -> torch.Tensor:
    """Per-group values [C, G] -> per-frame [R, C, T, 1, 1], zero on padding frames."""
    r, c, t = shape[0], shape[1], shape[2]
    per_frame = values @ member.t()  # [C, R * T]
    return per_frame.view(c, r, t).transpose(0, 1).reshape(r, c, t, 1, 1).to(dtype)


def _group_moments(x: torch.Tensor, member: torch.Tensor) -> Moments:
    """(count [G], mean [C, G], M2 [C, G]) of the valid frames of x, per group."""
    var_f, mean_f = torch.var_mean(x.to(member.dtype), dim=(3, 4), correction=0)
    mean_f, var_f = _per_frame(mean_f), _per_frame(var_f)
    per_frame = x.shape[3] * x.shape[4]  # elements of one frame
    count = member.sum(0) * per_frame
    mean = mean_f @ member * per_frame / count.clamp(min=1)
    spread = var_f + (mean_f - mean @ member.t()).pow(2)  # about the group mean, per frame
    return count, mean, spread @ member * per_frame


def _all_moments(count: torch.Tensor, mean: torch.Tensor, m2: torch.Tensor,
                 process_group) -> Moments:
    """Combine the moments of every process (all_gather, then Chan's formula)."""
    world = dist.get_world_size(process_group)
    local = torch.cat([count[None], mean, m2])  # [1 + 2C, G]
    gathered = [torch.empty_like(local) for _ in range(world)]
    dist.all_gather(gathered, local, group=process_group)
    stacked = torch.stack(gathered)  # [W, 1 + 2C, G]
    c = mean.shape[0]
    total, mean, m2 = combine_moments(stacked[:, :1], stacked[:, 1:1 + c], stacked[:, 1 + c:])
    return total[0], mean, m2


def combine_moments(counts: torch.Tensor, means: torch.Tensor,
                    m2s: torch.Tensor) -> Moments:
    """(count, mean, M2) of the union of S parts from theirs, stacked along dim 0 (Chan's
    formula: M2 about the union's mean = the parts' M2 plus their means' spread)."""
    total = counts.sum(0)
    mean = (counts * means).sum(0) / total.clamp(min=1)
    return total, mean, (m2s + counts * (means - mean).pow(2)).sum(0)


class _FrameBatchNorm(torch.autograd.Function):
    """y = (x - mean_g) / sqrt(var_g + eps) * weight + bias on valid frames, 0 on padding."""

    @staticmethod
    def forward(ctx, x, weight, bias, member, eps, process_group):
        with torch.autocast(x.device.type, enabled=False):  # statistics in float32 or wider
            return _FrameBatchNorm._forward(ctx, x, weight, bias, member, eps, process_group)

    @staticmethod
    def _forward(ctx, x, weight, bias, member, eps, process_group):
        count, mean, m2 = _group_moments(x, member)
        if process_group is not None:
            count, mean, m2 = _all_moments(count, mean, m2, process_group)
        var = m2 / count.clamp(min=1)
        invstd = torch.rsqrt(var + eps)
        scale = invstd if weight is None else invstd * weight.to(invstd.dtype)[:, None]
        shift = -mean * scale
        if bias is not None:
            shift = shift + bias.to(shift.dtype)[:, None]
        y = torch.addcmul(_to_frames(shift, member, x.shape, x.dtype), x,
                          _to_frames(scale, member, x.shape, x.dtype))
        ctx.save_for_backward(x, weight, mean, invstd, count, member)
        ctx.process_group = process_group
        ctx.bias_dtype = None if bias is None else bias.dtype
        ctx.mark_non_differentiable(mean, var, count)
        return y, mean, var, count

    @staticmethod
    def backward(ctx, dy, *_):
        with torch.autocast(dy.device.type, enabled=False):
            return _FrameBatchNorm._backward(ctx, dy)

    @staticmethod
    def _backward(ctx, dy):
        x, weight, mean, invstd, count, member = ctx.saved_tensors
        work = mean.dtype
        dyw = dy.to(work)
        sum_dy_f = _per_frame(dyw.sum(dim=(3, 4)))
        sum_dyx_f = _per_frame(torch.linalg.vecdot(dyw.flatten(3), x.to(work).flatten(3)))
        sums = torch.stack([sum_dy_f @ member, sum_dyx_f @ member])  # [2, C, G]
        local_dy, local_dxhat = sums[0].clone(), invstd * (sums[1] - mean * sums[0])
        if ctx.process_group is not None:
            dist.all_reduce(sums, group=ctx.process_group)
        sum_dy, sum_dxhat = sums[0], invstd * (sums[1] - mean * sums[0])
        scale = invstd if weight is None else invstd * weight.to(work)[:, None]
        n = count.clamp(min=1)
        x_coef = -scale * invstd * sum_dxhat / n
        const = -scale * sum_dy / n - x_coef * mean
        dx = torch.addcmul(_to_frames(const, member, x.shape, dy.dtype), dy,
                           _to_frames(scale, member, x.shape, dy.dtype))
        dx.addcmul_(x, _to_frames(x_coef, member, x.shape, dy.dtype))
        grad_weight = local_dxhat.sum(1).to(weight.dtype) if ctx.needs_input_grad[1] else None
        grad_bias = local_dy.sum(1).to(ctx.bias_dtype) if ctx.needs_input_grad[2] else None
        return dx, grad_weight, grad_bias, None, None, None


def batch_norm_frames(
    x: torch.Tensor, member: torch.Tensor, weight: Optional[torch.Tensor],
    bias: Optional[torch.Tensor], eps: float, process_group=None,
) -> Tuple[torch.Tensor, Moments]:
    """BatchNorm of x [R, C, T, H, W] with batch statistics per group of frames (see module).

    Args:
        member: one-hot [R * T, G] group of every frame, from `ClipLayout.membership`, in
            the dtype the statistics are computed in (float32 or wider).
        weight, bias: affine parameters [C] shared by all groups, or None.
        process_group: combine the moments of all its processes (sync BN), or None.

    Returns:
        y like x, and (mean [C, G], biased var [C, G], count [G]) for the running statistics.
    """
    y, mean, var, count = _FrameBatchNorm.apply(x, weight, bias, member, eps, process_group)
    return y, (mean, var, count)


def normalise_frames(x: torch.Tensor, stats: nn.modules.batchnorm._BatchNorm, num_groups: int,
                     weight: Optional[torch.Tensor], bias: Optional[torch.Tensor],
                     process_group=None) -> torch.Tensor:
    """Training BatchNorm of x over its valid frames, `num_groups` statistic groups, with
    `stats`'s eps and running buffers ([G * C], updated). x may be outside a varlen context
    (every frame valid) or padded or packed inside one."""
    layout = context.layout_of(x)
    if layout is None:  # every frame of every sample
        layout = ClipLayout.padded(torch.full((x.shape[0],), x.shape[2], device=x.device),
                                   x.shape[2])
    member = layout.membership(num_groups, torch.promote_types(x.dtype, torch.float32))
    y, moments = batch_norm_frames(x, member, weight, bias, stats.eps, process_group)
    _update_running_stats(stats, moments)
    return y


@torch.no_grad()
def _update_running_stats(bn: nn.modules.batchnorm._BatchNorm, moments: Moments) -> None:
    """Fold batch moments (mean [C, G], var [C, G], count [G]) into `bn`'s [G * C] buffers,
    with nn.BatchNorm's momentum rule and unbiased variance."""
    if not bn.track_running_stats:
        return
    mean, var, count = moments
    bn.num_batches_tracked += 1
    factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    unbiased = var * count / (count - 1).clamp(min=1)
    for buffer, value in ((bn.running_mean, mean), (bn.running_var, unbiased)):
        buffer.mul_(1 - factor).add_(value.t().reshape(-1).to(buffer.dtype), alpha=factor)


def zero_invalid(x: torch.Tensor) -> torch.Tensor:
    """x with the padding frames of its (padded) layout zeroed; as is otherwise."""
    layout = context.layout_of(x)
    if layout is None or layout.packed:
        return x
    return zero_padding(x, layout.lengths)


class VarLenBatchNorm3d(nn.BatchNorm3d):
    """BatchNorm3d whose statistics count valid frames only and whose padding stays zero.

    Same parameters and buffers as nn.BatchNorm3d, so PySlowFast checkpoints load as is.
    Outside a varlen context and on packed batches (no padding) it is nn.BatchNorm3d, except
    that a packed batch of one value per channel (one clip of one 1x1 frame) is normalised
    as the padded path does (variance 0) instead of raising.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layout = context.layout_of(x)
        if layout is None or (layout.packed and x.numel() > x.shape[1]):
            return super().forward(x)
        use_batch_stats = self.training or not self.track_running_stats
        if not use_batch_stats:
            return zero_padding(super().forward(x), layout.lengths)
        return normalise_frames(x, self, 1, self.weight, self.bias)
