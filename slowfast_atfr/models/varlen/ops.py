"""The per-clip operations blocks call: pooling, per-clip values, SlowFast's fusion.

Each looks up the layout of its input (context.layout_of) and is the plain operation outside
a varlen context.
"""

import torch
import torch.nn.functional as F

from slowfast_atfr.models.varlen import context
from slowfast_atfr.models.varlen.layout import ClipLayout, repack


def num_clips(x: torch.Tensor) -> int:
    """Clips held by the activation x (its batch size, unless it is packed)."""
    layout = context.layout_of(x)
    return x.shape[0] if layout is None else layout.num_clips


def masked_mean(x: torch.Tensor) -> torch.Tensor:
    """Mean of every clip of x [R, C, T, H, W] over its valid (T, H, W) -> [N, C, 1, 1, 1].

    The result holds one frame per clip, which becomes the layout of size 1 of the active
    pathway (heads normalise it after global pooling).
    """
    layout = context.layout_of(x)
    if layout is None:
        return x.mean(dim=(2, 3, 4), keepdim=True)
    c, n = x.shape[1], layout.num_clips
    frame_sums = x.sum(dim=(3, 4)).transpose(0, 1).reshape(c, -1)  # [C, R * T]
    totals = frame_sums @ layout.membership(n, frame_sums.dtype)  # [C, N]
    count = layout.lengths.to(totals.dtype) * (x.shape[3] * x.shape[4])
    context.add_layout(layout.cached("pooled", lambda: ClipLayout.padded(
        torch.ones_like(layout.lengths), 1)))
    return (totals / count).t().reshape(n, c, 1, 1, 1)


def broadcast_per_clip(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Per-clip `values` [N, ...] shaped to multiply the activation x frame by frame.

    Padded and plain batches broadcast as they are; a packed x gets each clip's value on
    each of its frames ([1, C, T, 1, 1] from [N, C, 1, 1, 1]).
    """
    layout = context.layout_of(x)
    if layout is None or not layout.packed:
        return values
    n = values.shape[0]
    per_frame = values.reshape(n, -1).t()[:, layout.frame_clip()]  # [C', T]
    return per_frame.reshape(1, per_frame.shape[0], -1, *([1] * (x.dim() - 3)))


def concat_padded(slow: torch.Tensor, fused: torch.Tensor, slow_pathway: int = 0,
                  fused_pathway: int = 1) -> torch.Tensor:
    """Concatenate along channels, zero-padding the shorter clip in time (ATFR App. A).

    Inside a context, `fused` must have been computed under `pathway_scope(fused_pathway)`;
    every clip of `slow_pathway` becomes as long as the longer of its two parts.
    """
    if context.current() is None:
        return _pad_and_concat(slow, fused)
    with context.pathway_scope(slow_pathway):
        slow_layout = context.active_layout(slow.shape[2])
    with context.pathway_scope(fused_pathway):
        fused_layout = context.active_layout(fused.shape[2])
    lengths = torch.maximum(slow_layout.lengths, fused_layout.lengths)
    if slow_layout.packed:
        layout = ClipLayout.packing(lengths)
        out = torch.cat([repack(slow, slow_layout, layout.lengths_list()),
                         repack(fused, fused_layout, layout.lengths_list())], dim=1)
    else:
        out = _pad_and_concat(slow, fused)
        layout = ClipLayout.padded(lengths, out.shape[2])
    context.set_layout(slow_pathway, layout)
    return out


def _pad_and_concat(slow: torch.Tensor, fused: torch.Tensor) -> torch.Tensor:
    """Both padded with zero frames to the longer one, concatenated along channels."""
    size = max(slow.shape[2], fused.shape[2])
    return torch.cat([F.pad(slow, (0, 0, 0, 0, 0, size - slow.shape[2])),
                      F.pad(fused, (0, 0, 0, 0, 0, size - fused.shape[2]))], dim=1)
