"""Similarity space of SGS: the networks f_s (Sec. 4.1) and the measures Delta (Sec. 4.2, App. D).

A similarity network maps a feature map `[N, C, T, H, W]` to `Z: [N, T, L]`; a measure maps
`Z` to the values that are binned, `delta: [N, T]` (one dimension) or `[N, T, K]` (several,
Eq. 9). Both are chosen by name: `SIMILARITY_NETS` (ATFR.SIMILARITY_NET) and `MEASURES`
(ATFR.MEASURE).
"""

import math
from typing import Callable, Dict, NamedTuple, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

# Bins of a polar angle in [0, pi] and of the last (azimuth) angle in [0, 2 pi]; the paper's
# angular measure with L = 3 uses 4 x 8 bins (Sec. 5.2.1).
_POLAR_BINS = 4
_AZIMUTH_BINS = 8
# Bins of the radius and of every angle for the spherical measure; the paper's L = 3 uses
# 2 x 4 x 4 bins (Sec. 5.2.1).
_RADIUS_BINS = 2
_SPHERICAL_ANGLE_BINS = 4
# "mean_distance" treats a clip as (near-)static when its frames lie within this fraction of
# their mean norm ||Z_t|| of their mean, and then divides by that fraction of the norm instead
# of by the clip's own spread. Ordinary clips stay well above it: the untrained conv f_s of
# X3D-S, whose biases dominate ||Z_t||, gives clips of noise a spread of 2-3% of the norm.
_STATIC_SPREAD = 1e-3
# Divisor floor of "mean_distance" for Z = 0 only, where any positive value gives delta = 1.
_EPS = 1e-12


def pointwise_conv1d(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """Apply a kernel-1 `conv` to `x: [N, T, C]` as the per-frame linear map it is.

    Returns `[N, T, C_out]`. Same result as `conv(x.transpose(1, 2)).transpose(1, 2)`, but
    oneDNN's Conv1d path costs far more than a matmul on CPU for these tiny inputs.
    """
    return F.linear(x, conv.weight.squeeze(-1), conv.bias)


class ConvSimilarityNet(nn.Module):
    """f_s of the paper (Sec. 4.1): spatial mean, Conv1d C->C (k=1), ReLU, Conv1d C->L (k=1)."""

    def __init__(self, dim_in: int, embed_dim: int) -> None:
        super().__init__()
        self.conv_a = nn.Conv1d(dim_in, dim_in, kernel_size=1)
        self.relu = nn.ReLU(inplace=True)
        self.conv_b = nn.Conv1d(dim_in, embed_dim, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map `x: [N, C, T, H, W]` to `Z: [N, T, L]`."""
        pooled = x.mean(dim=(3, 4)).transpose(1, 2)  # [N, T, C]
        return pointwise_conv1d(self.conv_b, self.relu(pointwise_conv1d(self.conv_a, pooled)))


class MlpBnSimilarityNet(nn.Module):
    """f_s of the authors' code: spatial mean, Linear C->C/2, ReLU, Linear C/2->L, BatchNorm1d.

    The BatchNorm normalises each of the L dimensions over all frames of the batch.
    """

    def __init__(self, dim_in: int, embed_dim: int) -> None:
        super().__init__()
        hidden = max(1, dim_in // 2)
        self.fc_a = nn.Linear(dim_in, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc_b = nn.Linear(hidden, embed_dim)
        self.bn = nn.BatchNorm1d(embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map `x: [N, C, T, H, W]` to `Z: [N, T, L]`."""
        pooled = x.mean(dim=(3, 4)).transpose(1, 2)  # [N, T, C]
        z = self.fc_b(self.relu(self.fc_a(pooled)))  # [N, T, L]
        return self.bn(z.transpose(1, 2)).transpose(1, 2)


SIMILARITY_NETS: Dict[str, Callable[[int, int], nn.Module]] = {
    "conv": ConvSimilarityNet,
    "mlp_bn": MlpBnSimilarityNet,
}


def build_similarity_net(name: str, dim_in: int, embed_dim: int) -> nn.Module:
    """Build the f_s called `name` (ATFR.SIMILARITY_NET) for `dim_in` channels and L dims."""
    if name not in SIMILARITY_NETS:
        raise ValueError(
            f"Unknown similarity network {name!r} (ATFR.SIMILARITY_NET); "
            f"choose one of {sorted(SIMILARITY_NETS)}."
        )
    if dim_in < 1 or embed_dim < 1:
        raise ValueError(f"dim_in={dim_in} and embed_dim={embed_dim} must both be >= 1.")
    return SIMILARITY_NETS[name](dim_in, embed_dim)


def _safe_sqrt(x: torch.Tensor) -> torch.Tensor:
    """sqrt with gradient 0 (not inf/NaN) at 0."""
    positive = x > 0
    return torch.where(positive, torch.where(positive, x, torch.ones_like(x)).sqrt(), 0.0)


def _safe_atan2(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """atan2 that returns 0 with gradient 0 (not NaN) at the origin."""
    defined = (x != 0) | (y != 0)
    angle = torch.atan2(torch.where(defined, y, 0.0), torch.where(defined, x, 1.0))
    return torch.where(defined, angle, 0.0)


def magnitude(z: torch.Tensor) -> torch.Tensor:
    """Eq. 1: `delta_t = ||Z_t||`; `z: [N, T, L]` -> `[N, T]`."""
    return _safe_sqrt(z.pow(2).sum(dim=-1))


def mean_distance(z: torch.Tensor) -> torch.Tensor:
    """Authors' code: `d_t = ||Z_t - mean_t Z||` over its per-sample maximum, with a floor
    for near-static clips; `z: [N, T, L]` -> `[N, T]`, largest value 1.

    `delta_t = 1 - (max_t d - d_t) / D`, `D = max(max_t d, _STATIC_SPREAD * mean_t ||Z_t||)`.
    An ordinary clip has `D = max_t d`: delta is the authors' `d_t / max_t d`, bit for bit,
    invariant to the scale and shift of Z. Without the floor the gradient grows as 1/spread
    (6.4e5 for frames equal up to 1e-6) and a static clip's rounding noise is stretched over
    all bins. A floor in the divisor alone would not help: binning follows the max (gamma,
    Eq. 2), so it would cancel there and Eq. 8's 1/gamma would bring the 1/spread back. So
    the frames are anchored at the largest d_t (delta 1, which sets gamma) and a near-static
    clip's deltas stay within `max_t d / D` of it: its frames share the top bin or the top
    few (B' small; a static clip is redundant). The floor scales with Z, so delta stays scale
    invariant, and `||d delta_t / dZ|| <= (2 + _STATIC_SPREAD) / (_STATIC_SPREAD *
    mean_t ||Z_t||)` on every clip.
    """
    dist = magnitude(z - z.mean(dim=1, keepdim=True))
    top = dist.amax(dim=1, keepdim=True)
    floor = _STATIC_SPREAD * magnitude(z).mean(dim=1, keepdim=True)
    scale = torch.maximum(top, floor).clamp_min(_EPS)
    return dist / scale + (1 - top / scale)  # the last term is exactly 0 where scale == top


def _angles(z: torch.Tensor) -> torch.Tensor:
    """The L-1 angles of the hyperspherical coordinates of `z: [N, T, L]`, all >= 0.

    phi_i = atan2(||z_{i+1:}||, z_i) in [0, pi] for i < L-2, and the last angle
    atan2(z_{L-1}, z_{L-2}) in (-pi, pi] shifted by +pi to [0, 2 pi] (binning needs delta >= 0).
    """
    squares = z.pow(2)
    # tail[..., i] = sum_{j > i} z_j^2
    tail = squares.flip(-1).cumsum(-1).flip(-1)[..., 1:]
    polar = [_safe_atan2(_safe_sqrt(tail[..., i]), z[..., i]) for i in range(z.shape[-1] - 2)]
    azimuth = _safe_atan2(z[..., -1], z[..., -2]) + math.pi
    return torch.stack(polar + [azimuth], dim=-1)


def angular(z: torch.Tensor) -> torch.Tensor:
    """Angles of the spherical coordinates of Z (App. D); `[N, T, L]` -> `[N, T, L-1]`."""
    return _angles(z)


def spherical(z: torch.Tensor) -> torch.Tensor:
    """Radius and angles of Z (App. D); `[N, T, L]` -> `[N, T, L]`."""
    return torch.cat([magnitude(z).unsqueeze(-1), _angles(z)], dim=-1)


class Measure(NamedTuple):
    """A similarity measure: `fn(Z [N, T, L]) -> delta`, and its bins per dimension.

    `default_bins(L)` is None for one-dimensional measures (B then comes from num_bins), or
    the bin counts per dimension of a multi-dimensional one (ATFR.MULTI_BINS overrides).
    `min_embed_dim` is the smallest L the measure is defined for.
    """

    fn: Callable[[torch.Tensor], torch.Tensor]
    default_bins: Callable[[int], Tuple[int, ...]]
    min_embed_dim: int


def _no_multi_bins(embed_dim: int) -> Tuple[int, ...]:
    return ()


def _angular_bins(embed_dim: int) -> Tuple[int, ...]:
    return (_POLAR_BINS,) * (embed_dim - 2) + (_AZIMUTH_BINS,)


def _spherical_bins(embed_dim: int) -> Tuple[int, ...]:
    return (_RADIUS_BINS,) + (_SPHERICAL_ANGLE_BINS,) * (embed_dim - 1)


MEASURES: Dict[str, Measure] = {
    "magnitude": Measure(magnitude, _no_multi_bins, 1),
    "mean_distance": Measure(mean_distance, _no_multi_bins, 1),
    "angular": Measure(angular, _angular_bins, 2),
    "spherical": Measure(spherical, _spherical_bins, 2),
}


def resolve_measure(
    name: str, embed_dim: int, multi_bins: Sequence[int] = ()
) -> Tuple[Callable[[torch.Tensor], torch.Tensor], Tuple[int, ...]]:
    """Look up a measure (ATFR.MEASURE) and its bins per dimension.

    Returns:
        `(fn, bins)`: `bins` is `()` for one-dimensional measures (B comes from num_bins),
        else the bin count per dimension: `multi_bins` if given, else the measure's default.
    """
    if name not in MEASURES:
        raise ValueError(
            f"Unknown similarity measure {name!r} (ATFR.MEASURE); choose one of "
            f"{sorted(MEASURES)}."
        )
    measure = MEASURES[name]
    if embed_dim < measure.min_embed_dim:
        raise ValueError(
            f"ATFR.MEASURE={name!r} needs ATFR.EMBED_DIM >= {measure.min_embed_dim}; "
            f"got {embed_dim}."
        )
    default = measure.default_bins(embed_dim)
    multi_bins = tuple(multi_bins)
    if not multi_bins:
        return measure.fn, default
    if not default:
        raise ValueError(
            f"ATFR.MULTI_BINS={list(multi_bins)} only applies to the multi-dimensional "
            f"measures 'angular' and 'spherical'; {name!r} takes B from ATFR.NUM_BINS_*."
        )
    if len(multi_bins) != len(default) or any(
        isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in multi_bins
    ):
        raise ValueError(
            f"ATFR.MULTI_BINS={list(multi_bins)} must hold {len(default)} positive ints for "
            f"ATFR.MEASURE={name!r} with ATFR.EMBED_DIM={embed_dim} (default {list(default)})."
        )
    return measure.fn, multi_bins
