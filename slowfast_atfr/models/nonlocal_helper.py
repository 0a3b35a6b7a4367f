"""Non-local block (Wang et al., CVPR 2018) with PySlowFast's parameter names."""

from typing import Callable, Optional, Sequence

import torch
import torch.nn as nn

from slowfast_atfr.models import varlen


class Nonlocal(nn.Module):
    """x + bn(conv_out(attention(conv_theta(x), conv_phi(x'), conv_g(x')))).

    x' is x max-pooled by `pool_size` (keys and values only). On a padded varlen batch,
    keys in padded frames get no weight, so a clip attends to its own frames only; a packed
    batch runs it padded (`varlen_runs_padded`).
    """

    varlen_runs_padded = "non-local attention over a clip's frames"

    def __init__(self, *, dim: int, dim_inner: int, pool_size: Optional[Sequence[int]] = None,
                 instantiation: str = "softmax", zero_init_final_norm: bool = True,
                 norm_module: Callable[..., nn.Module] = nn.BatchNorm3d, eps: float = 1e-5,
                 bn_mmt: float = 0.1):
        super().__init__()
        if instantiation not in ("softmax", "dot_product"):
            raise ValueError(f"NONLOCAL.INSTANTIATION={instantiation!r}; expected 'softmax' "
                             "or 'dot_product'.")
        self.dim_inner = dim_inner
        self.instantiation = instantiation
        pool_size = [1, 1, 1] if pool_size is None else list(pool_size)
        self.conv_theta = nn.Conv3d(dim, dim_inner, kernel_size=1)
        self.conv_phi = nn.Conv3d(dim, dim_inner, kernel_size=1)
        self.conv_g = nn.Conv3d(dim, dim_inner, kernel_size=1)
        self.conv_out = nn.Conv3d(dim_inner, dim, kernel_size=1)
        self.bn = norm_module(num_features=dim, eps=eps, momentum=bn_mmt)
        self.bn.transform_final_bn = zero_init_final_norm
        if any(size > 1 for size in pool_size):
            self.pool = nn.MaxPool3d(kernel_size=pool_size, stride=pool_size, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, C, T, H, W] -> [N, C, T, H, W]."""
        n, _, t, h, w = x.shape
        theta = self.conv_theta(x).view(n, self.dim_inner, -1)
        keys = self.pool(x) if hasattr(self, "pool") else x
        phi = self.conv_phi(keys)
        g = self.conv_g(keys).view(n, self.dim_inner, -1)
        key_mask = self._key_mask(phi)
        phi = phi.view(n, self.dim_inner, -1)
        affinity = torch.einsum("nct,ncp->ntp", theta, phi)
        if self.instantiation == "softmax":
            affinity = affinity * self.dim_inner ** -0.5
            if key_mask is not None:
                affinity = affinity.masked_fill(~key_mask[:, None, :], float("-inf"))
            affinity = affinity.softmax(dim=2)
        elif key_mask is None:
            affinity = affinity / affinity.shape[2]
        else:
            count = key_mask.sum(dim=1).to(affinity.dtype).view(n, 1, 1)
            affinity = affinity * key_mask[:, None, :].to(affinity.dtype) / count
        out = torch.einsum("ntp,ncp->nct", affinity, g).reshape(n, self.dim_inner, t, h, w)
        return x + self.bn(self.conv_out(out))

    @staticmethod
    def _key_mask(keys: torch.Tensor) -> Optional[torch.Tensor]:
        """Boolean [N, T*H*W] of keys in valid frames, or None outside a lengths context."""
        lengths = varlen.active_lengths(keys.shape[2])
        if lengths is None:
            return None
        mask = varlen.valid_mask(lengths.to(keys.device), keys.shape[2])
        return mask[:, :, None].expand(-1, -1, keys.shape[3] * keys.shape[4]).reshape(
            keys.shape[0], -1)
