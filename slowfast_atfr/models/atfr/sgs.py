"""Similarity Guided Sampling (SGS, Sec. 4): the functional core and the SGS module.

`similarity_guided_sampling` bins per-frame similarity values and merges the frames of each
bin (Eq. 2-6, Eq. 9); `sample_in_blocks` is the same core on temporal blocks (App. A), the
whole clip being one block; `SGS` adds the similarity network f_s and the measure (Sec.
4.1-4.2) and train/test bin counts (App. C).
"""

import math
from typing import Callable, List, Sequence, Tuple, Union

import torch
from torch import nn

from slowfast_atfr.config.choices import SGS_KERNELS
from slowfast_atfr.models.atfr.samplers import (
    TEMPORAL_SAMPLER_REGISTRY,
    SamplerOutput,
)
from slowfast_atfr.models.atfr.similarity import build_similarity_net, resolve_measure

__all__ = ["BORDER_WEIGHT", "SGS", "sample_in_blocks", "similarity_guided_sampling"]

# Linear-kernel weight of a frame on a bin border (delta = 2 b gamma, including delta = 0 and
# delta = max). Eq. 6 gives such a frame 0 in every bin, so the paper's formula would drop it
# (always the frame with the largest delta). It goes to one bin instead, with 0.5: the mean of
# the tent over its support, i.e. the weight an interior frame gets on average; 0 would lose
# the frame, 1 would rank it above a frame at the bin centre.
BORDER_WEIGHT = 0.5
# Half-width, in bin widths, of the band around each border that counts as "on the border":
# q = delta / (2 gamma) within BORDER_BAND of an integer. It only has to cover float rounding:
# deltas that tie (a static clip, frames equal to the max) differ by float32 rounding, 1e-7 to
# 1e-6 of their value (also when computed in another batch, whose sums may run in another
# order), which moves q by B times that: 1e-3 covers it for B up to 1000. Inside the band a
# frame goes to the bin left of the border (bin 1 for border 0) with weight BORDER_WEIGHT, a
# constant, so its gradient w.r.t. delta is 0, as Eq. 8's is on a border: the side of a border
# that rounding puts a tied frame on changes neither its bin nor its weight. Outside the band
# the weight is exactly Eq. 6 (at least 2 * BORDER_BAND: no frame is lost) and its gradient
# exactly Eq. 8. The band alters 2 * BORDER_BAND = 0.2% of evenly spread frames; the weight
# jumps at its edges, but ties gather on borders (the max, zeros, equal deltas), not there.
BORDER_BAND = 1e-3

# Joint bin indices are int64.
_MAX_JOINT_BINS = 2**62

NumBins = Union[int, Sequence[int]]


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_inputs(
    x: torch.Tensor, delta: torch.Tensor, num_bins: NumBins, kernel: str, block_length: int
) -> Tuple[torch.Tensor, Tuple[int, ...]]:
    """Validate the core's arguments; return delta as `[N, T, K]` and the K bin counts."""
    if not _is_int(block_length) or block_length < 0:
        raise ValueError(f"block_length={block_length!r} must be 0 or a positive int.")
    if kernel not in SGS_KERNELS:
        raise ValueError(f"Unknown SGS kernel {kernel!r}; choose one of {list(SGS_KERNELS)}.")
    if x.dim() != 5:
        raise ValueError(f"x must be [N, C, T, H, W]; got shape {tuple(x.shape)}.")
    if delta.dim() not in (2, 3) or tuple(delta.shape[:2]) != (x.shape[0], x.shape[2]):
        raise ValueError(
            f"delta must be [N, T] or [N, T, K] with N={x.shape[0]}, T={x.shape[2]} of x; "
            f"got shape {tuple(delta.shape)}."
        )
    if x.shape[2] < 1:
        raise ValueError(f"x has no frames (T=0); shape {tuple(x.shape)}.")
    bins = tuple(num_bins) if isinstance(num_bins, Sequence) else (num_bins,)
    dims = 1 if delta.dim() == 2 else delta.shape[2]
    if len(bins) != dims or not all(_is_int(b) and b >= 1 for b in bins):
        raise ValueError(
            f"num_bins={num_bins!r} must be {dims} positive int(s), one per dimension of "
            f"delta (shape {tuple(delta.shape)})."
        )
    return (delta if delta.dim() == 3 else delta.unsqueeze(-1)), bins


def _block_parts(t: int, block_length: int) -> List[Tuple[int, int, int]]:
    """`(first frame, blocks, frames per block)` of the full temporal blocks, then of the
    shorter last one if K does not divide T; K = 0 or K >= T is one block of T frames.

    Each part's blocks fold into the batch, so no loop runs over blocks or samples.
    """
    block = block_length if 0 < block_length < t else t
    num_full, rest = divmod(t, block)
    return [(0, num_full, block)] + ([(num_full * block, 1, rest)] if rest else [])


def _fold(values: torch.Tensor, start: int, groups: int, frames: int) -> torch.Tensor:
    """`values: [N, T, ...]`'s frames `start .. start + groups * frames` as
    `[N * groups, frames, ...]`, one row per block."""
    part = values[:, start:start + groups * frames]
    return part.reshape(values.shape[0] * groups, frames, *values.shape[2:])


def _per_block(measure: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor,
               block_length: int) -> torch.Tensor:
    """`measure` of every temporal block of `z: [N, T, L]` on its own (a block is a clip
    of its own, App. A), as one `[N, T]` or `[N, T, K]` delta."""
    n = z.shape[0]
    parts = []
    for start, groups, frames in _block_parts(z.shape[1], block_length):
        delta = measure(_fold(z, start, groups, frames))
        parts.append(delta.reshape(n, groups * frames, *delta.shape[2:]))
    return torch.cat(parts, dim=1)


def _linear_factors(
    delta: torch.Tensor, q: torch.Tensor, idx: torch.Tensor, on_border: torch.Tensor,
    scale: torch.Tensor, zero_gamma: torch.Tensor,
) -> torch.Tensor:
    """Eq. 6 weight of each frame in its own bin, per dimension, with exactly Eq. 8 as its
    gradient; BORDER_WEIGHT, constant, within BORDER_BAND of a border.

    Args:
        delta: `[G, T, K]` similarity values (carry the gradient).
        q: `[G, T, K]` detached position in bin widths, `delta / (2 gamma)`, in `[0, B]`.
        idx: `[G, T, K]` 1-based bin of each frame.
        on_border: `[G, T, K]` bool, q within BORDER_BAND of a border.
        scale: `[G, 1, K]` detached `1 / (2 gamma)` (B where gamma = 0).
        zero_gamma: `[G, 1, K]` bool, `max_t(delta) == 0`.
    """
    centre = 2 * idx.to(q.dtype) - 1  # beta_b / gamma (Eq. 3)
    # Sign of (delta - beta_b), detached: -1 on and left of the centre, +1 right of it, so the
    # tent's d/d(delta) is +1/gamma for beta_b - gamma < delta <= beta_b, else -1/gamma (Eq. 8).
    sign = torch.where(2 * q > centre, 1.0, -1.0).to(q.dtype)
    tent = 1 - sign * (2 * delta * scale - centre)  # 1 - |delta - beta_b| / gamma (Eq. 6)
    weight = torch.where(on_border, BORDER_WEIGHT, tent)
    return torch.where(zero_gamma, 1.0, weight)  # gamma = 0: B' = 1


def _rank(joint: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Position of each frame's bin among its group's non-empty bins, in bin order.

    Sorting the `[G, T]` joint bin indices keeps the cost independent of the number of bins.

    Returns:
        `rank: [G, T]` int64 (0-based kept-bin position of each frame), `lengths: [G]` (B').
    """
    sorted_joint, order = joint.sort(dim=1)
    is_new = torch.ones_like(sorted_joint, dtype=torch.bool)
    is_new[:, 1:] = sorted_joint[:, 1:] != sorted_joint[:, :-1]
    rank_sorted = is_new.long().cumsum(dim=1) - 1
    rank = torch.empty_like(rank_sorted).scatter_(1, order, rank_sorted)
    return rank, rank_sorted[:, -1] + 1


def _bin_frames(
    delta: torch.Tensor, bins: Tuple[int, ...], kernel: str
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Assign every frame of every group to one bin, with its weight (Eq. 2-6, 9).

    Args:
        delta: `[G, T, K]` similarity values, K dimensions, each binned into `bins[k]` bins.
        bins: the K bin counts.
        kernel: one of SGS_KERNELS.

    Returns:
        `rank: [G, T]` kept-bin position of each frame, `weight: [G, T]` (differentiable
        w.r.t. delta for the linear kernel), `lengths: [G]` int64 (B' per group).
    """
    if math.prod(bins) >= _MAX_JOINT_BINS:
        raise ValueError(f"num_bins={bins}: {math.prod(bins)} joint bins overflow int64.")
    work = torch.promote_types(delta.dtype, torch.float32)  # bf16 is too coarse for binning
    delta = delta.to(work)
    values = delta.detach().clamp_min(0)
    # gamma = max_t(delta) / (2B) (Eq. 2), per group and dimension, a constant for autograd.
    d_max = values.amax(dim=1, keepdim=True)
    zero_gamma = d_max == 0
    d_max = torch.where(zero_gamma, torch.ones_like(d_max), d_max)  # gamma = 0: every q is 0
    num = torch.tensor(bins, dtype=work, device=delta.device)
    q = values / d_max * num  # delta / (2 gamma), in [0, B]; exactly B for the max frame
    border = q.round()
    on_border = (q - border).abs() <= BORDER_BAND
    # 1-based bin: ceil(q), or the bin left of the border within its band (bin 1 for border 0).
    idx = torch.where(on_border, border.clamp_min(1), q.ceil()).long()
    strides = torch.tensor([math.prod(bins[k + 1:]) for k in range(len(bins))], device=delta.device)
    joint = ((idx - 1) * strides).sum(dim=-1)  # row-major joint bin index (Eq. 9)
    rank, lengths = _rank(joint)
    if kernel == "linear":
        weight = _linear_factors(delta, q, idx, on_border, num / d_max, zero_gamma).prod(dim=-1)
    else:  # kronecker (Eq. 5): mean of the frames in the bin
        counts = torch.zeros_like(rank).scatter_add_(1, rank, torch.ones_like(rank))
        # Eq. 5 is piecewise constant: delta gets a zero gradient, but stays in the graph so
        # that f_s counts as used (DistributedDataParallel needs every parameter used).
        weight = 1.0 / counts.gather(1, rank).to(work) + 0.0 * delta.sum(dim=-1)
    return rank, weight, lengths


def _merge(
    x: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """`out[n, :, target[n, t]] += weight[n, t] * x[n, :, t]` (Eq. 4), one frame per row.

    Every frame becomes one row and a single `index_add` adds the weighted rows into their
    output slots: one pass over `x`, independent of the number of bins (a scatter_add with
    an index expanded to every element of `x` took 1.5-3x longer on CPU). Channels-last
    input (the CPU inference layout) already stores a frame as one contiguous [H*W*C] row
    and gives channels-last output without a copy. Weighted sums are not matrix products,
    so they add no FLOPs to the papers' count (models/cost.py).

    Args:
        x: `[N, C, T, H, W]`; target: `[N, T]` int64; weight: `[N, T]`; lengths: `[N]`.

    Returns:
        `[N, C, max(lengths), H, W]`, zero beyond each sample's length.
    """
    n, t = x.shape[0], x.shape[2]
    size = int(lengths.max()) if n > 0 else 0
    channels_last = not x.is_contiguous() and x.is_contiguous(
        memory_format=torch.channels_last_3d)
    frames = x.permute(0, 2, 3, 4, 1) if channels_last else x.transpose(1, 2)
    rows = frames.reshape(n * t, math.prod(frames.shape[2:]))
    slots = (target + size * torch.arange(n, device=x.device)[:, None]).reshape(-1)
    src = rows * weight.to(x.dtype).reshape(-1, 1)
    out = rows.new_zeros(n * size, rows.shape[1]).index_add(0, slots, src)
    out = out.view(n, size, *frames.shape[2:])
    return out.permute(0, 4, 1, 2, 3) if channels_last else out.transpose(1, 2).contiguous()


def similarity_guided_sampling(
    x: torch.Tensor, delta: torch.Tensor, num_bins: NumBins, kernel: str = "linear"
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Merge the frames of `x` whose similarity values fall into the same bin (Sec. 4.2-4.3).

    Bins (Eq. 2, 3): per sample and per dimension k, `gamma = max_t(delta) / (2B)` and
    centres `beta_b = (2b - 1) gamma`, both computed from `delta.detach()`: Eq. 8 treats them
    as constants, so autograd gives exactly Eq. 7 (`dO_b/dI_t = Psi`) and Eq. 8
    (`dO_b/ddelta_t = I_t * (+1/gamma left of or at beta_b, -1/gamma right of it, 0 outside)`).
    With K dimensions the joint weight is the product of the per-dimension ones (Eq. 9), and
    joint bins are ordered row-major over the K per-dimension bin indices.

    Kernels: "linear" is Eq. 6 (not normalised); "kronecker" is Eq. 5 (mean of the frames in
    the bin; zero gradient w.r.t. delta). The tent supports partition `[0, max]`, so a frame
    has a non-zero weight in exactly one bin; each frame is given that bin and its weight,
    and the frames are added into their bins with one `index_add` (`_merge`): cost linear in
    N*T*C*H*W, independent of B.

    Decisions where the paper's formulas are undefined:
    - A frame on a bin border (`delta = 2 b gamma`, including 0 and the max, where Eq. 5/6
      give 0 in every bin), or within BORDER_BAND bin widths of one (float-rounding
      distance), goes to the bin left of the border (bin 1 for border 0) with weight
      BORDER_WEIGHT (linear, zero gradient w.r.t. delta as in Eq. 8) or as a member
      (kronecker). No frame is ever lost, the largest delta always keeps bin B, and frames
      that tie up to float rounding (a static clip) get the same bins and weights in any
      batch. Everywhere else the kernels are exactly Eq. 5/6, with exactly Eq. 8.
    - `max(delta) == 0` (gamma = 0): every frame goes to bin 1 with weight 1 (linear) / the
      mean (kronecker), so B' = 1 and never NaN. Identical deltas also give B' = 1.
    - Values below 0 are binned as 0 (the measures give delta >= 0).
    - `B > T` is allowed (at most T bins are kept); `T == 1` gives B' = 1.

    Args:
        x: `[N, C, T, H, W]` feature maps I.
        delta: `[N, T]` similarity values, or `[N, T, K]` for K-dimensional bins (Eq. 9).
        num_bins: B (an int), or a sequence of K ints for `[N, T, K]` delta.
        kernel: "linear" or "kronecker".

    Returns:
        `out: [N, C, max(B'), H, W]` (each sample's kept bins first, in bin order, zeros
        after its own B') and `lengths: [N]` int64 (B' per sample).
    """
    out, lengths, _ = sample_in_blocks(x, delta, num_bins, kernel)
    return out, lengths


def sample_in_blocks(
    x: torch.Tensor, delta: torch.Tensor, num_bins: NumBins, kernel: str = "linear",
    block_length: int = 0,
) -> SamplerOutput:
    """`similarity_guided_sampling` run on each temporal block of K frames on its own (App. A).

    Each block gets its own gamma and bins, empty bins are dropped per block, and each
    sample's kept bins are concatenated block after block. If K does not divide T the last
    block is shorter (F = T mod K); K >= T is one block of T frames. An int B gives a block
    of F frames min(B, F) bins (a block of K frames has at most K bins); a sequence of
    per-dimension bin counts applies to every block as is. K = 0 is the whole clip as one
    block, with B as given (B > T is allowed and keeps at most T bins).

    Args:
        x, delta, num_bins, kernel: as for `similarity_guided_sampling`; `delta` holds the
            values of every block (`_per_block` computes a measure per block).
        block_length: K frames per block; 0 = the whole clip.

    Returns:
        `SamplerOutput(out, lengths, block_lengths: [N, blocks] int64, B' per block)`.
    """
    delta, bins = _check_inputs(x, delta, num_bins, kernel, block_length)
    n, t = x.shape[0], x.shape[2]
    parts = _block_parts(t, block_length)
    ranks: List[torch.Tensor] = []
    weights: List[torch.Tensor] = []
    block_lengths: List[torch.Tensor] = []
    for start, groups, frames in parts:
        capped = (min(num_bins, frames),) if block_length > 0 and _is_int(num_bins) else bins
        rank, weight, lengths = _bin_frames(_fold(delta, start, groups, frames), capped, kernel)
        ranks.append(rank.reshape(n, groups * frames))
        weights.append(weight.reshape(n, groups * frames))
        block_lengths.append(lengths.reshape(n, groups))
    per_block = torch.cat(block_lengths, dim=1)  # [N, blocks]
    offsets = per_block.cumsum(dim=1) - per_block  # first output slot of each block
    block_of_frame = torch.arange(t, device=x.device) // parts[0][2]  # full blocks first
    target = torch.cat(ranks, dim=1) + offsets[:, block_of_frame]
    lengths = per_block.sum(dim=1)
    return SamplerOutput(_merge(x, target, torch.cat(weights, dim=1), lengths), lengths,
                         per_block)


def _check_num_bins(name: str, value: object) -> int:
    if not _is_int(value) or (value < 1 and value != -1):
        raise ValueError(f"{name}={value!r} must be a positive int or -1 (= T or block length).")
    return value


@TEMPORAL_SAMPLER_REGISTRY.register()
class SGS(nn.Module):
    """SGS layer: f_s, the similarity measure of each temporal block, then `sample_in_blocks`.

    With `block_length` K > 0 (App. A) a block of F frames gets B = min(num_bins, F) bins
    (B = F for -1). Without blocks (K = 0) B is num_bins as given (-1 = T; B > T is allowed
    and keeps at most T bins).
    """

    def __init__(
        self, *, dim_in: int, num_bins_train: int, num_bins_test: int, block_length: int,
        embed_dim: int, kernel: str, measure: str, multi_bins: Sequence[int] = (),
        similarity_net: str = "conv", similarity_input_grad: bool = False,
    ) -> None:
        """Args follow the ATFR config group.

        Args:
            dim_in: channels C of the input.
            num_bins_train: B in train mode (ATFR.NUM_BINS_TRAIN); -1 = T, or K with blocks.
            num_bins_test: B in eval mode (ATFR.NUM_BINS_TEST); -1 = T, or K with blocks.
            block_length: K frames per block (ATFR.BLOCK_LENGTH); 0 = the whole clip.
            embed_dim: L, dimensions of the similarity space (ATFR.EMBED_DIM).
            kernel: "linear" or "kronecker" (ATFR.KERNEL).
            measure: ATFR.MEASURE; multi-dimensional measures bin with `multi_bins` (or
                their default) and ignore num_bins_*.
            multi_bins: bins per dimension of "angular"/"spherical" (ATFR.MULTI_BINS).
            similarity_net: "conv" or "mlp_bn" (ATFR.SIMILARITY_NET).
            similarity_input_grad: let Eq. 8's gradient reach the backbone through f_s's
                input (ATFR.SIMILARITY_INPUT_GRAD). Off by default: f_s still learns from
                Eq. 8, the backbone learns from Eq. 7, and training stays stable.
        """
        super().__init__()
        if kernel not in SGS_KERNELS:
            raise ValueError(f"ATFR.KERNEL={kernel!r} is unknown; choose one of "
                             f"{list(SGS_KERNELS)}.")
        if not _is_int(block_length) or block_length < 0:
            raise ValueError(f"ATFR.BLOCK_LENGTH={block_length!r} must be 0 or a positive int.")
        self.num_bins_train = _check_num_bins("ATFR.NUM_BINS_TRAIN", num_bins_train)
        self.num_bins_test = _check_num_bins("ATFR.NUM_BINS_TEST", num_bins_test)
        self.block_length = block_length
        self.kernel = kernel
        self.measure, self.multi_bins = resolve_measure(measure, embed_dim, multi_bins)
        self.dim_in = dim_in
        self.similarity = build_similarity_net(similarity_net, dim_in, embed_dim)
        self.similarity_input_grad = similarity_input_grad

    def _num_bins(self, t: int) -> NumBins:
        """`sample_in_blocks`'s num_bins for a clip of t frames: multi-dimensional bins as
        given; -1 = the block length (T without blocks), which the core caps per block."""
        if self.multi_bins:
            return self.multi_bins
        num_bins = self.num_bins_train if self.training else self.num_bins_test
        return num_bins if num_bins != -1 else self.block_length or t

    def forward(self, x: torch.Tensor) -> SamplerOutput:
        """Map `x: [N, C, T, H, W]` to `SamplerOutput(out: [N, C, max(B'), H, W],
        lengths: [N], block_lengths: [N, blocks])`."""
        if x.dim() != 5 or x.shape[1] != self.dim_in or x.shape[2] < 1:
            raise ValueError(
                f"SGS expects [N, {self.dim_in}, T>=1, H, W]; got shape {tuple(x.shape)}."
            )
        z = self.similarity(x if self.similarity_input_grad else x.detach())  # [N, T, L]
        delta = _per_block(self.measure, z, self.block_length)
        return sample_in_blocks(x, delta, self._num_bins(x.shape[2]), self.kernel,
                                self.block_length)
