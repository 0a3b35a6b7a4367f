"""Where each clip's valid frames sit in a tensor of one pathway: padded rows or packed.

A `ClipLayout` describes a `[R, C, T, H, W]` tensor holding N clips of lengths `[N]`:

* padded: R = N, clip i in row i at frames `[0, lengths[i])`, T >= max(lengths); the frames
  after a clip's end are padding (kept at zero by the layers that need it).
* packed: R = 1, the clips one after another along T = sum(lengths), no gaps: every frame is
  valid, so compute and memory follow the sum of the lengths.

Index tensors derived from a layout (frame -> clip, the masks of a temporal convolution's
taps) are computed once per layout and cached on it.
"""

from typing import Dict, List, Sequence

import torch
import torch.nn.functional as F


class ClipLayout:
    """The frames of N clips in one pathway's `[R, C, T, H, W]` tensor (see module doc).

    Args:
        lengths: int64 [N], valid frames of each clip (on the tensors' device).
        size: T of the tensor.
        packed: packed (R = 1, T = sum(lengths)) or padded (R = N).
    """

    def __init__(self, lengths: torch.Tensor, size: int, packed: bool):
        self.lengths = lengths
        self.size = int(size)
        self.packed = packed
        self._cache: Dict[object, object] = {}

    @classmethod
    def padded(cls, lengths: torch.Tensor, size: int) -> "ClipLayout":
        return cls(lengths, size, packed=False)

    @classmethod
    def packing(cls, lengths: torch.Tensor) -> "ClipLayout":
        """The packed layout of clips with `lengths`."""
        layout = cls(lengths, 0, packed=True)
        layout.size = sum(layout.lengths_list())
        return layout

    @property
    def num_clips(self) -> int:
        return int(self.lengths.shape[0])

    @property
    def device(self) -> torch.device:
        return self.lengths.device

    def cached(self, key, compute):
        """`compute()`, computed once per layout and `key` (index tensors, masks)."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def lengths_list(self) -> List[int]:
        """The lengths as Python ints (one device sync per layout)."""
        return self.cached("list", lambda: [int(v) for v in self.lengths.tolist()])

    def frame_clip(self) -> torch.Tensor:
        """int64 [R * T]: the clip of every frame of the tensor (row-major), -1 on padding."""

        def compute() -> torch.Tensor:
            clips = torch.arange(self.num_clips, device=self.device)
            if self.packed:
                return clips.repeat_interleave(self.lengths, output_size=self.size)
            steps = torch.arange(self.size, device=self.device)
            valid = steps.unsqueeze(0) < self.lengths.unsqueeze(1)
            return torch.where(valid, clips.unsqueeze(1), -1).reshape(-1)

        return self.cached("frame_clip", compute)

    def membership(self, num_groups: int, dtype: torch.dtype) -> torch.Tensor:
        """One-hot [R * T, G] of every frame's group, clip index mod `num_groups` (PySlowFast's
        sub-batch of sample i is i % G; G = N gives the clips), a zero row for padding. Sums
        over the frames of a group are products with it (deterministic on GPUs, unlike
        scatter-adds)."""

        def compute() -> torch.Tensor:
            groups = torch.arange(num_groups, device=self.device)
            clip = self.frame_clip().unsqueeze(1)
            return ((clip >= 0) & (clip % num_groups == groups)).to(dtype)

        return self.cached(("membership", num_groups, dtype), compute)


def valid_mask(lengths: torch.Tensor, num_frames: int) -> torch.Tensor:
    """Boolean [N, T] mask, True on the first `lengths[i]` frames of sample i."""
    steps = torch.arange(num_frames, device=lengths.device)
    return steps.unsqueeze(0) < lengths.unsqueeze(1)


def zero_padding(x: torch.Tensor, lengths) -> torch.Tensor:
    """Zero the frames of a padded x [N, C, T, ...] beyond each sample's length."""
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


def _pack(x: torch.Tensor, lengths: List[int]) -> torch.Tensor:
    segments = [x[i:i + 1, :, :length] for i, length in enumerate(lengths)]
    return segments[0] if len(segments) == 1 else torch.cat(segments, dim=2)


def _unpack(x: torch.Tensor, lengths: List[int], size: int) -> torch.Tensor:
    out = x.new_zeros((len(lengths), x.shape[1], size) + tuple(x.shape[3:]))
    start = 0
    for i, length in enumerate(lengths):
        out[i, :, :length] = x[0, :, start:start + length]
        start += length
    return out


class _Pack(torch.autograd.Function):
    """pack, whose backward is unpack (one copy; autograd's slices would zero-fill and add a
    whole padded gradient per clip)."""

    @staticmethod
    def forward(ctx, x, lengths, size):
        ctx.lengths, ctx.size = lengths, size
        return _pack(x, lengths)

    @staticmethod
    def backward(ctx, grad):
        return _unpack(grad, ctx.lengths, ctx.size), None, None


class _Unpack(torch.autograd.Function):
    """unpack, whose backward is pack."""

    @staticmethod
    def forward(ctx, x, lengths, size):
        ctx.lengths = lengths
        return _unpack(x, lengths, size)

    @staticmethod
    def backward(ctx, grad):
        return _pack(grad, ctx.lengths), None, None


def pack(x: torch.Tensor, layout: ClipLayout) -> torch.Tensor:
    """Padded [N, C, T, H, W] -> packed [1, C, sum(lengths), H, W] (`layout` packed)."""
    return _Pack.apply(x, layout.lengths_list(), x.shape[2])


def unpack(x: torch.Tensor, layout: ClipLayout, size: int) -> torch.Tensor:
    """Packed [1, C, sum(lengths), H, W] -> padded [N, C, size, H, W], zero after each end."""
    return _Unpack.apply(x, layout.lengths_list(), size)


def repack(x: torch.Tensor, layout: ClipLayout, lengths: Sequence[int]) -> torch.Tensor:
    """Packed clips of `layout` zero-padded in time to the new, longer `lengths` each."""
    if list(lengths) == layout.lengths_list():
        return x
    segments = torch.split(x, layout.lengths_list(), dim=2)
    return torch.cat([F.pad(s, (0, 0, 0, 0, 0, n - s.shape[2]))
                      for s, n in zip(segments, lengths)], dim=2)
