"""The Kinetics-like miniature: appearance classes of real photographs at five motion levels.

The counterpart of the motion demo (demo.py) for the ATFR paper's Kinetics claim (about half
the GFLOPs at the same accuracy): classes are recognised by what is shown (photo_clips.py), and
every class has clips of every redundancy level, from still shots to fast pans and cuts, so
that B' can be reported per level (motion_levels.json).
"""

import json
import logging
import os
from typing import Dict, Optional

from slowfast_atfr.datasets.demo import (
    atomic_write,
    kinetics_video_path,
    split_counts,
    write_kinetics_lists,
    write_kinetics_videos,
)
from slowfast_atfr.datasets.photo_clips import (
    LEVELS,
    PHOTO_CLASSES,
    Difficulty,
    check_photos,
    level_of,
    render_photo_clip,
)

logger = logging.getLogger(__name__)


def make_kinetics_like_dataset(
    root: str,
    seed: int = 0,
    *,
    num_classes: int = len(PHOTO_CLASSES),
    videos_per_class: int = 40,
    val_videos_per_class: int = 10,
    test_videos_per_class: int = 10,
    frames: int = 48,
    size: int = 96,
    fps: int = 30,
    codec: str = "libx264",
    difficulty: Optional[Difficulty] = None,
) -> Dict[str, int]:
    """Write the Kinetics-like data set under `root`, in the layout of `make_demo_dataset`.

    Files: `videos/<split>/<class>/<class>_NNN.mp4`, `classes.json`, `motion_levels.json`
    ({video path as in the lists: level}) and, last, `train.csv`, `val.csv`, `test.csv`.
    Video NNN of a class has level LEVELS[NNN % 5], so every class x level cell has videos in
    every split with at least 5 videos per class.

    Args:
        root: output folder (created).
        seed: the same seed gives identical lists and identical decoded frames; each video has
            its own generator seeded by (seed, split, class, number).
        num_classes: the first `num_classes` of PHOTO_CLASSES (2 to 12).
        videos_per_class, val_videos_per_class, test_videos_per_class: videos per split, 0 or
            at least len(LEVELS).
        frames, size, fps: clip length, square frame size (even) and frame rate.
        codec: "libx264" (falls back to "mpeg4" when missing) or "mpeg4".
        difficulty: crop, noise, exposure and distractor knobs (default: Difficulty()).

    Returns:
        {class name: label}.
    """
    if not 2 <= num_classes <= len(PHOTO_CLASSES):
        raise ValueError(f"num_classes={num_classes} must be in [2, {len(PHOTO_CLASSES)}].")
    counts = split_counts(videos_per_class, val_videos_per_class, test_videos_per_class)
    for split, count in counts.items():
        if 0 < count < len(LEVELS):
            raise ValueError(f"The {split} split has {count} videos per class; use 0 or at least "
                             f"{len(LEVELS)} so that it holds every level {LEVELS}.")
    if size % 2:
        raise ValueError(f"size={size} must be even (yuv420p).")
    check_photos()
    classes = list(PHOTO_CLASSES)[:num_classes]
    lines = write_kinetics_videos(
        root, classes, counts,
        lambda name, number, rng: render_photo_clip(name, level_of(number), rng, frames, size,
                                                    difficulty),
        seed=seed, fps=fps, codec=codec, desc="Kinetics-like videos")
    levels = {kinetics_video_path(split, name, number): level_of(number)
              for split, count in counts.items() for name in classes for number in range(count)}
    atomic_write(os.path.join(root, "motion_levels.json"), json.dumps(levels, indent=1) + "\n")
    mapping = write_kinetics_lists(root, classes, lines)
    logger.info("Kinetics-like data set (%d classes, %s videos per class) written to %s.",
                len(classes), counts, root)
    return mapping
