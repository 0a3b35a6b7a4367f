"""Stems: the first conv (+ BN, ReLU, max pool) of every pathway, PySlowFast names.

`VideoModelStem` holds one stem per pathway as `pathway{p}_stem`; the stem class is
looked up by name in `STEM_REGISTRY` ("basic_stem" here; X3D registers its own) and built
as `cls(dim_in=, dim_out=, kernel=, stride=, padding=, inplace_relu=, eps=, bn_mmt=,
norm_module=)`.
"""

from typing import Callable, List, Sequence

import torch
import torch.nn as nn

from slowfast_atfr.utils.registry import Registry

STEM_REGISTRY = Registry("STEM")
STEM_REGISTRY.__doc__ = """
Registry of per-pathway stems; forward maps [N, C_in, T, H, W] to [N, C_out, T', H', W'].
"""


@STEM_REGISTRY.register_as("basic_stem")
class ResNetBasicStem(nn.Module):
    """conv (kernel, stride, padding) -> bn -> relu -> 1x3x3 max pool, spatial stride 2
    (the pool is left out with `pool=False`)."""

    def __init__(self, *, dim_in: int, dim_out: int, kernel: Sequence[int],
                 stride: Sequence[int], padding: Sequence[int], inplace_relu: bool = True,
                 eps: float = 1e-5, bn_mmt: float = 0.1,
                 norm_module: Callable[..., nn.Module] = nn.BatchNorm3d, pool: bool = True):
        super().__init__()
        self.conv = nn.Conv3d(dim_in, dim_out, list(kernel), stride=list(stride),
                              padding=list(padding), bias=False)
        self.bn = norm_module(num_features=dim_out, eps=eps, momentum=bn_mmt)
        self.relu = nn.ReLU(inplace=inplace_relu)
        self.pool_layer = (
            nn.MaxPool3d(kernel_size=[1, 3, 3], stride=[1, 2, 2], padding=[0, 1, 1])
            if pool else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool_layer(self.relu(self.bn(self.conv(x))))


class VideoModelStem(nn.Module):
    """One stem per pathway (`pathway{p}_stem`); lists hold one entry per pathway."""

    def __init__(self, *, dim_in: List[int], dim_out: List[int], kernel: List[Sequence[int]],
                 stride: List[Sequence[int]], padding: List[Sequence[int]],
                 inplace_relu: bool = True, eps: float = 1e-5, bn_mmt: float = 0.1,
                 norm_module: Callable[..., nn.Module] = nn.BatchNorm3d,
                 stem_func_name: str = "basic_stem"):
        super().__init__()
        self.num_pathways = len(dim_in)
        for key, value in (("dim_out", dim_out), ("kernel", kernel), ("stride", stride),
                           ("padding", padding)):
            if len(value) != self.num_pathways:
                raise ValueError(f"VideoModelStem {key}={list(value)} needs one entry per "
                                 f"pathway ({self.num_pathways}).")
        if stem_func_name not in STEM_REGISTRY:
            raise ValueError(f"Stem {stem_func_name!r} is not registered; choose one of "
                             f"{sorted(k for k, _ in STEM_REGISTRY)}.")
        stem_cls = STEM_REGISTRY.get(stem_func_name)
        for p in range(self.num_pathways):
            stem = stem_cls(dim_in=dim_in[p], dim_out=dim_out[p], kernel=kernel[p],
                            stride=stride[p], padding=padding[p], inplace_relu=inplace_relu,
                            eps=eps, bn_mmt=bn_mmt, norm_module=norm_module)
            self.add_module(f"pathway{p}_stem", stem)

    def forward(self, x: List[torch.Tensor]) -> List[torch.Tensor]:
        """list of [N, C_in, T, H, W] -> list of [N, C_out, T', H', W'], one per pathway."""
        if len(x) != self.num_pathways:
            raise ValueError(f"VideoModelStem expects {self.num_pathways} pathway tensors; "
                             f"got {len(x)}.")
        return [getattr(self, f"pathway{p}_stem")(x[p]) for p in range(self.num_pathways)]
