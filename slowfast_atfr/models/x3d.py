"""X3D (Feichtenhofer, CVPR 2020), optionally adaptive with ATFR (SGS after ATFR.STAGE).

One network, expanded by config: X3D.WIDTH_FACTOR, DEPTH_FACTOR, BOTTLENECK_FACTOR, DIM_C1,
DIM_C5, SCALE_RES2 and the input size give XS, S, M, L and XL (X3D paper, Table 3).
Module names are PySlowFast's, so its X3D checkpoints load with strict=True.
"""

import math
from typing import Callable, Dict, List, Sequence, Tuple

import torch.nn as nn

from slowfast_atfr.config.choices import SAMPLER_STAGES
from slowfast_atfr.models import varlen
from slowfast_atfr.models.build import MODEL_REGISTRY
from slowfast_atfr.models.resnet import finish_model, shared_kwargs
from slowfast_atfr.models.resnet_helper import ResStage
from slowfast_atfr.models.stem_helper import VideoModelStem
from slowfast_atfr.models.video_model import Step, VideoModel
from slowfast_atfr.models.x3d_helper import X3DHead, round_width

# Stem (conv1): 1x3x3 spatial conv then 5x1x1 depthwise temporal conv (X3D paper, Table 1).
_STEM_KERNEL = [5, 3, 3]  # [T, H, W]
_STEM_STRIDE = [1, 2, 2]
_STEM_PADDING = [2, 1, 1]

# Residual stages (X3D paper, Table 1), before the depth factor. Each stage doubles the
# width of the previous one (res2 starts from DIM_C1) and halves H and W.
_STAGES = {
    # name: (blocks, spatial stride, temporal kernel of the 3x3 conv)
    "res2": (1, 2, 3),
    "res3": (2, 2, 3),
    "res4": (5, 2, 3),
    "res5": (3, 2, 3),
}
# Width growth from one stage to the next, before the width factor; rounded to multiples of
# 8. The width factor itself is rounded to whole channels (PySlowFast's X3D; with XL's 2.9
# this gives its 11.09 M parameters and 36.65 GFLOPs at 16x312x312).
_STAGE_WIDTH_GROWTH = 2.0
_STAGE_WIDTH_DIVISOR = 8


def _round_repeats(repeats: int, multiplier: float) -> int:
    """Blocks of a stage after the depth factor (rounded up)."""
    return int(math.ceil(multiplier * repeats)) if multiplier else repeats


def stage_widths(dim_c1: int, scale_res2: bool) -> Dict[str, int]:
    """Output channels of res2..res5 before the width factor (12, 24, 48, 96 for X3D)."""
    width = dim_c1
    widths = {}
    for index, name in enumerate(_STAGES):
        if index > 0 or scale_res2:
            width = round_width(width, _STAGE_WIDTH_GROWTH, divisor=_STAGE_WIDTH_DIVISOR)
        widths[name] = width
    return widths


class X3D(VideoModel):
    """X3D: stem, res2..res5 of X3D bottlenecks, X3DHead. Built from plain values.

    Args:
        num_classes: number of classes.
        dim_in: input channels (3 for RGB).
        dim_c1: stem width before the width factor (X3D.DIM_C1, 12).
        width_factor: X3D.WIDTH_FACTOR (2.0 for XS-L, 2.9 for XL).
        depth_factor: X3D.DEPTH_FACTOR (2.2 for XS-M, 5.0 for L and XL).
        bottleneck_factor: X3D.BOTTLENECK_FACTOR (2.25).
        dim_c5: width of the head's lin_5 (X3D.DIM_C5, 2048).
        scale_res2: X3D.SCALE_RES2.
        channelwise: depthwise 3x3x3 convs (X3D.CHANNELWISE_3x3x3); else `num_groups`.
        bn_lin5: BN after lin_5 (X3D.BN_LIN5).
        dropout_rate: MODEL.DROPOUT_RATE.
        drop_connect_rate: MODEL.DROPCONNECT_RATE (grows linearly to it over the stages).
        norm_module: normalization layer class (`norm_helper.get_norm`).
        trans_func_name: TRANSFORM_REGISTRY entry of the blocks ("x3d_transform").
        dilations: spatial dilation of each stage.
    """

    def __init__(self, *, num_classes: int, dim_in: int = 3, dim_c1: int = 12,
                 width_factor: float = 2.0, depth_factor: float = 2.2,
                 bottleneck_factor: float = 2.25, dim_c5: int = 2048, scale_res2: bool = False,
                 channelwise: bool = True, num_groups: int = 1, bn_lin5: bool = False,
                 dropout_rate: float = 0.5, drop_connect_rate: float = 0.0,
                 stride_1x1: bool = False, inplace_relu: bool = True,
                 norm_module: Callable[..., nn.Module] = varlen.VarLenBatchNorm3d,
                 trans_func_name: str = "x3d_transform",
                 dilations: Sequence[int] = (1, 1, 1, 1)):
        super().__init__(num_pathways=1)
        dim = round_width(dim_c1, width_factor)
        self.s1 = VideoModelStem(dim_in=[dim_in], dim_out=[dim], kernel=[_STEM_KERNEL],
                                 stride=[_STEM_STRIDE], padding=[_STEM_PADDING],
                                 inplace_relu=inplace_relu, norm_module=norm_module,
                                 stem_func_name="x3d_stem")
        self.stage_dims = {"stem": dim}
        widths = stage_widths(dim_c1, scale_res2)
        for index, (name, (blocks, stride, temp_kernel)) in enumerate(_STAGES.items()):
            dim_out = round_width(widths[name], width_factor)
            dim_inner = int(bottleneck_factor * dim_out)
            num_blocks = _round_repeats(blocks, depth_factor)
            stage = ResStage(
                dim_in=[dim], dim_out=[dim_out], dim_inner=[dim_inner],
                temp_kernel_sizes=[[temp_kernel]], stride=[stride], num_blocks=[num_blocks],
                num_groups=[dim_inner if channelwise else num_groups],
                num_block_temp_kernel=[num_blocks], nonlocal_inds=[[]], nonlocal_group=[1],
                nonlocal_pool=[[1, 2, 2]], dilation=[dilations[index]],
                trans_func_name=trans_func_name, stride_1x1=stride_1x1,
                inplace_relu=inplace_relu, norm_module=norm_module,
                drop_connect_rate=drop_connect_rate * (index + 2) / (len(_STAGES) + 1),
            )
            self.add_module(f"s{index + 2}", stage)
            self.stage_dims[name] = dim = dim_out
        # conv_5 of the head is as wide as res5's bottleneck.
        self.head = X3DHead(dim_in=dim, dim_inner=dim_inner, dim_out=dim_c5,
                            num_classes=num_classes, dropout_rate=dropout_rate,
                            inplace_relu=inplace_relu, norm_module=norm_module,
                            bn_lin5_on=bn_lin5)

    def stage_steps(self) -> List[Tuple[str, Step]]:
        """[(stem, s1), (res2, s2), ..., (res5, s5), (head, head)]."""
        stages = [(name, getattr(self, f"s{i + 2}")) for i, name in enumerate(_STAGES)]
        return [("stem", self.s1)] + stages + [("head", self.head)]


def x3d_kwargs(cfg) -> dict:
    """The X3D constructor's keyword arguments from the config (with `shared_kwargs`, the
    only place reading it).

    Raises:
        ValueError: when MODEL.ARCH is not "x3d" or the input has more than one pathway.
    """
    if cfg.MODEL.ARCH != "x3d":
        raise ValueError(f"MODEL.MODEL_NAME='X3D' needs MODEL.ARCH='x3d'; got {cfg.MODEL.ARCH!r}.")
    if len(cfg.DATA.INPUT_CHANNEL_NUM) != 1:
        raise ValueError("X3D has one pathway: DATA.INPUT_CHANNEL_NUM must have one entry; "
                         f"got {list(cfg.DATA.INPUT_CHANNEL_NUM)}.")
    return dict(
        shared_kwargs(cfg),
        dim_in=cfg.DATA.INPUT_CHANNEL_NUM[0],
        dim_c1=cfg.X3D.DIM_C1,
        width_factor=cfg.X3D.WIDTH_FACTOR,
        depth_factor=cfg.X3D.DEPTH_FACTOR,
        bottleneck_factor=cfg.X3D.BOTTLENECK_FACTOR,
        dim_c5=cfg.X3D.DIM_C5,
        scale_res2=cfg.X3D.SCALE_RES2,
        channelwise=cfg.X3D.CHANNELWISE_3x3x3,
        bn_lin5=cfg.X3D.BN_LIN5,
        drop_connect_rate=cfg.MODEL.DROPCONNECT_RATE,
        dilations=[d[0] for d in cfg.RESNET.SPATIAL_DILATIONS],
    )


def build_x3d(cfg) -> X3D:
    """MODEL_REGISTRY["X3D"]: X3D from the config, with the ATFR sampler when enabled."""
    model = X3D(**x3d_kwargs(cfg))
    finish_model(model, cfg, {name: [model.stage_dims[name]] for name in SAMPLER_STAGES})
    return model


MODEL_REGISTRY.register_as("X3D")(build_x3d)
