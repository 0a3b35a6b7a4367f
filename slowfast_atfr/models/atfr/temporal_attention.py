"""Temporal attention baseline of Table A.6: A^2-Nets double attention over time (App. G)."""

from typing import Sequence

import torch
from torch import nn

from slowfast_atfr.models.atfr.samplers import TEMPORAL_SAMPLER_REGISTRY, SamplerOutput
from slowfast_atfr.models.atfr.similarity import pointwise_conv1d

# Channels of the gathered feature maps: C / 4 (A^2-Nets reduces the channels of its
# gathered features; Chen et al. 2018).
_CHANNEL_REDUCTION = 4


@TEMPORAL_SAMPLER_REGISTRY.register()
class TemporalAttention(nn.Module):
    """Double attention (Chen et al., NeurIPS 2018) applied over the T axis, at the SGS slot.

    Flow, for `x: [N, C, T, H, W]`::

        phi(x)           1x1x1 conv C -> C/4          [N, C/4, T, H, W]
        theta(mean_hw x) 1x1 conv C -> L, softmax_T   [N, T, L]      L gather maps over frames
        gather           sum_t phi_t * theta          [N, L, C/4, H, W]  L global descriptors
        rho(mean_hw x)   1x1 conv C -> L, softmax_L   [N, T, L]      each frame's mixture
        distribute       sum_l descriptor_l * rho     [N, C/4, T, H, W]
        out = x + proj(distribute)                    1x1x1 conv C/4 -> C, residual

    It re-weights the frames and never shortens the clip (lengths = T), which is why it costs
    more than SGS (App. G). Identical frames get identical outputs. The bin, kernel, measure
    and similarity-network arguments exist for the common sampler signature and are ignored;
    `embed_dim` is the number L of temporal descriptors.
    """

    def __init__(
        self, *, dim_in: int, num_bins_train: int = -1, num_bins_test: int = -1,
        block_length: int = 0, embed_dim: int = 8, kernel: str = "linear",
        measure: str = "magnitude", multi_bins: Sequence[int] = (),
        similarity_net: str = "conv", similarity_input_grad: bool = True,
    ) -> None:
        """The bin, measure and similarity arguments fill the sampler slot's signature and
        are ignored: attention keeps every frame and always backpropagates into its input."""
        super().__init__()
        if dim_in < 1 or embed_dim < 1:
            raise ValueError(
                f"TemporalAttention needs dim_in >= 1 and ATFR.EMBED_DIM >= 1; got "
                f"dim_in={dim_in}, embed_dim={embed_dim}."
            )
        inner = max(1, dim_in // _CHANNEL_REDUCTION)
        self.dim_in = dim_in
        self.phi = nn.Conv3d(dim_in, inner, kernel_size=1)
        self.theta = nn.Conv1d(dim_in, embed_dim, kernel_size=1)
        self.rho = nn.Conv1d(dim_in, embed_dim, kernel_size=1)
        self.proj = nn.Conv3d(inner, dim_in, kernel_size=1)

    def forward(self, x: torch.Tensor) -> SamplerOutput:
        """Map `x: [N, C, T, H, W]` to `SamplerOutput(out: [N, C, T, H, W], lengths: [N] int64,
        all T, one block)`."""
        if x.dim() != 5 or x.shape[1] != self.dim_in:
            raise ValueError(
                f"TemporalAttention expects [N, {self.dim_in}, T, H, W]; got {tuple(x.shape)}."
            )
        pooled = x.mean(dim=(3, 4)).transpose(1, 2)  # [N, T, C]
        features = self.phi(x)
        gather = pointwise_conv1d(self.theta, pooled).softmax(dim=1)  # [N, T, L], over T
        descriptors = torch.einsum("nmthw,ntl->nlmhw", features, gather)
        distribute = pointwise_conv1d(self.rho, pooled).softmax(dim=2)  # over L
        attended = torch.einsum("nlmhw,ntl->nmthw", descriptors, distribute)
        lengths = torch.full((x.shape[0],), x.shape[2], dtype=torch.int64, device=x.device)
        return SamplerOutput.whole_clip(x + self.proj(attended), lengths)
