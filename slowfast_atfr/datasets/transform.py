"""Temporal sampling (which frames), spatial sampling (which pixels), normalisation, pathways.

Randomness comes from torch's global generator, which the DataLoader seeds per worker.
"""

import math
from typing import List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F


def _uniform(low: float, high: float) -> float:
    return low + (high - low) * float(torch.rand(()))


def clip_positions(
    *,
    video_frames: int,
    fps: float,
    num_frames: int,
    sampling_rate: int,
    target_fps: float,
    clip_idx: int,
    num_clips: int,
) -> np.ndarray:
    """Frame indices of one clip of `num_frames` frames, `sampling_rate` apart at `target_fps`.

    The clip covers `num_frames * sampling_rate` frames at `target_fps`, i.e. that many times
    `fps / target_fps` frames of the video. `clip_idx` -1 picks a random start; otherwise the
    start is the `clip_idx`-th of `num_clips` uniformly spaced starts (the centre when
    `num_clips` is 1). Positions past the end are clamped later, which repeats the last frame
    of a video shorter than one clip.

    Returns:
        int64 positions [num_frames] at the video's frame rate.
    """
    clip_size = num_frames * sampling_rate * fps / target_fps
    delta = max(video_frames - clip_size, 0.0)
    if clip_idx < 0:
        start = _uniform(0.0, delta)
    elif num_clips == 1:
        start = delta / 2.0
    else:
        start = delta * clip_idx / (num_clips - 1)
    return np.linspace(start, start + max(clip_size - 1.0, 0.0), num_frames).astype(np.int64)


def segment_positions(
    *, video_frames: int, num_frames: int, clip_idx: int, num_clips: int
) -> np.ndarray:
    """One frame from each of `num_frames` equal segments of the whole video (SSv2 style).

    `clip_idx` -1 picks a random frame per segment (training); otherwise every segment takes
    the frame at offset (clip_idx + 0.5) / num_clips of its length.

    Returns:
        int64 positions [num_frames].
    """
    seg = max(video_frames - 1, 0) / num_frames
    starts = seg * np.arange(num_frames)
    if clip_idx < 0:
        offsets = torch.rand(num_frames).numpy() * seg
    else:
        offsets = np.full(num_frames, seg * (clip_idx + 0.5) / num_clips)
    return np.round(starts + offsets).astype(np.int64)


def sample_short_side(min_size: int, max_size: int, inverse_uniform: bool = False) -> int:
    """Random short side in [min_size, max_size] for scale jitter.

    With `inverse_uniform` the size is 1 / U(1 / max_size, 1 / min_size) (DATA.INV_UNIFORM_SAMPLE).
    """
    if inverse_uniform:
        return int(round(1.0 / _uniform(1.0 / max_size, 1.0 / min_size)))
    return int(torch.randint(min_size, max_size + 1, ()))


def scaled_size(height: int, width: int, short_side: int) -> Tuple[int, int]:
    """(height, width) after resizing the short side to `short_side`, keeping the aspect."""
    if width < height:
        return int(math.floor(height / width * short_side)), short_side
    return short_side, int(math.floor(width / height * short_side))


def crop_offset(height: int, width: int, size: int, spatial_idx: int) -> Tuple[int, int]:
    """Top-left corner of a `size` square in a `height` x `width` frame.

    `spatial_idx` -1 = random; 0, 1, 2 = left, centre, right along the long side (top, centre,
    bottom for portrait frames), as PySlowFast's uniform crop.
    """
    if spatial_idx < 0:
        return (int(torch.randint(0, height - size + 1, ())),
                int(torch.randint(0, width - size + 1, ())))
    if spatial_idx not in (0, 1, 2):
        raise ValueError(f"spatial_idx={spatial_idx} must be -1, 0, 1 or 2.")
    y, x = (height - size) // 2, (width - size) // 2
    if height > width:
        return (0, y, height - size)[spatial_idx], x
    return y, (0, x, width - size)[spatial_idx]


def resized_crop(frames: np.ndarray, short_side: int, size: int, spatial_idx: int) -> torch.Tensor:
    """Short-side resize to `short_side` then a `size` square crop, done as crop-then-resize.

    The crop box is chosen in the resized frame and mapped back to the input, so only the
    cropped pixels are converted and interpolated (bilinear, torch): the same view as resizing
    the whole frame first, at a fraction of the cost. A short side below `size` is raised to
    `size`.

    Args:
        frames: uint8 [T, H, W, C].
        short_side: short side of the (virtual) resized frame.
        size: crop size.
        spatial_idx: -1 random crop, else 0/1/2 (see `crop_offset`).

    Returns:
        float [C, T, size, size] in [0, 255].
    """
    height, width = frames.shape[1:3]
    new_h, new_w = scaled_size(height, width, max(short_side, size))
    y, x = crop_offset(new_h, new_w, size, spatial_idx)
    sy, sx = height / new_h, width / new_w
    y0, x0 = int(round(y * sy)), int(round(x * sx))
    y1 = max(int(round((y + size) * sy)), y0 + 1)
    x1 = max(int(round((x + size) * sx)), x0 + 1)
    return _box_to_square(frames, y0, x0, y1, x1, size)


def _box_to_square(frames: np.ndarray, y0: int, x0: int, y1: int, x1: int,
                   size: int) -> torch.Tensor:
    """uint8 [T, H, W, C] frames cropped to rows y0:y1, columns x0:x1 and resized (bilinear)
    to float [C, T, size, size]; only the box is converted and interpolated."""
    # [C, T, h, w]: interpolate treats C as the batch and T as the channels.
    box = torch.from_numpy(frames[:, y0:y1, x0:x1]).permute(3, 0, 1, 2).float()
    if box.shape[-2:] == (size, size):
        return box
    return F.interpolate(box, size=(size, size), mode="bilinear", align_corners=False)


def relative_crop_box(
    height: int, width: int, scale: Sequence[float], aspect: Sequence[float], tries: int = 10
) -> Tuple[int, int, int, int]:
    """Random box (y, x, box_h, box_w) of an Inception-style crop in a `height` x `width` frame.

    The box covers a fraction of the frame's area drawn uniformly from `scale` = [min, max]
    with a width / height ratio drawn log-uniformly from `aspect` = [min, max] (so a ratio and
    its inverse are equally likely). A draw that does not fit inside the frame is redrawn, up
    to `tries` times; then the box is the largest centred one whose ratio is the frame's,
    clamped to `aspect`. Random numbers come from torch's global generator, as the other
    training transforms, so the per-item seeding covers them.
    """
    area = height * width
    log_low, log_high = math.log(aspect[0]), math.log(aspect[1])
    for _ in range(tries):
        target = area * _uniform(scale[0], scale[1])
        ratio = math.exp(_uniform(log_low, log_high))
        box_w = int(round(math.sqrt(target * ratio)))
        box_h = int(round(math.sqrt(target / ratio)))
        if 0 < box_w <= width and 0 < box_h <= height:
            return (int(torch.randint(0, height - box_h + 1, ())),
                    int(torch.randint(0, width - box_w + 1, ())), box_h, box_w)
    ratio = min(max(width / height, aspect[0]), aspect[1])
    if width / height > ratio:  # frame wider than allowed: full height
        box_h, box_w = height, max(int(round(height * ratio)), 1)
    else:
        box_h, box_w = max(int(round(width / ratio)), 1), width
    return (height - box_h) // 2, (width - box_w) // 2, box_h, box_w


def random_relative_crop(frames: np.ndarray, size: int, scale: Sequence[float],
                         aspect: Sequence[float]) -> torch.Tensor:
    """Training crop of DATA.TRAIN_JITTER_SCALES_RELATIVE: one `relative_crop_box` for the
    whole clip (the same box in every frame), resized to `size` x `size` (bilinear).

    Args:
        frames: uint8 [T, H, W, C].
        size: output size (DATA.TRAIN_CROP_SIZE, or its short-cycle size).
        scale: relative area range [min, max].
        aspect: width / height range [min, max].

    Returns:
        float [C, T, size, size] in [0, 255].
    """
    y, x, box_h, box_w = relative_crop_box(frames.shape[1], frames.shape[2], scale, aspect)
    return _box_to_square(frames, y, x, y + box_h, x + box_w, size)


def random_horizontal_flip(frames: torch.Tensor, prob: float = 0.5) -> torch.Tensor:
    """Flip [..., H, W] frames left-right with probability `prob`."""
    return frames.flip(-1) if float(torch.rand(())) < prob else frames


def normalize(frames: torch.Tensor, mean: Sequence[float], std: Sequence[float],
              reverse_channels: bool = False) -> torch.Tensor:
    """[C, T, H, W] frames in [0, 255] -> (x / 255 - mean) / std per channel.

    With `reverse_channels` (DATA.REVERSE_INPUT_CHANNEL) the normalised RGB frames are
    returned in BGR order, the input of Caffe2-trained checkpoints (as PySlowFast).
    """
    scale = 1.0 / (255.0 * torch.tensor(std, dtype=frames.dtype))
    shift = -torch.tensor(mean, dtype=frames.dtype) / torch.tensor(std, dtype=frames.dtype)
    frames = frames.mul_(scale.view(-1, 1, 1, 1)).add_(shift.view(-1, 1, 1, 1))
    return frames.flip(0) if reverse_channels else frames


def pack_pathway_output(
    frames: torch.Tensor, multi_pathway: bool, alpha: int
) -> List[torch.Tensor]:
    """Split [C, T, H, W] frames into the model's pathways.

    Single pathway: [frames]. SlowFast: [slow, fast], fast = all T frames, slow = T // alpha
    frames at `torch.linspace(0, T - 1, T // alpha)` (as PySlowFast).
    """
    if not multi_pathway:
        return [frames]
    num_slow = frames.shape[1] // alpha
    if num_slow < 1:
        raise ValueError(
            f"DATA.NUM_FRAMES={frames.shape[1]} is smaller than SLOWFAST.ALPHA={alpha}; the slow "
            "pathway would get no frame."
        )
    index = torch.linspace(0, frames.shape[1] - 1, num_slow).long()
    return [torch.index_select(frames, 1, index), frames]
