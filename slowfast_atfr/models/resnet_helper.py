"""Residual stages: the blocks of ResNet, SlowFast, R(2+1)D and X3D.

Contract of `ResStage` (PySlowFast-compatible names and arguments):

* Built with keyword-only, per-pathway lists (one entry per pathway): dim_in, dim_out,
  dim_inner, temp_kernel_sizes, stride, num_blocks, num_groups, num_block_temp_kernel,
  nonlocal_inds, nonlocal_group, nonlocal_pool, dilation; and shared values
  instantiation, trans_func_name, stride_1x1, inplace_relu, norm_module,
  drop_connect_rate.
* `stride[p]` is the spatial stride of the stage's first block, or a pair
  `(temporal, spatial)` for stages that also stride in time (R(2+1)D).
* Holds blocks `pathway{p}_res{i}` (a `ResBlock`: `branch1`/`branch1_bn` projection when
  the shape changes, `branch2` transform, `relu`) and optional `pathway{p}_nonlocal{i}`.
* The transform is looked up by its RESNET.TRANS_FUNC name in `TRANSFORM_REGISTRY`
  (register with `@TRANSFORM_REGISTRY.register_as("x3d_transform")`) and built as
  `cls(dim_in=, dim_out=, temp_kernel_size=, stride=, dim_inner=, num_groups=, stride_1x1=,
  inplace_relu=, dilation=, norm_module=, block_idx=, drop_connect_rate=)`; its forward
  maps [N, C_in, T, H, W] to [N, C_out, T', H', W'].
* forward(list of [N, C, T, H, W], one per pathway) -> list, one per pathway.
"""

from typing import Callable, List, Sequence, Tuple, Union

import torch
import torch.nn as nn

from slowfast_atfr.models import varlen
from slowfast_atfr.models.nonlocal_helper import Nonlocal
from slowfast_atfr.models.operators import drop_path
from slowfast_atfr.utils.registry import Registry

TRANSFORM_REGISTRY = Registry("TRANSFORM")
TRANSFORM_REGISTRY.__doc__ = """
Registry of residual-branch transforms (bottleneck_transform, basic_transform, ...).

Built with the keyword-only arguments listed in `resnet_helper`'s docstring; forward maps
[N, C_in, T, H, W] to [N, C_out, T', H', W'].
"""

Stride = Union[int, Sequence[int]]


def split_stride(stride: Stride) -> Tuple[int, int]:
    """(temporal, spatial) stride from an int (spatial only) or a (temporal, spatial) pair."""
    if isinstance(stride, int):
        return 1, stride
    if len(stride) != 2:
        raise ValueError(f"A stride is an int or a (temporal, spatial) pair; got {stride}.")
    return int(stride[0]), int(stride[1])


def get_trans_func(name: str) -> Callable[..., nn.Module]:
    """The transform registered as `name` (RESNET.TRANS_FUNC)."""
    if name not in TRANSFORM_REGISTRY:
        raise ValueError(f"RESNET.TRANS_FUNC={name!r} is not registered; choose one of "
                         f"{sorted(k for k, _ in TRANSFORM_REGISTRY)}.")
    return TRANSFORM_REGISTRY.get(name)


@TRANSFORM_REGISTRY.register_as("basic_transform")
class BasicTransform(nn.Module):
    """Tx3x3 then 1x3x3 conv (ResNet-18/34 style): a -> a_bn -> relu -> b -> b_bn."""

    def __init__(self, *, dim_in: int, dim_out: int, temp_kernel_size: int, stride: Stride,
                 dim_inner: int = 0, num_groups: int = 1, stride_1x1: bool = False,
                 inplace_relu: bool = True, dilation: int = 1,
                 norm_module: Callable[..., nn.Module] = nn.BatchNorm3d, block_idx: int = 0,
                 drop_connect_rate: float = 0.0, eps: float = 1e-5, bn_mmt: float = 0.1):
        super().__init__()
        t_stride, s_stride = split_stride(stride)
        self.a = nn.Conv3d(dim_in, dim_out, [temp_kernel_size, 3, 3],
                           stride=[t_stride, s_stride, s_stride],
                           padding=[temp_kernel_size // 2, 1, 1], bias=False)
        self.a_bn = norm_module(num_features=dim_out, eps=eps, momentum=bn_mmt)
        self.a_relu = nn.ReLU(inplace=inplace_relu)
        self.b = nn.Conv3d(dim_out, dim_out, [1, 3, 3], padding=[0, dilation, dilation],
                           dilation=[1, dilation, dilation], bias=False)
        self.b_bn = norm_module(num_features=dim_out, eps=eps, momentum=bn_mmt)
        self.b_bn.transform_final_bn = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.a_relu(self.a_bn(self.a(x)))
        return self.b_bn(self.b(x))


@TRANSFORM_REGISTRY.register_as("bottleneck_transform")
class BottleneckTransform(nn.Module):
    """Tx1x1, 1x3x3, 1x1x1 convs: a -> a_bn -> relu -> b -> b_bn -> relu -> c -> c_bn.

    The spatial stride sits on `a` when stride_1x1 (Caffe2 style), else on `b`; a temporal
    stride sits on `a`, the only conv with a temporal extent.
    """

    def __init__(self, *, dim_in: int, dim_out: int, temp_kernel_size: int, stride: Stride,
                 dim_inner: int, num_groups: int = 1, stride_1x1: bool = False,
                 inplace_relu: bool = True, dilation: int = 1,
                 norm_module: Callable[..., nn.Module] = nn.BatchNorm3d, block_idx: int = 0,
                 drop_connect_rate: float = 0.0, eps: float = 1e-5, bn_mmt: float = 0.1):
        super().__init__()
        t_stride, s_stride = split_stride(stride)
        str1x1, str3x3 = (s_stride, 1) if stride_1x1 else (1, s_stride)
        self.a = nn.Conv3d(dim_in, dim_inner, [temp_kernel_size, 1, 1],
                           stride=[t_stride, str1x1, str1x1],
                           padding=[temp_kernel_size // 2, 0, 0], bias=False)
        self.a_bn = norm_module(num_features=dim_inner, eps=eps, momentum=bn_mmt)
        self.a_relu = nn.ReLU(inplace=inplace_relu)
        self.b = nn.Conv3d(dim_inner, dim_inner, [1, 3, 3], stride=[1, str3x3, str3x3],
                           padding=[0, dilation, dilation], groups=num_groups, bias=False,
                           dilation=[1, dilation, dilation])
        self.b_bn = norm_module(num_features=dim_inner, eps=eps, momentum=bn_mmt)
        self.b_relu = nn.ReLU(inplace=inplace_relu)
        self.c = nn.Conv3d(dim_inner, dim_out, [1, 1, 1], bias=False)
        self.c_bn = norm_module(num_features=dim_out, eps=eps, momentum=bn_mmt)
        self.c_bn.transform_final_bn = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.a_relu(self.a_bn(self.a(x)))
        x = self.b_relu(self.b_bn(self.b(x)))
        return self.c_bn(self.c(x))


class ResBlock(nn.Module):
    """x -> relu(branch2(x) + shortcut(x)); the shortcut projects when the shape changes."""

    def __init__(self, *, dim_in: int, dim_out: int, temp_kernel_size: int, stride: Stride,
                 trans_func: Callable[..., nn.Module], dim_inner: int, num_groups: int = 1,
                 stride_1x1: bool = False, inplace_relu: bool = True, dilation: int = 1,
                 norm_module: Callable[..., nn.Module] = nn.BatchNorm3d, block_idx: int = 0,
                 drop_connect_rate: float = 0.0, eps: float = 1e-5, bn_mmt: float = 0.1):
        super().__init__()
        self._drop_connect_rate = drop_connect_rate
        t_stride, s_stride = split_stride(stride)
        if dim_in != dim_out or t_stride != 1 or s_stride != 1:
            self.branch1 = nn.Conv3d(dim_in, dim_out, kernel_size=1,
                                     stride=[t_stride, s_stride, s_stride], bias=False)
            self.branch1_bn = norm_module(num_features=dim_out, eps=eps, momentum=bn_mmt)
        self.branch2 = trans_func(
            dim_in=dim_in, dim_out=dim_out, temp_kernel_size=temp_kernel_size, stride=stride,
            dim_inner=dim_inner, num_groups=num_groups, stride_1x1=stride_1x1,
            inplace_relu=inplace_relu, dilation=dilation, norm_module=norm_module,
            block_idx=block_idx, drop_connect_rate=drop_connect_rate,
        )
        self.relu = nn.ReLU(inplace=inplace_relu)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f_x = self.branch2(x)
        if self.training and self._drop_connect_rate > 0.0:
            f_x = drop_path(f_x, self._drop_connect_rate)
        shortcut = self.branch1_bn(self.branch1(x)) if hasattr(self, "branch1") else x
        return self.relu(shortcut + f_x)


def _check_lengths(num_pathways: int, **lists) -> None:
    for key, value in lists.items():
        if len(value) != num_pathways:
            raise ValueError(f"ResStage {key}={list(value)} has {len(value)} entries; "
                             f"expected one per pathway ({num_pathways}).")


class ResStage(nn.Module):
    """One stage (res2..res5) of every pathway; see the module docstring for the contract."""

    def __init__(self, *, dim_in: List[int], dim_out: List[int], dim_inner: List[int],
                 temp_kernel_sizes: List[List[int]], stride: List[Stride],
                 num_blocks: List[int], num_groups: List[int],
                 num_block_temp_kernel: List[int], nonlocal_inds: List[List[int]],
                 nonlocal_group: List[int], nonlocal_pool: List[List[int]],
                 dilation: List[int], instantiation: str = "softmax",
                 trans_func_name: str = "bottleneck_transform", stride_1x1: bool = False,
                 inplace_relu: bool = True,
                 norm_module: Callable[..., nn.Module] = nn.BatchNorm3d,
                 drop_connect_rate: float = 0.0):
        super().__init__()
        self.num_pathways = len(temp_kernel_sizes)
        _check_lengths(self.num_pathways, dim_in=dim_in, dim_out=dim_out, dim_inner=dim_inner,
                       stride=stride, num_blocks=num_blocks, num_groups=num_groups,
                       num_block_temp_kernel=num_block_temp_kernel,
                       nonlocal_inds=nonlocal_inds, nonlocal_group=nonlocal_group,
                       dilation=dilation)
        self.num_blocks = list(num_blocks)
        self.nonlocal_group = list(nonlocal_group)
        trans_func = get_trans_func(trans_func_name)
        for p in range(self.num_pathways):
            if num_block_temp_kernel[p] > num_blocks[p]:
                raise ValueError(f"RESNET.NUM_BLOCK_TEMP_KERNEL={num_block_temp_kernel[p]} "
                                 f"exceeds the {num_blocks[p]} blocks of pathway {p}.")
            # The kernel basis repeats over the first num_block_temp_kernel blocks, then 1.
            kernels = (list(temp_kernel_sizes[p]) * num_blocks[p])[: num_block_temp_kernel[p]]
            kernels += [1] * (num_blocks[p] - num_block_temp_kernel[p])
            for i in range(num_blocks[p]):
                block = ResBlock(
                    dim_in=dim_in[p] if i == 0 else dim_out[p], dim_out=dim_out[p],
                    temp_kernel_size=kernels[i], stride=stride[p] if i == 0 else 1,
                    trans_func=trans_func, dim_inner=dim_inner[p], num_groups=num_groups[p],
                    stride_1x1=stride_1x1, inplace_relu=inplace_relu, dilation=dilation[p],
                    norm_module=norm_module, block_idx=i, drop_connect_rate=drop_connect_rate,
                )
                self.add_module(f"pathway{p}_res{i}", block)
                if i in nonlocal_inds[p]:
                    nln = Nonlocal(dim=dim_out[p], dim_inner=dim_out[p] // 2,
                                   pool_size=nonlocal_pool[p], instantiation=instantiation,
                                   norm_module=norm_module)
                    self.add_module(f"pathway{p}_nonlocal{i}", nln)

    def forward(self, inputs: List[torch.Tensor]) -> List[torch.Tensor]:
        if len(inputs) != self.num_pathways:
            raise ValueError(f"ResStage expects {self.num_pathways} pathway tensors; "
                             f"got {len(inputs)}.")
        outputs = []
        for p, x in enumerate(inputs):
            for i in range(self.num_blocks[p]):
                x = getattr(self, f"pathway{p}_res{i}")(x)
                nln = getattr(self, f"pathway{p}_nonlocal{i}", None)
                if nln is not None:
                    x = self._grouped_nonlocal(nln, x, self.nonlocal_group[p])
            outputs.append(x)
        return outputs

    @staticmethod
    def _grouped_nonlocal(nln: nn.Module, x: torch.Tensor, group: int) -> torch.Tensor:
        """Non-local over `group` temporal chunks folded into the batch (NONLOCAL.GROUP)."""
        if group == 1:
            return nln(x)
        n, c, t, h, w = x.shape
        if varlen.layout_of(x) is not None:
            raise ValueError(f"NONLOCAL.GROUP={group} folds time into the batch, which "
                             "ATFR's variable-length training does not support; use 1.")
        if t % group != 0:
            raise ValueError(f"NONLOCAL.GROUP={group} must divide the temporal size {t}.")
        x = x.permute(0, 2, 1, 3, 4).reshape(n * group, t // group, c, h, w)
        x = nln(x.permute(0, 2, 1, 3, 4))
        x = x.permute(0, 2, 1, 3, 4).reshape(n, t, c, h, w)
        return x.permute(0, 2, 1, 3, 4)
