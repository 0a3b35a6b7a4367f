"""Clips of different temporal lengths in one batch: the only place that knows about it.

After the temporal sampler every clip has its own length B'. Two regimes keep a batched
forward equal to per-sample forwards (tests/models/test_backbone_contract.py):

* Inference by default (`run_grouped`, ATFR.EVAL_BATCHING grouped): the batch is split
  into groups of equal per-pathway lengths, each group is trimmed to its length and runs
  alone. No padding reaches any layer and
  compute follows the sum of the lengths, not batch size times the longest.
* Training, and eval with ATFR.EVAL_BATCHING padded (`run_padded`, `lengths_context`):
  one padded tensor per pathway travels through the layers.
  `VarLenBatchNorm3d` computes statistics over valid frames only and re-zeroes the padding,
  so temporal convolutions see zeros beyond a clip's end (as a lone clip would), and
  `masked_mean` averages valid frames only (squeeze-excitation, heads). Modules that change
  the temporal size (strided temporal convs and pools) update the lengths through hooks
  installed by `install_hooks`; modules named `pathway{p}_*` set the active pathway.

Outside both regimes (models without a sampler) every helper here is a no-op.
"""

import re
import threading
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

_state = threading.local()
_PATHWAY_NAME = re.compile(r"^pathway(\d+)_")


class _Context:
    """Per-pathway lengths, keyed by the padded temporal size they describe."""

    def __init__(self, tables: List[Dict[int, torch.Tensor]]):
        self.tables = tables
        self.pathway = 0


def _context() -> Optional[_Context]:
    return getattr(_state, "ctx", None)


@contextmanager
def lengths_context(xs: Sequence[torch.Tensor], lengths: torch.Tensor) -> Iterator[None]:
    """Make `lengths` ([N, P] int64) the valid lengths of the padded tensors `xs`."""
    if lengths.dim() != 2 or lengths.shape[1] != len(xs):
        raise ValueError(f"lengths must be [N, {len(xs)}]; got {tuple(lengths.shape)}.")
    tables = [{x.shape[2]: lengths[:, p]} for p, x in enumerate(xs)]
    previous = _context()
    _state.ctx = _Context(tables)
    try:
        yield
    finally:
        _state.ctx = previous


@contextmanager
def pathway_scope(pathway: int) -> Iterator[None]:
    """Run the enclosed layers as part of pathway `pathway` (no-op outside a context)."""
    ctx = _context()
    if ctx is None:
        yield
        return
    previous, ctx.pathway = ctx.pathway, pathway
    try:
        yield
    finally:
        ctx.pathway = previous


def active_lengths(num_frames: int) -> Optional[torch.Tensor]:
    """Valid lengths [N] of the active pathway at padded size `num_frames`, or None."""
    ctx = _context()
    if ctx is None:
        return None
    table = ctx.tables[ctx.pathway]
    if num_frames not in table:
        raise RuntimeError(
            f"No lengths known for temporal size {num_frames} in pathway {ctx.pathway} "
            f"(known: {sorted(table)}); a layer changed the temporal size without "
            "varlen.note_resample."
        )
    return table[num_frames]


def set_lengths(pathway: int, num_frames: int, lengths: torch.Tensor) -> None:
    """Replace the lengths of `pathway` (e.g. after SlowFast fusion changed them)."""
    ctx = _context()
    if ctx is not None:
        ctx.tables[pathway] = {num_frames: lengths}


def valid_mask(lengths: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Boolean [N, T] mask, True on the first `lengths[i]` frames of sample i."""
    steps = torch.arange(num_frames, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


def zero_padding(x: torch.Tensor, lengths: Optional[torch.Tensor]) -> torch.Tensor:
    """Zero the frames of x [N, C, T, ...] beyond each sample's length."""
    if lengths is None:
        return x
    mask = valid_mask(lengths.to(x.device), x.shape[2]).to(x.dtype)
    return x * mask.view(mask.shape + (1,) * (x.dim() - 3)).unsqueeze(1)


def resampled_lengths(
    lengths: torch.Tensor, kernel: int, stride: int, padding: int, dilation: int = 1,
    ceil_mode: bool = False,
) -> torch.Tensor:
    """Output lengths of a temporal conv/pool applied to clips of `lengths` frames."""
    span = lengths + 2 * padding - dilation * (kernel - 1) - 1
    if ceil_mode:
        out = torch.div(span + stride - 1, stride, rounding_mode="floor") + 1
    else:
        out = torch.div(span, stride, rounding_mode="floor") + 1
    return out.clamp(min=1)


def note_resample(num_frames_in: int, num_frames_out: int, kernel: int, stride: int,
                  padding: int, dilation: int = 1, ceil_mode: bool = False) -> None:
    """Record the lengths after a layer that mapped T_in padded frames to T_out."""
    ctx = _context()
    if ctx is None or num_frames_in == num_frames_out and stride == 1:
        return
    lengths = active_lengths(num_frames_in)
    new = resampled_lengths(lengths, kernel, stride, padding, dilation, ceil_mode)
    ctx.tables[ctx.pathway][num_frames_out] = new.clamp(max=num_frames_out)


def masked_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean of x [N, C, T, H, W] over valid (T, H, W) positions -> [N, C, 1, 1, 1]."""
    lengths = active_lengths(x.shape[2])
    if lengths is None:
        return x.mean(dim=(2, 3, 4), keepdim=True)
    total = zero_padding(x, lengths).sum(dim=(2, 3, 4), keepdim=True)
    count = (lengths.to(x.dtype) * x.shape[3] * x.shape[4]).view(-1, 1, 1, 1, 1)
    return total / count


class VarLenBatchNorm3d(nn.BatchNorm3d):
    """BatchNorm3d whose statistics count valid frames only and whose padding stays zero.

    Same parameters and buffers as nn.BatchNorm3d, so PySlowFast checkpoints load as is.
    Outside a lengths context it is exactly nn.BatchNorm3d.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lengths = active_lengths(x.shape[2]) if x.dim() == 5 else None
        if lengths is None:
            return super().forward(x)
        use_batch_stats = self.training or not self.track_running_stats
        if not use_batch_stats:
            return zero_padding(super().forward(x), lengths)
        return self._masked_train_forward(x, lengths)

    def _masked_train_forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = valid_mask(lengths.to(x.device), x.shape[2]).to(x.dtype)[:, None, :, None, None]
        count = mask.sum() * x.shape[3] * x.shape[4]
        dims = (0, 2, 3, 4)
        mean = (x * mask).sum(dim=dims) / count
        centred = (x - mean.view(1, -1, 1, 1, 1)) * mask
        var = centred.pow(2).sum(dim=dims) / count
        if self.track_running_stats:
            self._update_running_stats(mean, var, count)
        scale = torch.rsqrt(var + self.eps)
        y = centred * scale.view(1, -1, 1, 1, 1)
        if self.affine:
            y = y * self.weight.view(1, -1, 1, 1, 1) + self.bias.view(1, -1, 1, 1, 1)
        return y * mask

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor,
                              count: torch.Tensor) -> None:
        self.num_batches_tracked += 1
        if self.momentum is None:
            factor = 1.0 / float(self.num_batches_tracked)
        else:
            factor = self.momentum
        unbiased = var * count / (count - 1).clamp(min=1)
        self.running_mean.mul_(1 - factor).add_(mean.detach().to(self.running_mean.dtype),
                                                alpha=factor)
        self.running_var.mul_(1 - factor).add_(unbiased.detach().to(self.running_var.dtype),
                                               alpha=factor)


def _scope_hooks(pathway: int):
    def enter(module, args):
        ctx = _context()
        if ctx is not None:
            module._varlen_previous_pathway = ctx.pathway
            ctx.pathway = pathway

    def leave(module, args, output):
        ctx = _context()
        if ctx is not None:
            ctx.pathway = module._varlen_previous_pathway

    return enter, leave


def _temporal_geometry(module: nn.Module):
    """(kernel, stride, padding, dilation, ceil_mode) along T, or None if T is unchanged."""
    if isinstance(module, nn.Conv3d):
        kernel, stride = module.kernel_size[0], module.stride[0]
        padding, dilation, ceil_mode = module.padding[0], module.dilation[0], False
        if isinstance(module.padding, str):
            return None
    elif isinstance(module, (nn.MaxPool3d, nn.AvgPool3d)):
        as3 = lambda v: v if isinstance(v, (tuple, list)) else (v, v, v)  # noqa: E731
        kernel, stride = as3(module.kernel_size)[0], as3(module.stride)[0]
        padding = as3(module.padding)[0]
        dilation = as3(getattr(module, "dilation", 1))[0]
        ceil_mode = module.ceil_mode
    else:
        return None
    if stride == 1 and kernel == 2 * padding + 1 and dilation == 1:
        return None
    return kernel, stride, padding, dilation, ceil_mode


def _resample_hook(geometry):
    def hook(module, args, output):
        if _context() is not None:
            note_resample(args[0].shape[2], output.shape[2], *geometry)

    return hook


def install_hooks(module: nn.Module) -> None:
    """Make `module`'s layers keep the lengths right inside a lengths context.

    Submodules named `pathway{p}_*` run with pathway p active; convs and pools that change
    the temporal size update the lengths. Hooks return at once outside a context.
    """
    for name, child in module.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        match = _PATHWAY_NAME.match(leaf)
        if match:
            enter, leave = _scope_hooks(int(match.group(1)))
            child.register_forward_pre_hook(enter)
            child.register_forward_hook(leave)
        geometry = _temporal_geometry(child)
        if geometry is not None:
            # Before the scope's leave hook, so a pathway{p}_ pool notes lengths under p.
            child.register_forward_hook(_resample_hook(geometry), prepend=True)


def concat_padded(slow: torch.Tensor, fused: torch.Tensor, slow_pathway: int = 0,
                  fused_pathway: int = 1) -> torch.Tensor:
    """Concatenate along channels, zero-padding the shorter tensor in time (App. A).

    Inside a lengths context, `fused` must have been computed under
    `pathway_scope(fused_pathway)`; the lengths of `slow_pathway` become the per-sample
    maximum of the two inputs' lengths.
    """
    t_slow, t_fused = slow.shape[2], fused.shape[2]
    size = max(t_slow, t_fused)
    if _context() is not None:
        with pathway_scope(slow_pathway):
            len_slow = active_lengths(t_slow)
        with pathway_scope(fused_pathway):
            len_fused = active_lengths(t_fused)
        set_lengths(slow_pathway, size, torch.maximum(len_slow, len_fused))
    slow = F.pad(slow, (0, 0, 0, 0, 0, size - t_slow))
    fused = F.pad(fused, (0, 0, 0, 0, 0, size - t_fused))
    return torch.cat([slow, fused], dim=1)


def run_grouped(fn: Callable[[List[torch.Tensor]], torch.Tensor], xs: List[torch.Tensor],
                lengths: torch.Tensor) -> torch.Tensor:
    """Run `fn` on groups of samples with equal lengths, each trimmed to its length.

    Args:
        fn: the layers after the sampler, mapping list[[n, C, T, H, W]] -> [n, ...].
        xs: one padded [N, C, T, H, W] tensor per pathway.
        lengths: int64 [N, P].
    Returns:
        fn's output for all N samples, in the input order.
    """
    keys, inverse = torch.unique(lengths, dim=0, return_inverse=True)
    order, outputs = [], []
    for group, key in enumerate(keys.tolist()):
        index = torch.nonzero(inverse == group).squeeze(1)
        trimmed = [x.index_select(0, index.to(x.device))[:, :, :size]
                   for x, size in zip(xs, key)]
        outputs.append(fn(trimmed))
        order.append(index)
    order = torch.cat(order).to(outputs[0].device)
    return torch.cat(outputs).index_select(0, torch.argsort(order))


def run_padded(fn: Callable[[List[torch.Tensor]], torch.Tensor], xs: List[torch.Tensor],
               lengths: torch.Tensor) -> torch.Tensor:
    """Run `fn` once on the padded batch with masked statistics and pooling (training, and
    eval with ATFR.EVAL_BATCHING padded: one call instead of one per length)."""
    with lengths_context(xs, lengths):
        return fn(xs)
