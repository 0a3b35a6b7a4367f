"""PyAV decoding: open a video, seek near the wanted frames, decode only as far as needed.

The caller says which frames it wants through a `sample_fn(num_frames, fps) -> positions`
callback (frame indices at the video's own frame rate), because the positions depend on the
video length, which is only known once the file is open. Container headers are not trusted:
the frame count and frame rate come from the time stamps of the packets the file really holds
(read without decoding), so a header that misstates the duration or the rate cannot shift or
repeat frames. Frames come out upright (display matrix applied), from the stream that is the
video rather than a cover image. Every failure raises `DecodeError` with the path, what is
wrong and what to do, so the data sets can log, count and replace bad videos.
"""

import os
import stat
from typing import Callable, Dict, List, Optional, Sequence

import av
import numpy as np
from av.sidedata.sidedata import Type

from slowfast_atfr.utils import logging

logger = logging.get_logger(__name__)

# Seek this many seconds before the first wanted frame, so that frames whose time stamps
# are a little off (B-frames, rounding) are not skipped.
_SEEK_MARGIN_S = 0.25
# Frame rate assumed when a stream declares none.
FALLBACK_FPS = 30.0
# File name endings of the images of a frame folder (DATA.USE_FRAMES).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
# PyAV and OS errors that mean "this file is bad", as opposed to a bug in our code.
AV_ERRORS = (av.error.FFmpegError, OSError, ValueError, EOFError)

# What a path is when it is not a regular file, and what to do about it.
_NOT_A_FILE = (
    (stat.S_ISDIR, "is a folder, not a video file: set DATA.USE_FRAMES True if it holds one "
                   "image per frame, else list the video file itself"),
    (stat.S_ISFIFO, "is a named pipe (FIFO), not a video file: reading it would wait for a "
                    "writer forever; list the video file itself"),
    (stat.S_ISSOCK, "is a socket, not a video file: list the video file itself"),
    (stat.S_ISCHR, "is a character device, not a video file: list the video file itself"),
    (stat.S_ISBLK, "is a block device, not a video file: list the video file itself"),
)
# Streams that hold still pictures (cover art, thumbnails) rather than the video.
_STILL = (av.stream.Disposition.attached_pic | av.stream.Disposition.still_image
          | av.stream.Disposition.timed_thumbnails)
# Relative disagreement between the frame count or rate a header declares and the packets'
# above which the header is reported as wrong.
_HEADER_TOLERANCE = 0.02
# What to do with a damaged file.
REDO_ADVICE = ("re-download it, restore it from a good copy or re-encode it, or drop it from "
               "the list")

SampleFn = Callable[[int, float], np.ndarray]


class DecodeError(RuntimeError):
    """A video could not be decoded; `path` and `reason` say which one and why."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"Cannot decode video {path!r}: {reason}")
        self.path = path
        self.reason = reason


def damaged_reason(detail: str) -> str:
    return (f"its data is damaged (bit rot, or an interrupted download or copy): {detail}; "
            f"{REDO_ADVICE}")


def check_file(path: str) -> None:
    """Refuse a path that is no regular, non-empty file before PyAV opens (and blocks on) it."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise DecodeError(path, "file does not exist: fix the path in the list file or "
                                "DATA.PATH_TO_DATA_DIR / DATA.PATH_PREFIX") from None
    except OSError as e:
        raise DecodeError(path, f"cannot read the file ({e}): check its permissions") from e
    for is_kind, reason in _NOT_A_FILE:
        if is_kind(info.st_mode):
            raise DecodeError(path, reason)
    if info.st_size == 0:
        raise DecodeError(path, f"file is empty (0 bytes), an interrupted download or copy: "
                                f"{REDO_ADVICE}")


def video_stream(path: str, container):
    """The stream that is the video: not a cover image or still, and the largest picture of the
    rest (a thumbnail track is small); the first of equals."""
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["nothing"]
        raise DecodeError(path, f"no video stream (it holds {', '.join(kinds)}): list a video "
                                "file instead")
    moving = [s for s in container.streams.video if not s.disposition & _STILL]
    if not moving:
        raise DecodeError(path, "no video stream, only a still picture (cover art or "
                                "thumbnail): list a video file instead")
    return max(moving, key=lambda s: (s.width or 0) * (s.height or 0))


def header_fps(stream) -> float:
    """Frame rate the headers declare, or 0 when they declare none."""
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    return fps if np.isfinite(fps) and fps > 0 else 0.0


def _declared_frames(container, stream, fps: float) -> int:
    """Frame count the headers declare, or 0 when they do not say."""
    if stream.frames and stream.frames > 0:
        return int(stream.frames)
    if stream.duration and stream.time_base:
        return int(round(float(stream.duration * stream.time_base) * fps))
    if container.duration and container.duration > 0:
        return int(round(container.duration / av.time_base * fps))
    return 0


def packet_times(container, stream) -> Optional[np.ndarray]:
    """Sorted distinct time stamps [F] (stream time base) of the frames the file holds, read from
    its packets without decoding; None when a packet has no time stamp."""
    times = []
    for packet in container.demux(stream):
        if packet.size == 0 or packet.is_discard:  # end-of-stream marker; cut by an edit list
            continue
        if packet.pts is None:
            return None
        times.append(packet.pts)
    return np.unique(np.asarray(times, dtype=np.int64))


def _fps_from_times(times: Sequence[int], time_base, default: float) -> float:
    """Mean frame rate of time stamps [F]; `default` when they span no time."""
    span = (int(times[-1]) - int(times[0])) * time_base if len(times) > 1 else 0
    return float((len(times) - 1) / span) if span > 0 else default


def frame_rate(path: str, container, stream, times: np.ndarray) -> float:
    """Mean frame rate of the packets' time stamps [F], or the declared rate where it agrees
    (exact where time stamps are rounded, as to ms in Matroska).

    A header whose rate or frame count disagrees with the packets is logged, and not used.
    """
    declared_fps = header_fps(stream)
    measured = _fps_from_times(times, stream.time_base, declared_fps or FALLBACK_FPS)
    rate_agrees = abs(declared_fps - measured) <= _HEADER_TOLERANCE * measured
    fps = declared_fps if rate_agrees else measured
    declared, num_frames = _declared_frames(container, stream, fps), len(times)
    if (declared > 0 and abs(declared - num_frames) > max(1, _HEADER_TOLERANCE * num_frames)
            or declared_fps > 0 and not rate_agrees):
        logger.warning(
            "Video %s: its header declares %d frames at %.4g fps (0 = not declared) but its "
            "packets hold %d frames at %.4g fps; sampling those (a wrong header, or a truncated "
            "or damaged file: %s).", path, declared, declared_fps, num_frames, fps, REDO_ADVICE)
    return fps


def _decode_window(
    container, stream, wanted: np.ndarray, start: int
) -> Optional[Dict[int, "av.VideoFrame"]]:
    """Seek before `wanted[0]` (not before `start`, the first time stamp) and decode up to
    `wanted[-1]`, keeping the frames whose time stamps are in `wanted` (sorted, stream time
    base), by time stamp.

    Returns None when one of them does not come out (a refused seek or one past it, packets
    that are not frames, frames without time stamps) or when a decoded frame is flagged
    corrupt, which a seek into an open GOP can cause as well as damaged data.
    """
    margin = int(_SEEK_MARGIN_S / stream.time_base)
    try:
        container.seek(max(int(wanted[0]) - margin, start), stream=stream, backward=True)
    except av.error.FFmpegError:
        return None
    keep, last = set(wanted.tolist()), int(wanted[-1])
    chosen: Dict[int, "av.VideoFrame"] = {}
    for frame in container.decode(stream):
        if frame.is_corrupt:
            return None
        if frame.pts in keep:
            chosen[frame.pts] = frame
        if frame.pts is None or frame.pts >= last:
            break
    return chosen if len(chosen) == len(keep) else None


def upright(path: str, frame: "av.VideoFrame", image: np.ndarray) -> np.ndarray:
    """`image` [H, W, 3] of `frame` turned and mirrored as its display matrix says, as players
    show it (a phone video filmed upright comes out upright).

    The matrix maps a pixel (x, y) to (a x + c y, b x + d y); only right angles are handled.
    """
    matrix = frame.side_data.get(Type.DISPLAYMATRIX)
    if matrix is None:
        return image
    m = np.frombuffer(matrix, dtype=np.int32)[[0, 1, 3, 4]] / 65536.0
    a, b, c, d = (int(np.sign(v)) if abs(v) > 0.01 else 0 for v in m)
    if a and d and not (b or c):
        return image[::d, ::a]
    if b and c and not (a or d):
        return image.transpose(1, 0, 2)[::b, ::c]
    degrees = -np.degrees(np.arctan2(m[1], m[0]))
    raise DecodeError(path, f"its display matrix turns the picture by {degrees:.0f} degrees, "
                            "not a multiple of 90: re-encode it upright")


def _rgb(frame: "av.VideoFrame") -> np.ndarray:
    """uint8 [H, W, 3] of `frame`, converted on one thread: PyAV's default gives each frame a
    scaler with its own thread pool, slower for small frames, and a loader worker forked while
    such a frame awaits garbage collection deadlocks when it frees the pool."""
    return frame.to_ndarray(format="rgb24", threads=1)


def _to_arrays(path: str, chosen: Dict[int, "av.VideoFrame"], keys: List[int]) -> np.ndarray:
    """uint8 [T, H, W, 3] of the frames `chosen[k]` for k in `keys`, converting each frame once."""
    arrays: Dict[int, np.ndarray] = {}
    for k in set(keys):
        frame = chosen[k]
        arrays[k] = upright(path, frame, _rgb(frame))
    return np.stack([arrays[k] for k in keys])


def _sample(sample_fn: SampleFn, num_frames: int, fps: float) -> np.ndarray:
    positions = np.asarray(sample_fn(num_frames, fps), dtype=np.int64)
    return np.clip(positions, 0, max(num_frames - 1, 0))


def set_threads(stream, threads: int) -> None:
    if threads != 1:
        stream.thread_type = "AUTO"
        stream.thread_count = max(threads, 0)


def _decode_container(path: str, container, sample_fn: SampleFn, threads: int) -> np.ndarray:
    stream = video_stream(path, container)
    set_threads(stream, threads)
    times = packet_times(container, stream)
    if times is not None and len(times) == 0:
        raise DecodeError(path, f"no decodable frame (the video stream is empty): {REDO_ADVICE}")
    if times is not None:
        fps = frame_rate(path, container, stream, times)
        positions = _sample(sample_fn, len(times), fps)
        chosen = _decode_window(container, stream, np.unique(times[positions]), int(times[0]))
        if chosen is not None:
            return _to_arrays(path, chosen, times[positions].tolist())
    return _decode_in_order(path, stream.index, sample_fn, threads)


def _decode_in_order(path: str, index: int, sample_fn: SampleFn, threads: int) -> np.ndarray:
    """Count the frames by decoding them all, then decode again from the start up to the last
    sampled one and keep frames by rank (packets without time stamps, a failed seek, packets
    that are not frames, corrupt frames after a seek). The rate comes from the decoded time
    stamps when they all have one. A frame flagged corrupt here is damaged data."""
    with av.open(path) as container:
        stream = container.streams[index]
        set_threads(stream, threads)
        times = [frame.pts for frame in container.decode(stream)]
        fallback, time_base = header_fps(stream) or FALLBACK_FPS, stream.time_base
    if not times:
        raise DecodeError(path, f"no decodable frame: {REDO_ADVICE}")
    fps = fallback if None in times else _fps_from_times(sorted(times), time_base, fallback)
    positions = _sample(sample_fn, len(times), fps).tolist()
    keep, last = set(positions), max(positions)
    with av.open(path) as container:
        stream = container.streams[index]
        set_threads(stream, threads)
        chosen = {}
        for rank, frame in enumerate(container.decode(stream)):
            if frame.is_corrupt:
                raise DecodeError(path, damaged_reason(f"frame {rank} does not decode cleanly"))
            if rank in keep:
                chosen[rank] = frame
            if rank >= last:
                break
        return _to_arrays(path, chosen, positions)


def decode_video(path: str, sample_fn: SampleFn, threads: int = 1) -> np.ndarray:
    """Decode the frames that `sample_fn` asks for from a video file.

    Args:
        path: video file.
        sample_fn: `(num_frames, fps) -> int positions [T]` at the video's frame rate, from the
            frames the file holds (not its header); positions are clamped to them (short videos
            repeat frames).
        threads: decoder threads (DATA.DECODER_THREADS; 0 = PyAV's choice).

    Returns:
        uint8 frames [T, H, W, 3], upright (RGB; grayscale videos are expanded to RGB).
    """
    check_file(path)
    try:
        container = av.open(path)
    except AV_ERRORS as e:
        raise DecodeError(path, f"cannot open the container ({e}): not a video file FFmpeg "
                                f"reads, or a damaged or truncated one: {REDO_ADVICE}") from e
    try:
        return _decode_container(path, container, sample_fn, threads)
    except av.error.InvalidDataError as e:
        raise DecodeError(path, damaged_reason(f"FFmpeg says {e}")) from e
    except AV_ERRORS as e:
        raise DecodeError(path, f"decoding failed ({type(e).__name__}: {e}): {REDO_ADVICE}") from e
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
    check_file(path)
    try:
        with av.open(path) as container:
            for frame in container.decode(video=0):
                return _rgb(frame)
    except AV_ERRORS as e:
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
