"""Clips of real photographs through a moving camera, for the Kinetics-like miniature.

The motion demo (motion_clips.py) tells its classes apart by motion alone; here the class is
what is shown, a region of a real photograph, and the motion is a nuisance that varies from a
still shot to fast pans, as in Kinetics. Every class is filmed at every redundancy level
(LEVELS), so a temporal sampler can be judged per level at equal content.

The photographs are the sample images that scikit-image's wheel ships in `skimage/data/`
(the ones used here are all present in scikit-image 0.26.0). The wheel's licence
(scikit_image-*.dist-info/LICENSE.txt, "Files: *") is BSD-3-Clause, and the docstrings of
`skimage.data` give each photograph used here as CC0 or public domain: astronaut, hubble deep
field, rocket and text (public domain), chelsea, coffee, camera, retina, horse, brick and gravel
(CC0); coins and ihc ("no known copyright restrictions"). They are located with
`importlib.util.find_spec` (importing skimage is slow and pulls in scipy) and decoded with PyAV.
"""

import importlib.util
import math
import os
from dataclasses import dataclass
from functools import lru_cache
from typing import List, Optional, Tuple

import av
import numpy as np

LEVELS = ("static", "slow", "fast", "shaky", "cut")


def level_of(number: int) -> str:
    """The level of video `number` of a class: round-robin, so that every class x level cell
    has videos in every split of at least len(LEVELS) videos per class."""
    return LEVELS[number % len(LEVELS)]

_LEFT, _RIGHT, _WHOLE = (0.0, 0.0, 1.0, 0.5), (0.0, 0.5, 1.0, 1.0), (0.0, 0.0, 1.0, 1.0)
# Label order: {class: (photograph, region as (top, left, bottom, right) fractions)}. The two
# halves of one photograph share palette and texture, so they are each other's confusers;
# eight classes are in colour, four grey (two of them textures without an object).
PHOTO_CLASSES = {
    "astronaut_left": ("astronaut.png", _LEFT),
    "astronaut_right": ("astronaut.png", _RIGHT),
    "chelsea_left": ("chelsea.png", _LEFT),
    "chelsea_right": ("chelsea.png", _RIGHT),
    "coffee_left": ("coffee.png", _LEFT),
    "coffee_right": ("coffee.png", _RIGHT),
    "rocket_left": ("rocket.jpg", _LEFT),
    "rocket_right": ("rocket.jpg", _RIGHT),
    "camera_left": ("camera.png", _LEFT),
    "camera_right": ("camera.png", _RIGHT),
    "brick": ("brick.png", _WHOLE),
    "gravel": ("gravel.png", _WHOLE),
}
# Photographs of no class: patches of them occlude or cross the frame.
DISTRACTOR_PHOTOS = ("hubble_deep_field.jpg", "retina.jpg", "ihc.png", "coins.png", "text.png",
                     "horse.png")

# Camera speeds in frame sides per frame (so they do not depend on the frame size).
_SLOW_PAN = (0.002, 0.005)
_FAST_PAN = (0.025, 0.045)
_SLOW_ZOOM = (0.004, 0.01)  # change of log(window side) per frame
_SHAKE = (0.012, 0.025)  # std of the hand-held jitter's innovations (AR(1), coefficient 0.5)
_DISTRACTOR_SPEED = (0.005, 0.025)
_MOVING_LEVELS = ("slow", "fast", "shaky")  # still shots keep still distractors


@dataclass(frozen=True)
class Difficulty:
    """Knobs that make recognition harder without changing what a class shows.

    crop_scale: window side as a fraction of the class region's shorter side (random per view).
    noise: std of the per-frame Gaussian sensor noise (intensities in [0, 1]).
    brightness, color: the gain of each shot is uniform in 1 +- brightness, and each
        channel's in 1 +- color.
    max_distractors: patches of DISTRACTOR_PHOTOS per shot, uniform in 0..max_distractors.
    distractor_size: patch side as a fraction of the frame side.
    moving_distractors: probability that a patch crosses the frame (slow, fast, shaky only).
    """

    crop_scale: Tuple[float, float] = (0.4, 0.9)
    noise: float = 0.02
    brightness: float = 0.25
    color: float = 0.1
    max_distractors: int = 2
    distractor_size: Tuple[float, float] = (0.2, 0.45)
    moving_distractors: float = 0.5


def photo_dir() -> str:
    """scikit-image's `skimage/data` folder, found without importing skimage."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "The Kinetics-like data set is rendered from scikit-image's sample photographs, and "
            "scikit-image is not installed: pip install scikit-image (or pip install -e "
            "\".[photos]\")."
        )
    return os.path.join(list(spec.submodule_search_locations)[0], "data")


def check_photos() -> None:
    """Raise before any rendering when a photograph is missing (e.g. a trimmed install)."""
    folder = photo_dir()
    needed = sorted({f for f, _ in PHOTO_CLASSES.values()} | set(DISTRACTOR_PHOTOS))
    missing = [f for f in needed if not os.path.isfile(os.path.join(folder, f))]
    if missing:
        raise FileNotFoundError(f"scikit-image's sample photographs {missing} are not in "
                                f"{folder}: reinstall scikit-image (pip install scikit-image).")


@lru_cache(maxsize=None)
def _pyramid(path: str) -> Tuple[np.ndarray, ...]:
    """Float RGB [H, W, 3] in [0, 1], then 2x2 means down to ~64 px: windows far larger than
    the frame are sampled from the level nearest their scale, so pans do not alias."""
    with av.open(path) as container:
        image = next(container.decode(video=0)).to_ndarray(format="rgb24")
    levels = [image.astype(np.float32) / 255.0]
    while min(levels[-1].shape[:2]) >= 128:
        last = levels[-1]
        h, w = last.shape[0] // 2 * 2, last.shape[1] // 2 * 2
        levels.append(last[:h, :w].reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3)))
    return tuple(levels)


def _photo(name: str) -> Tuple[np.ndarray, ...]:
    return _pyramid(os.path.join(photo_dir(), name))


def _crop(pyramid: Tuple[np.ndarray, ...], centres: np.ndarray, sides: np.ndarray,
          out_hw: Tuple[int, int]) -> np.ndarray:
    """Bilinear samples of windows (centres, sides [n, 2] in photo pixels) at out_hw each.

    Returns:
        float32 [n, out_h, out_w, 3].
    """
    step = sides / np.asarray(out_hw, dtype=np.float64)
    level = int(np.clip(np.floor(np.log2(max(step.min(), 1.0))), 0, len(pyramid) - 1))
    image, scale = pyramid[level], 2.0**level
    grid = [np.arange(n) - (n - 1) / 2.0 for n in out_hw]
    # Pixel k of a level covers photo pixels [k * scale, (k + 1) * scale).
    ys = ((centres[:, 0, None] + grid[0] * step[:, 0, None]) - (scale - 1) / 2) / scale
    xs = ((centres[:, 1, None] + grid[1] * step[:, 1, None]) - (scale - 1) / 2) / scale
    h, w = image.shape[:2]
    ys, xs = np.clip(ys, 0, h - 1)[:, :, None], np.clip(xs, 0, w - 1)[:, None, :]
    y0, x0 = np.minimum(ys.astype(np.int64), h - 2), np.minimum(xs.astype(np.int64), w - 2)
    wy, wx = (ys - y0)[..., None].astype(np.float32), (xs - x0)[..., None].astype(np.float32)
    top = image[y0, x0] * (1 - wx) + image[y0, x0 + 1] * wx
    bottom = image[y0 + 1, x0] * (1 - wx) + image[y0 + 1, x0 + 1] * wx
    return top * (1 - wy) + bottom * wy


def _bounds(box: np.ndarray, sides: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Lowest and highest centres [..., 2] of square windows of `sides` inside `box`."""
    half = np.asarray(sides, dtype=np.float64)[..., None] / 2
    return box[:2] + half, box[2:] - half


def _view(rng: np.random.Generator, box: np.ndarray, d: Difficulty) -> Tuple[np.ndarray, float]:
    """A random square window (centre, side) inside `box`."""
    side = min(box[2] - box[0], box[3] - box[1]) * rng.uniform(*d.crop_scale)
    lo, hi = _bounds(box, side)
    return lo + rng.random(2) * (hi - lo), side


def _reflect(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """`x` folded back into [lo, hi]: a pan that reaches the region's border turns back."""
    span = np.maximum(hi - lo, 1e-6)
    y = np.mod(x - lo, 2 * span)
    return lo + span - np.abs(y - span)


def _camera(level: str, rng: np.random.Generator, n: int, box: np.ndarray, size: int,
            view: Tuple[np.ndarray, float]) -> Tuple[np.ndarray, np.ndarray]:
    """Window centres [n, 2] and sides [n] of one shot starting at `view`."""
    centre, side = view
    t = np.arange(n, dtype=np.float64)
    centres, sides = np.repeat(centre[None], n, 0), np.full(n, side)
    px = side / size  # photo pixels per frame pixel
    if level == "slow" and rng.random() < 0.5:
        short = min(box[2] - box[0], box[3] - box[1])
        direction = -1.0 if side > 0.65 * short else 1.0  # zoom in on wide views
        sides = np.clip(side * np.exp(direction * rng.uniform(*_SLOW_ZOOM) * t), 0.25 * short,
                        short)
    elif level in ("slow", "fast"):
        speed = rng.uniform(*(_SLOW_PAN if level == "slow" else _FAST_PAN)) * size * px
        theta = rng.uniform(0, 2 * math.pi)
        centres = _reflect(centre + np.outer(t, [math.sin(theta), math.cos(theta)]) * speed,
                           *_bounds(box, side))
    elif level == "shaky":
        shake = rng.normal(0.0, rng.uniform(*_SHAKE) * size * px, (n, 2))
        for i in range(1, n):
            shake[i] += 0.5 * shake[i - 1]
        centres = centre + shake
    lo, hi = _bounds(box, sides)
    return np.clip(centres, lo, hi), sides


def _distractors(rng: np.random.Generator, level: str, n: int, size: int,
                 d: Difficulty) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Patches [h, w, 3] of DISTRACTOR_PHOTOS with their top-left frame positions [n, 2]."""
    out = []
    for _ in range(int(rng.integers(0, d.max_distractors + 1))):
        pyramid = _photo(DISTRACTOR_PHOTOS[int(rng.integers(len(DISTRACTOR_PHOTOS)))])
        side, aspect = rng.uniform(*d.distractor_size) * size, math.exp(rng.uniform(-0.4, 0.4))
        hw = np.maximum(np.round([side * math.sqrt(aspect), side / math.sqrt(aspect)]), 2)
        photo_hw = np.array(pyramid[0].shape[:2], dtype=np.float64)
        source = hw * photo_hw.min() * rng.uniform(0.15, 0.5) / hw.max()
        centre = source / 2 + rng.random(2) * (photo_hw - source)
        patch = _crop(pyramid, centre[None], source[None], (int(hw[0]), int(hw[1])))[0]
        start = rng.random(2) * size - hw / 2
        velocity = np.zeros(2)
        if level in _MOVING_LEVELS and rng.random() < d.moving_distractors:
            theta = rng.uniform(0, 2 * math.pi)
            velocity = np.array([math.sin(theta), math.cos(theta)]) * rng.uniform(
                *_DISTRACTOR_SPEED) * size
        positions = np.round(start + np.outer(np.arange(n), velocity)).astype(np.int64)
        out.append((patch, positions))
    return out


def _paste(frames: np.ndarray, patch: np.ndarray, positions: np.ndarray) -> None:
    """Paste `patch` into each frame at its top-left position, cut at the frame's border."""
    size_hw = frames.shape[1:3]
    for frame, pos in zip(frames, positions):
        lo = np.maximum(pos, 0)
        hi = np.minimum(pos + patch.shape[:2], size_hw)
        if (hi > lo).all():
            frame[lo[0]:hi[0], lo[1]:hi[1]] = patch[lo[0] - pos[0]:hi[0] - pos[0],
                                                    lo[1] - pos[1]:hi[1] - pos[1]]


def _shot(pyramid: Tuple[np.ndarray, ...], level: str, rng: np.random.Generator, n: int,
          box: np.ndarray, size: int, view: Tuple[np.ndarray, float],
          d: Difficulty) -> np.ndarray:
    """One shot's float frames [n, size, size, 3] without noise."""
    centres, sides = _camera(level, rng, n, box, size, view)
    frames = _crop(pyramid, centres, np.repeat(sides[:, None], 2, 1), (size, size))
    for patch, positions in _distractors(rng, level, n, size, d):
        _paste(frames, patch, positions)
    gain = rng.uniform(1 - d.brightness, 1 + d.brightness) * rng.uniform(1 - d.color,
                                                                          1 + d.color, 3)
    return frames * gain.astype(np.float32)


def render_photo_clip(name: str, level: str, rng: np.random.Generator, frames: int, size: int,
                      difficulty: Optional[Difficulty] = None) -> np.ndarray:
    """Render one clip of class `name` (PHOTO_CLASSES) at redundancy level `level` (LEVELS).

    static: one still window; slow: a slow pan or zoom; fast: a fast pan (turning back at the
    region's border); shaky: a still window with hand-held jitter; cut: two still views of the
    class region, cut between 1/3 and 2/3 of the clip (each shot has its own distractors and
    exposure). Sensor noise is added to every frame.

    Returns:
        uint8 RGB frames [frames, size, size, 3].
    """
    if name not in PHOTO_CLASSES:
        raise ValueError(f"Unknown class {name!r}; expected one of {tuple(PHOTO_CLASSES)}.")
    if level not in LEVELS:
        raise ValueError(f"Unknown level {level!r}; expected one of {LEVELS}.")
    d = difficulty or Difficulty()
    photo, region = PHOTO_CLASSES[name]
    pyramid = _photo(photo)
    box = np.array(region) * np.tile(pyramid[0].shape[:2], 2)
    view = _view(rng, box, d)
    if level != "cut":
        clip = _shot(pyramid, level, rng, frames, box, size, view, d)
    else:
        cut = int(rng.integers(frames // 3, 2 * frames // 3 + 1))
        # The second view is the farthest of four candidates, so that the cut is visible.
        others = [_view(rng, box, d) for _ in range(4)]
        second = max(others, key=lambda v: np.abs(v[0] - view[0]).sum() + abs(v[1] - view[1]))
        clip = np.concatenate([_shot(pyramid, level, rng, cut, box, size, view, d),
                               _shot(pyramid, level, rng, frames - cut, box, size, second, d)])
    clip += rng.normal(0.0, d.noise, clip.shape).astype(np.float32)
    return (np.clip(clip, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
