"""Clips of different temporal lengths in one batch: the only place that knows about it.

After the temporal sampler every clip has its own length B'. The layers after it run in one
of three regimes (run.py), all giving each clip exactly what it would get alone:

* packed (training; ATFR.EVAL_BATCHING packed): each pathway's valid frames back to back
  along time, no gaps, one [1, C, sum(B'), H, W] tensor. Compute and activation memory
  follow the sum of the lengths. Frame-wise layers need nothing; BatchNorm takes its
  statistics over all frames (every frame is valid); a stride-1 temporal convolution sums
  its taps with per-clip masks, so no clip reads another's frames (conv.py); global and
  squeeze-excitation pooling average per clip (ops.masked_mean, ops.broadcast_per_clip).
  Layers that change the temporal size or attend over a clip's frames run padded
  (hooks.py), and the run logs which ones, once.
* padded (ATFR.TRAIN_BATCHING / EVAL_BATCHING padded): one tensor padded to the longest
  clip; BatchNorm over valid frames re-zeroes the padding (batchnorm.py), so temporal
  convolutions see zeros beyond a clip's end, as a lone clip would.
* grouped (eval default): one call per distinct length, trimmed, no masks.

A layout (layout.py) says where each clip's frames are; the context (context.py) maps each
pathway's temporal sizes to layouts while the layers run. Blocks call only the helpers
exported here. Outside a context (models without a sampler) every helper is a no-op.
"""

from slowfast_atfr.models.varlen.batchnorm import (
    VarLenBatchNorm3d,
    batch_norm_frames,
    combine_moments,
    normalise_frames,
    zero_invalid,
)
from slowfast_atfr.models.varlen.context import (
    active_layout,
    active_lengths,
    add_layout,
    layout_of,
    layouts_context,
    lengths_context,
    pathway_scope,
)
from slowfast_atfr.models.varlen.conv import VarLenConv3d, packed_temporal_conv
from slowfast_atfr.models.varlen.hooks import install_hooks
from slowfast_atfr.models.varlen.layout import (
    ClipLayout,
    pack,
    repack,
    resampled_lengths,
    unpack,
    valid_mask,
    zero_padding,
)
from slowfast_atfr.models.varlen.ops import (
    broadcast_per_clip,
    concat_padded,
    masked_mean,
    num_clips,
)
from slowfast_atfr.models.varlen.run import (
    RUNS,
    recording_padded_parts,
    run_grouped,
    run_packed,
    run_padded,
)

__all__ = [
    "RUNS", "ClipLayout", "VarLenBatchNorm3d", "VarLenConv3d", "active_layout",
    "active_lengths", "add_layout", "batch_norm_frames", "broadcast_per_clip", "combine_moments",
    "concat_padded",
    "install_hooks", "layout_of", "layouts_context", "lengths_context", "masked_mean",
    "normalise_frames", "num_clips", "pack", "packed_temporal_conv", "pathway_scope",
    "recording_padded_parts", "repack", "resampled_lengths", "run_grouped", "run_packed",
    "run_padded", "unpack", "valid_mask", "zero_invalid", "zero_padding",
]
