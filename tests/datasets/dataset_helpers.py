"""Helpers of the data tests: tiny configs, tiny videos and reference decodes."""

from typing import Callable, List, Sequence

import av
import numpy as np

from slowfast_atfr.config.defaults import get_cfg
from slowfast_atfr.datasets.motion_clips import write_video

NUM_DEMO_CLASSES = 3


def tiny_cfg(root: str, num_classes: int = NUM_DEMO_CLASSES, arch: str = "x3d"):
    """A config that decodes 4-frame 32 px clips of `root`."""
    cfg = get_cfg()
    cfg.DATA.PATH_TO_DATA_DIR = str(root)
    cfg.MODEL.NUM_CLASSES = num_classes
    cfg.MODEL.ARCH = arch
    cfg.DATA.NUM_FRAMES, cfg.DATA.SAMPLING_RATE = 4, 2
    cfg.DATA.TRAIN_JITTER_SCALES, cfg.DATA.TRAIN_CROP_SIZE = [32, 40], 32
    cfg.DATA.TEST_CROP_SIZE = 32
    cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS = 2, 3
    cfg.DATA_LOADER.NUM_WORKERS = 0
    cfg.NUM_GPUS = 0
    return cfg


def gradient_video(path: str, frames: int = 12, height: int = 32, width: int = 48,
                   gray: bool = False, **kwargs) -> np.ndarray:
    """Write a video whose frame t has value 10 * t everywhere (+ a spatial ramp); return it."""
    t = (np.arange(frames) * 10 % 200)[:, None, None]
    ramp = np.linspace(0, 40, width)[None, None, :]
    video = np.broadcast_to(t + ramp, (frames, height, width)).astype(np.uint8)
    if not gray:
        video = np.repeat(video[..., None], 3, axis=-1)
    write_video(path, np.ascontiguousarray(video), **kwargs)
    return video


def all_frames(path: str, video: int = 0) -> List[np.ndarray]:
    """Every RGB frame [H, W, 3] of video stream `video`, decoded in order: the reference."""
    with av.open(path) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=video)]


def fixed_positions(positions: Sequence[int]) -> Callable[[int, float], np.ndarray]:
    """A `sample_fn` for the decoder that asks for `positions` whatever the video."""
    return lambda num_frames, fps: np.asarray(positions)
