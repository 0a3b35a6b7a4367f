"""PyAV decoding: open a video, seek near the wanted frames, decode only as far as needed.

The caller says which frames it wants through a `sample_fn(num_frames, fps) -> positions`
callback (frame indices at the video's own frame rate), because the positions depend on the
video length, which is only known once the file is open. Every failure raises `DecodeError`
with the path and the reason, so the data sets can log, count and replace bad videos.
"""

import os
from typing import Callable, Dict, List, Optional

import av
import numpy as np

# Seek this many seconds before the first wanted frame, so that frames whose time stamps
# are a little off (B-frames, rounding) are not skipped.
_SEEK_MARGIN_S = 0.25
# Frame rate assumed when a stream declares none.
_FALLBACK_FPS = 30.0
# File name endings of the images of a frame folder (DATA.USE_FRAMES).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
# PyAV and OS errors that mean "this file is bad", as opposed to a bug in our code.
_AV_ERRORS = (av.error.FFmpegError, OSError, ValueError, EOFError)

SampleFn = Callable[[int, float], np.ndarray]


class DecodeError(RuntimeError):
    """A video could not be decoded; `path` and `reason` say which one and why."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"Cannot decode video {path!r}: {reason}")
        self.path = path
        self.reason = reason


def _check_file(path: str) -> None:
    if not os.path.exists(path):
        raise DecodeError(path, "file does not exist")
    if os.path.isdir(path):
        raise DecodeError(path, "is a folder, not a video file (set DATA.USE_FRAMES for frames)")
    if os.path.getsize(path) == 0:
        raise DecodeError(path, "file is empty (0 bytes)")


def _stream_fps(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    return fps if np.isfinite(fps) and fps > 0 else _FALLBACK_FPS


def _estimate_num_frames(container, stream, fps: float) -> int:
    """Frame count from the headers, or 0 when they do not say."""
    if stream.frames and stream.frames > 0:
        return int(stream.frames)
    if stream.duration and stream.time_base:
        return int(round(float(stream.duration * stream.time_base) * fps))
    if container.duration and container.duration > 0:
        return int(round(container.duration / av.time_base * fps))
    return 0


def _frame_index(frame, start_pts: int, time_base, fps: float) -> int:
    return int(round(float((frame.pts - start_pts) * time_base) * fps))


def _decode_window(
    container, stream, targets: List[int], fps: float
) -> Optional[Dict[int, "av.VideoFrame"]]:
    """Seek near `targets[0]` and decode up to `targets[-1]`, keeping only the frames needed.

    Each target gets the last frame at or before it (the frame on screen at that time).
    Returns None when no decoded frame reaches `targets[0]` (headers overstating the
    length, a failed seek). Raises `LookupError` for frames without a time stamp.
    """
    start_pts = stream.start_time or 0
    time_base = stream.time_base
    if targets[0] > 0:
        seek_s = max(targets[0] / fps - _SEEK_MARGIN_S, 0.0)
        container.seek(start_pts + int(seek_s / time_base), stream=stream, backward=True)
    chosen: Dict[int, "av.VideoFrame"] = {}
    k, prev, prev_idx = 0, None, -1
    for frame in container.decode(stream):
        if frame.pts is None:
            raise LookupError("frame without a time stamp")
        idx = _frame_index(frame, start_pts, time_base, fps)
        while k < len(targets) and targets[k] < idx:
            chosen[targets[k]] = prev if prev is not None else frame
            k += 1
        prev, prev_idx = frame, idx
        if idx >= targets[-1]:
            break
    if prev is None or prev_idx < targets[0]:
        return None
    for target in targets[k:]:
        chosen[target] = prev
    return chosen


def _to_arrays(chosen: Dict[int, "av.VideoFrame"], positions: np.ndarray) -> np.ndarray:
    """uint8 [T, H, W, 3] of the frames chosen for `positions`, converting each frame once."""
    arrays: Dict[int, np.ndarray] = {}
    out = []
    for p in positions.tolist():
        frame = chosen[p]
        if id(frame) not in arrays:
            arrays[id(frame)] = frame.to_ndarray(format="rgb24")
        out.append(arrays[id(frame)])
    return np.stack(out)


def _sample(sample_fn: SampleFn, num_frames: int, fps: float) -> np.ndarray:
    positions = np.asarray(sample_fn(num_frames, fps), dtype=np.int64)
    return np.clip(positions, 0, max(num_frames - 1, 0))


def _set_threads(stream, threads: int) -> None:
    if threads != 1:
        stream.thread_type = "AUTO"
        stream.thread_count = max(threads, 0)


def _decode_container(path: str, container, sample_fn: SampleFn, threads: int) -> np.ndarray:
    stream = container.streams.video[0]
    _set_threads(stream, threads)
    fps = _stream_fps(stream)
    num_frames = _estimate_num_frames(container, stream, fps)
    if num_frames > 0:
        positions = _sample(sample_fn, num_frames, fps)
        try:
            chosen = _decode_window(container, stream, sorted(set(positions.tolist())), fps)
        except LookupError:
            chosen = None
        if chosen is not None:
            return _to_arrays(chosen, positions)
    return _decode_from_start(path, sample_fn, fps, threads)


def _decode_from_start(path: str, sample_fn: SampleFn, fps: float, threads: int) -> np.ndarray:
    """Decode the whole video, counting frames (unknown length, failed seek, no time stamps)."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        _set_threads(stream, threads)
        frames = list(container.decode(stream))
    if not frames:
        raise DecodeError(path, "no decodable frame")
    positions = _sample(sample_fn, len(frames), fps)
    return _to_arrays({p: frames[p] for p in set(positions.tolist())}, positions)


def decode_video(path: str, sample_fn: SampleFn, threads: int = 1) -> np.ndarray:
    """Decode the frames that `sample_fn` asks for from a video file.

    Args:
        path: video file.
        sample_fn: `(num_frames, fps) -> int positions [T]` at the video's frame rate; they
            are clamped to the frames the video really has (short videos repeat frames).
        threads: decoder threads (DATA.DECODER_THREADS; 0 = PyAV's choice).

    Returns:
        uint8 frames [T, H, W, 3] (RGB; grayscale videos are expanded to RGB).
    """
    _check_file(path)
    try:
        container = av.open(path)
    except _AV_ERRORS as e:
        raise DecodeError(path, f"cannot open the container ({e})") from e
    try:
        if not container.streams.video:
            raise DecodeError(path, "no video stream")
        return _decode_container(path, container, sample_fn, threads)
    except _AV_ERRORS as e:
        raise DecodeError(path, f"decoding failed ({type(e).__name__}: {e})") from e
    finally:
        container.close()


def list_image_folder(folder: str) -> List[str]:
    """Sorted image files of a frame folder; raises `DecodeError` when there are none."""
    if not os.path.isdir(folder):
        raise DecodeError(folder, "frame folder does not exist")
    names = sorted(n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
    if not names:
        raise DecodeError(folder, f"frame folder holds no {'/'.join(IMAGE_EXTENSIONS)} image")
    return [os.path.join(folder, n) for n in names]


def _decode_image(path: str) -> np.ndarray:
    _check_file(path)
    try:
        with av.open(path) as container:
            for frame in container.decode(video=0):
                return frame.to_ndarray(format="rgb24")
    except _AV_ERRORS as e:
        raise DecodeError(path, f"cannot decode the image ({type(e).__name__}: {e})") from e
    raise DecodeError(path, "image holds no decodable frame")


def decode_image_folder(folder: str, sample_fn: SampleFn, fps: float) -> np.ndarray:
    """Decode the frames that `sample_fn` asks for from a folder of images (one per frame).

    Args:
        folder: folder of images, in name order.
        sample_fn: as for `decode_video`.
        fps: frame rate the images were extracted at.

    Returns:
        uint8 frames [T, H, W, 3].
    """
    images = list_image_folder(folder)
    positions = _sample(sample_fn, len(images), fps)
    arrays = {p: _decode_image(images[p]) for p in sorted(set(positions.tolist()))}
    try:
        return np.stack([arrays[p] for p in positions.tolist()])
    except ValueError as e:
        raise DecodeError(folder, f"images differ in size ({e})") from e
