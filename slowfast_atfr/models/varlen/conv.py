"""Stride-1 temporal convolutions of packed clips, each clip reading only its own frames.

A Tx(kh)x(kw) convolution is T spatial 1x(kh)x(kw) convolutions of shifted frames, summed
(one per tap of the temporal kernel). Packed back to back, a clip's border frames would read
its neighbour's frames where a lone clip reads zero padding. Two exact ways out, chosen by
what is cheaper on CPU:

* training (autograd on): one spatial convolution whose output channels hold all T taps
  (exactly the original multiply-adds), then the taps summed with their shifts, each masked
  where the shifted frame belongs to another clip. PyTorch's backward of this form is faster
  than that of a depthwise Tx3x3 convolution, and no extra work is done.
* inference: the plain convolution (its fast forward kernel, oneDNN fused ones included),
  then the few products that read another clip, one tap times one frame (about 2(N-1)/T
  frames' worth for N clips), computed again and subtracted.
"""

from typing import Callable, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from slowfast_atfr.models.varlen import context
from slowfast_atfr.models.varlen.layout import ClipLayout

# Per tap: (tap j, output frames [a, b), input frames [c, d), valid mask [b - a] bool, the
# output frames whose read of this tap falls in another clip [M] int64).
Shift = Tuple[int, int, int, int, int, torch.Tensor, torch.Tensor]


def _shifts(conv: nn.Conv3d, layout: ClipLayout) -> List[Shift]:
    """Which input frame each tap reads for each output frame, and whether it is the clip's."""
    kernel, dilation, padding = conv.kernel_size[0], conv.dilation[0], conv.padding[0]

    def compute() -> List[Shift]:
        clip, size = layout.frame_clip(), layout.size
        shifts = []
        for j in range(kernel):
            offset = j * dilation - padding  # output frame t reads input frame t + offset
            a, b = max(0, -offset), min(size, size - offset)
            if a < b:
                same = clip[a:b] == clip[a + offset:b + offset]
                cross = a + torch.nonzero(~same).squeeze(1)
                shifts.append((j, a, b, a + offset, b + offset, same, cross))
        return shifts

    return layout.cached(("shifts", kernel, dilation, padding), compute)


def _sum_of_masked_taps(conv: nn.Conv3d, x: torch.Tensor, layout: ClipLayout) -> torch.Tensor:
    weight = conv.weight
    c_out, c_in, kernel = weight.shape[0], weight.shape[1], weight.shape[2]
    spatial = weight.permute(0, 2, 1, 3, 4).reshape(c_out * kernel, c_in, 1,
                                                    *weight.shape[3:])
    taps = F.conv3d(x, spatial, None, (1,) + tuple(conv.stride[1:]),
                    (0,) + tuple(conv.padding[1:]), (1,) + tuple(conv.dilation[1:]),
                    conv.groups)
    taps = taps.view(1, c_out, kernel, *taps.shape[2:])  # [1, C_out, T taps, S, H', W']
    shifts = _shifts(conv, layout)
    # The tap without shift reads every frame of its own clip: it starts the sum.
    center = next((shift for shift in shifts if shift[1] == shift[3]), None)
    y = taps[:, :, center[0]].clone() if center else taps.new_zeros(taps[:, :, 0].shape)
    for shift in shifts:
        if shift is not center:
            j, a, b, c, d, same, _ = shift
            y[:, :, a:b].addcmul_(taps[:, :, j, c:d], same.to(y.dtype).view(1, 1, -1, 1, 1))
    return y if conv.bias is None else y + conv.bias.view(1, -1, 1, 1, 1)


def subtract_cross_clip_reads(conv: nn.Conv3d, x: torch.Tensor, y: torch.Tensor,
                              layout: ClipLayout) -> torch.Tensor:
    """y = conv(x) of a packed x (before any activation) minus every product of a kernel tap
    with a frame of another clip than the output frame's."""
    for j, a, _, c, _, _, out in _shifts(conv, layout):
        if out.numel() == 0:
            continue
        frames = x.index_select(2, out + (c - a))[0].transpose(0, 1)  # [M, C_in, H, W]
        wrong = F.conv2d(frames, conv.weight[:, :, j], None, conv.stride[1:],
                         conv.padding[1:], conv.dilation[1:], conv.groups)
        y = y.index_add(2, out, wrong.transpose(0, 1).unsqueeze(0).to(y.dtype), alpha=-1)
    return y


def packed_temporal_conv(conv: nn.Conv3d, x: torch.Tensor, layout: ClipLayout,
                         plain: Optional[Callable[[torch.Tensor], torch.Tensor]] = None
                         ) -> torch.Tensor:
    """`conv` (stride 1 in time, output as long as the input) on a packed x [1, C, S, H, W].

    Args:
        plain: the convolution as the module computes it without activation (inference
            only; default: nn.Conv3d's).
    """
    if torch.is_grad_enabled():
        return _sum_of_masked_taps(conv, x, layout)
    y = (plain or (lambda v: nn.Conv3d.forward(conv, v)))(x)
    return subtract_cross_clip_reads(conv, x, y, layout)


class VarLenConv3d(nn.Conv3d):
    """nn.Conv3d whose temporal kernel reads only its own clip's frames on packed batches.

    `install_hooks` gives this class to the stride-1, length-keeping temporal convolutions
    of a model with a sampler; parameters, names and every other input are nn.Conv3d's.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layout = context.layout_of(x)
        if layout is None or not layout.packed or layout.num_clips == 1:
            return self._plain_forward(x)
        return packed_temporal_conv(self, x, layout)

    def _plain_forward(self, x: torch.Tensor) -> torch.Tensor:
        # torch 2.13's CPU bfloat16 conv3d returns garbage weight gradients (even inf/NaN)
        # when 1 < T < the temporal kernel, which short sampled clips reach: such a call
        # runs in float32 under CPU autocast.
        if (x.device.type == "cpu" and torch.is_autocast_enabled("cpu")
                and 1 < x.shape[2] < self.kernel_size[0]):
            with torch.autocast("cpu", enabled=False):
                return super().forward(x.float()).to(torch.get_autocast_dtype("cpu"))
        return super().forward(x)
