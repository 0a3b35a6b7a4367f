"""The built-in demo data set: real video files of synthetic motion classes, in two formats.

`make_demo_dataset` writes the Kinetics format (train/val/test.csv with paths relative to the
root, classes.json; DATA.PATH_PREFIX = the root reads them without the list-folder warning);
`make_demo_ssv2_dataset` writes the SSv2 format. Everything is determined by the seed: each
video has its own generator seeded by (seed, split, class, number).
"""

import fcntl
import json
import logging
import os
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from slowfast_atfr.datasets.motion_clips import (
    MOTION_CLASSES,
    available_codec,
    render_clip,
    write_video,
)
from slowfast_atfr.utils.progress import track

logger = logging.getLogger(__name__)

_SPLIT_IDS = {"train": 0, "val": 1, "test": 2}
# SSv2-style template of each motion class ("[something]" is a placeholder).
SSV2_TEMPLATES = {
    "static": "Holding [something] still",
    "slow_drift": "Pushing [something] slowly",
    "fast_motion": "Throwing [something]",
    "move_left": "Pushing [something] from right to left",
    "move_right": "Pushing [something] from left to right",
    "flicker": "Shining a light on [something] on and off",
    "zoom": "Moving [something] closer to or away from the camera",
    "rotate": "Turning [something] around",
}
_OBJECTS = ("a cup", "a pen", "a box", "a ball", "a book", "a phone")
_X264_OPTIONS = {"crf": "18", "preset": "veryfast"}
_VP8_OPTIONS = {"b": "400k"}


def _classes(num_classes: int) -> Tuple[str, ...]:
    if not 2 <= num_classes <= len(MOTION_CLASSES):
        raise ValueError(f"num_classes={num_classes} must be in [2, {len(MOTION_CLASSES)}].")
    return MOTION_CLASSES[:num_classes]


def _video_rng(seed: int, split: str, class_idx: int, number: int) -> np.random.Generator:
    """The generator of one video: it depends on nothing else, so any subset is reproducible."""
    return np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_IDS[split], class_idx,
                                                         number]))


def atomic_write(path: str, text: str) -> None:
    """Write `text` to `path` so that readers see the old file or the whole new one."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def split_counts(videos_per_class: int, val_per_class: int, test_per_class: int):
    """{split: videos per class}, checked."""
    counts = {"train": videos_per_class, "val": val_per_class, "test": test_per_class}
    for split, n in counts.items():
        if n < 0:
            raise ValueError(f"Videos per class of the {split} split must be >= 0, got {n}.")
    return counts


def _write_clip(path: str, frames: np.ndarray, fps: int, codec: str) -> None:
    """`write_video` with the demo's quality settings for `codec`."""
    options = _VP8_OPTIONS if codec == "libvpx" else _X264_OPTIONS if codec == "libx264" else {}
    write_video(path, frames, fps=fps, codec=codec, options=options)


def kinetics_video_path(split: str, name: str, number: int) -> str:
    """Path of video `number` of class `name`, relative to the data set's root."""
    return f"videos/{split}/{name}/{name}_{number:03d}.mp4"


def write_kinetics_videos(root: str, classes: Sequence[str], counts: Dict[str, int],
                          render: Callable[[str, int, np.random.Generator], np.ndarray], *,
                          seed: int, fps: int, codec: str, desc: str) -> Dict[str, List[str]]:
    """Render and write every video of every split (`render(class name, number, rng)` gives
    its frames, rng seeded by (seed, split, class, number)); returns each split's list lines.
    """
    codec = available_codec(codec)
    lines: Dict[str, List[str]] = {split: [] for split in counts}
    videos = [(split, label, name, number) for split, count in counts.items()
              for label, name in enumerate(classes) for number in range(count)]
    logger.info("Writing %s: %d videos to %s.", desc, len(videos), root)
    for split, label, name, number in track(videos, len(videos), desc, "video"):
        rel = kinetics_video_path(split, name, number)
        os.makedirs(os.path.join(root, os.path.dirname(rel)), exist_ok=True)
        clip = render(name, number, _video_rng(seed, split, label, number))
        _write_clip(os.path.join(root, rel), clip, fps, codec)
        lines[split].append(f"{rel} {label}")
    return lines


def write_kinetics_lists(root: str, classes: Sequence[str],
                         lines: Dict[str, List[str]]) -> Dict[str, int]:
    """Write classes.json, then the {split}.csv lists (`relative/path label` lines), each
    atomically: the lists come last, so they mark a complete data set.

    Returns:
        {class name: label}.
    """
    mapping = {name: label for label, name in enumerate(classes)}
    atomic_write(os.path.join(root, "classes.json"), json.dumps(mapping, indent=1) + "\n")
    for split, split_lines in lines.items():
        atomic_write(os.path.join(root, f"{split}.csv"), "".join(f"{x}\n" for x in split_lines))
    return mapping


def make_demo_dataset(
    root: str,
    seed: int = 0,
    *,
    num_classes: int = len(MOTION_CLASSES),
    videos_per_class: int = 40,
    val_videos_per_class: int = 10,
    test_videos_per_class: int = 10,
    frames: int = 48,
    size: int = 80,
    fps: int = 30,
    codec: str = "libx264",
) -> Dict[str, int]:
    """Write the demo data set in the Kinetics format under `root`.

    Files: `videos/<split>/<class>/<class>_NNN.mp4` (yuv420p), `train.csv`, `val.csv`,
    `test.csv` (`relative/path label`, written last) and `classes.json` ({name: index}).

    Args:
        root: output folder (created).
        seed: the same seed gives byte-identical lists and identical decoded frames.
        num_classes: the first `num_classes` of MOTION_CLASSES (2 to 8).
        videos_per_class, val_videos_per_class, test_videos_per_class: videos per split.
        frames, size, fps: clip length, square frame size (even) and frame rate.
        codec: "libx264" (falls back to "mpeg4" when missing) or "mpeg4".

    Returns:
        {class name: label}.
    """
    classes = _classes(num_classes)
    counts = split_counts(videos_per_class, val_videos_per_class, test_videos_per_class)
    if size % 2:
        raise ValueError(f"size={size} must be even (yuv420p).")
    lines = write_kinetics_videos(
        root, classes, counts, lambda name, number, rng: render_clip(name, rng, frames, size),
        seed=seed, fps=fps, codec=codec, desc="Demo videos")
    mapping = write_kinetics_lists(root, classes, lines)
    logger.info("Demo data set (%d classes, %s videos per class) written to %s.",
                len(classes), counts, root)
    return mapping


def make_demo_ssv2_dataset(
    root: str,
    seed: int = 0,
    *,
    num_classes: int = len(MOTION_CLASSES),
    videos_per_class: int = 40,
    val_videos_per_class: int = 10,
    frames: int = 48,
    size: int = 80,
    fps: int = 30,
    ext: str = "webm",
    as_frames: bool = False,
) -> Dict[str, int]:
    """Write the demo data set in the SSv2 format under `root`.

    Files: `<id>.webm` (VP8) or `<id>.mp4`, or with `as_frames` folders `<id>/000001.jpg...`;
    `something-something-v2-{train,validation}.json` and `something-something-v2-labels.json`
    (written last). Arguments are as for `make_demo_dataset`.

    Returns:
        {label name (template without brackets): label}.
    """
    classes = _classes(num_classes)
    if ext not in ("webm", "mp4"):
        raise ValueError(f"ext={ext!r} must be 'webm' or 'mp4'.")
    counts = split_counts(videos_per_class, val_videos_per_class, 0)
    codec = available_codec("libvpx" if ext == "webm" else "libx264")
    os.makedirs(root, exist_ok=True)
    lists: Dict[str, List[dict]] = {"train": [], "val": []}
    video_id = 0
    for split in lists:
        for label, name in enumerate(classes):
            for number in range(counts[split]):
                video_id += 1
                rng = _video_rng(seed, split, label, number)
                clip = render_clip(name, rng, frames, size)
                obj = _OBJECTS[int(rng.integers(len(_OBJECTS)))]
                template = SSV2_TEMPLATES[name]
                lists[split].append({"id": str(video_id), "label": template.replace(
                    "[something]", obj), "template": template, "placeholders": [obj]})
                _write_ssv2_clip(root, str(video_id), clip, fps, codec, ext, as_frames)
    for split, name in (("train", "train"), ("val", "validation")):
        atomic_write(os.path.join(root, f"something-something-v2-{name}.json"),
                     json.dumps(lists[split], indent=1) + "\n")
    labels = {SSV2_TEMPLATES[n].replace("[", "").replace("]", ""): i for i, n in enumerate(classes)}
    atomic_write(os.path.join(root, "something-something-v2-labels.json"),
                 json.dumps({k: str(v) for k, v in labels.items()}, indent=1) + "\n")
    logger.info("Demo SSv2 data set (%d classes) written to %s.", len(classes), root)
    return labels


def _write_ssv2_clip(root: str, video_id: str, clip: np.ndarray, fps: int, codec: str,
                     ext: str, as_frames: bool) -> None:
    if not as_frames:
        _write_clip(os.path.join(root, f"{video_id}.{ext}"), clip, fps, codec)
        return
    folder = os.path.join(root, video_id)
    os.makedirs(folder, exist_ok=True)
    write_video(os.path.join(folder, "%06d.jpg"), clip, fps=fps, codec="mjpeg",
                pix_fmt="yuvj420p", container_format="image2")


_MARKERS: Dict[str, Sequence[str]] = {
    "kinetics": ("train.csv", "val.csv", "test.csv"),
    "ssv2": ("something-something-v2-labels.json",),
}
_LOCK = ".demo.lock"
# Written before any video: the folder's content is the demo's, so an interrupted write may
# be redone. Without it, a folder with other files is the user's and is never written to.
_OWNED = ".demo_dataset"


def _refuse_foreign_folder(root: str, fmt: str) -> None:
    """Raise when `root` holds files the demo did not write (they would be overwritten)."""
    if os.path.isfile(os.path.join(root, _OWNED)):
        return
    foreign = sorted(set(os.listdir(root)) - {_LOCK})
    if foreign:
        missing = [m for m in _MARKERS[fmt] if not os.path.isfile(os.path.join(root, m))]
        raise FileNotFoundError(
            f"{', '.join(missing)} not found in DATA.PATH_TO_DATA_DIR={root!r}. "
            f"DATA.AUTO_CREATE_DEMO writes the demo data set only into an empty folder or one "
            f"it created, and this one holds other files ({', '.join(foreign[:5])}"
            f"{', ...' if len(foreign) > 5 else ''}): add the missing list file, or point "
            "DATA.PATH_TO_DATA_DIR at an empty folder for the demo."
        )


def ensure_demo_dataset(root: str, fmt: str = "kinetics", num_classes: int = 8,
                        test_videos_per_class: int = 10) -> None:
    """Create the demo data set in `root` unless its list files exist (DATA.AUTO_CREATE_DEMO).

    A file lock makes concurrent processes (loader workers, distributed ranks) wait for the
    one that writes it; the list files are written last and atomically, so they mark a
    complete data set. A folder with other files and no demo marker is refused, never
    overwritten. `num_classes` is capped at the number of motion classes;
    `test_videos_per_class` applies to the Kinetics format (SSv2 has no test split).
    """
    if fmt not in _MARKERS:
        raise ValueError(f"fmt={fmt!r} must be one of {sorted(_MARKERS)}.")
    if not root:
        raise ValueError("DATA.PATH_TO_DATA_DIR is empty; set it to create the demo data set.")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, _LOCK), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if all(os.path.isfile(os.path.join(root, m)) for m in _MARKERS[fmt]):
                return
            _refuse_foreign_folder(root, fmt)
            open(os.path.join(root, _OWNED), "w").close()
            logger.info("DATA.AUTO_CREATE_DEMO: writing the %s demo data set to %s.", fmt, root)
            classes = min(num_classes, len(MOTION_CLASSES))
            if fmt == "kinetics":
                make_demo_dataset(root, num_classes=classes,
                                  test_videos_per_class=test_videos_per_class)
            else:
                make_demo_ssv2_dataset(root, num_classes=classes)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
