"""Synthetic motion clips for the demo data set, and a small PyAV video writer.

Each clip looks at a random periodic texture (smooth coloured noise plus random shapes)
through a camera whose motion is the class: appearance is random per video, so only the
motion tells the classes apart (left/right differ only by direction, static/slow_drift only by
speed, flicker only by brightness over time). The amount of temporal redundancy therefore
varies by class, which is what adaptive temporal resolution exploits.
"""

import math
from fractions import Fraction
from typing import Dict, Optional

import av
import numpy as np

# Motion classes in label order; their parameters are drawn in `_motion`.
MOTION_CLASSES = (
    "static",
    "slow_drift",
    "fast_motion",
    "move_left",
    "move_right",
    "flicker",
    "zoom",
    "rotate",
)


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """Periodic float RGB texture [size, size, 3] in [0, 1]."""
    freq = np.fft.fftfreq(size)
    radius = np.sqrt(freq[:, None] ** 2 + freq[None, :] ** 2)
    cutoff = rng.uniform(0.03, 0.08)
    lowpass = np.exp(-((radius / cutoff) ** 2))
    noise = rng.standard_normal((3, size, size))
    smooth = np.real(np.fft.ifft2(np.fft.fft2(noise) * lowpass))
    smooth = (smooth - smooth.min()) / (np.ptp(smooth) + 1e-8)
    colors = rng.uniform(0.0, 1.0, (2, 3))
    weight = smooth[0][..., None]
    tex = colors[0] * weight + colors[1] * (1.0 - weight)
    tex = tex + 0.3 * (smooth[1][..., None] - 0.5) * rng.uniform(-1.0, 1.0, 3)
    yy, xx = np.mgrid[0:size, 0:size]
    for _ in range(int(rng.integers(3, 7))):
        cy, cx = rng.uniform(0, size, 2)
        r = rng.uniform(0.04, 0.12) * size
        dy = np.abs((yy - cy + size / 2) % size - size / 2)
        dx = np.abs((xx - cx + size / 2) % size - size / 2)
        mask = (dy**2 + dx**2 < r**2) if rng.random() < 0.5 else (np.maximum(dy, dx) < r)
        tex[mask] = rng.uniform(0.0, 1.0, 3)
    return np.clip(tex, 0.0, 1.0)


def _motion(name: str, rng: np.random.Generator, frames: int, size: int) -> Dict[str, np.ndarray]:
    """Per-frame camera offset [T, 2] (pixels), angle [T] (rad), zoom [T] and gain [T]."""
    t = np.arange(frames, dtype=np.float64)
    scale = size / 80.0
    offset = np.zeros((frames, 2))
    angle, zoom, gain = np.zeros(frames), np.ones(frames), np.ones(frames)
    if name in ("slow_drift", "fast_motion"):
        speed = rng.uniform(0.15, 0.35) if name == "slow_drift" else rng.uniform(2.5, 3.5)
        theta = rng.uniform(0, 2 * math.pi)
        offset = np.outer(t, [math.sin(theta), math.cos(theta)]) * speed * scale
    elif name in ("move_left", "move_right"):
        speed = rng.uniform(1.0, 1.5) * (1 if name == "move_left" else -1)
        theta = rng.uniform(-0.1, 0.1)
        # The camera moves right, so the scene moves left in the frame (and vice versa).
        offset = np.outer(t, [math.sin(theta), math.cos(theta)]) * speed * scale
    elif name == "flicker":
        amp, freq = rng.uniform(0.25, 0.4), rng.uniform(0.08, 0.2)
        gain = 1.0 + amp * np.sin(2 * math.pi * freq * t + rng.uniform(0, 2 * math.pi))
    elif name == "zoom":
        zoom = np.exp(rng.choice([-1, 1]) * rng.uniform(0.01, 0.02) * t)
    elif name == "rotate":
        angle = rng.choice([-1, 1]) * math.radians(rng.uniform(2.0, 4.0)) * t
    elif name != "static":
        raise ValueError(f"Unknown motion class {name!r}; expected one of {MOTION_CLASSES}.")
    return {"offset": offset, "angle": angle, "zoom": zoom, "gain": gain}


def render_clip(name: str, rng: np.random.Generator, frames: int, size: int) -> np.ndarray:
    """Render one clip of motion class `name`.

    Returns:
        uint8 RGB frames [T, size, size, 3].
    """
    canvas = 2 * size
    tex = _texture(rng, canvas)
    motion = _motion(name, rng, frames, size)
    start = rng.uniform(0, canvas, 2)
    grid = np.mgrid[0:size, 0:size].reshape(2, -1).T - (size - 1) / 2.0
    cos, sin = np.cos(motion["angle"]), np.sin(motion["angle"])
    rot = np.stack([np.stack([cos, -sin], -1), np.stack([sin, cos], -1)], -2)
    pts = np.einsum("tij,pj->tpi", rot, grid) / motion["zoom"][:, None, None]
    pts = pts + (start + motion["offset"])[:, None, :]
    flat = tex.astype(np.float32).reshape(-1, 3)
    pts = pts.astype(np.float32)
    y0, x0 = np.floor(pts[..., 0]), np.floor(pts[..., 1])
    wy, wx = (pts[..., 0] - y0)[..., None], (pts[..., 1] - x0)[..., None]
    y0, x0 = y0.astype(np.int64) % canvas, x0.astype(np.int64) % canvas
    y1, x1 = (y0 + 1) % canvas, (x0 + 1) % canvas
    top = flat[y0 * canvas + x0] * (1 - wx) + flat[y0 * canvas + x1] * wx
    bottom = flat[y1 * canvas + x0] * (1 - wx) + flat[y1 * canvas + x1] * wx
    out = top * (1 - wy) + bottom * wy
    out = out * motion["gain"][:, None, None]
    return (np.clip(out, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8).reshape(frames, size, size, 3)


def available_codec(preferred: str) -> str:
    """`preferred` when PyAV can encode with it, else mpeg4."""
    try:
        av.codec.Codec(preferred, "w")
        return preferred
    except (av.error.FFmpegError, ValueError):
        return "mpeg4"


def write_video(
    path: str,
    frames: np.ndarray,
    fps: int = 30,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    options: Optional[Dict[str, str]] = None,
    container_format: Optional[str] = None,
) -> None:
    """Encode uint8 RGB frames [T, H, W, 3] (or gray [T, H, W]) to a video file with PyAV.

    Single-threaded. libx264 does not always give the same bytes for the same frames (the
    decoded frames then differ by about one level on average), so compare content, not
    files. With `container_format="image2"`, `codec="mjpeg"`, `pix_fmt="yuvj420p"` and a
    path such as `folder/%06d.jpg` it writes one image per frame instead.
    """
    gray = frames.ndim == 3
    container = av.open(path, mode="w", format=container_format)
    try:
        stream = container.add_stream(codec, rate=Fraction(fps))
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = pix_fmt
        stream.thread_count = 1
        if options:
            stream.options = options
        for image in frames:
            frame = av.VideoFrame.from_ndarray(image, format="gray" if gray else "rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    finally:
        container.close()
