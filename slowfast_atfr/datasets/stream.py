"""Streaming decode and encode: videos of any length in bounded memory (the demo's input).

`FrameStream` decodes a video once, in display order, resampled to a target frame rate, and
hands out one frame at a time: the same frames, in the same order, as `decoder.decode_video`
with a sampling function that asks for every frame at that rate, without holding them.
`sliding_windows` forms fixed-length windows from such a stream with a buffer that holds
only the frames the open windows still need, converting only those. `VideoWriter` encodes
frames one at a time.

Like the decoder, the stream trusts the packets, not the header: the frame count and rate
come from the packets' time stamps (read without decoding), and every failure raises
`DecodeError` with the path and what to do.
"""

import dataclasses
from fractions import Fraction
from typing import Callable, Dict, Generic, Iterable, Iterator, List, Optional, Tuple, TypeVar

import av
import numpy as np

from slowfast_atfr.datasets.decoder import (
    AV_ERRORS,
    FALLBACK_FPS,
    REDO_ADVICE,
    DecodeError,
    check_file,
    damaged_reason,
    frame_rate,
    header_fps,
    packet_times,
    set_threads,
    upright,
    video_stream,
)
from slowfast_atfr.utils import logging

logger = logging.get_logger(__name__)

Frame = TypeVar("Frame")
Item = TypeVar("Item")


class FrameStream:
    """The frames of one video at `target_fps`, decoded in order, one at a time.

    Target frame j is source frame `int(j * fps / target_fps)` (fps = the video's rate from
    its packets), so a faster video skips frames and a slower one repeats them: the frames
    `decoder.decode_video` gives for positions `arange(0, F, fps / target_fps)`, bit for bit
    (tests/engine/test_demo_stream.py). Iterating opens the file again, so a
    stream can be read more than once (the annotated video reads it a second time).

    Args:
        path: video file.
        target_fps: frame rate of the stream (DATA.TARGET_FPS).
        threads: decoder threads (DATA.DECODER_THREADS; 0 = PyAV's choice).
    """

    def __init__(self, path: str, target_fps: float, threads: int = 1) -> None:
        if not target_fps > 0:
            raise ValueError(f"target_fps={target_fps} must be > 0 (DATA.TARGET_FPS).")
        check_file(path)
        self.path, self.target_fps, self.threads = path, float(target_fps), threads
        with self._open() as container:
            stream = video_stream(path, container)
            self.stream_index = stream.index
            try:
                times = packet_times(container, stream)
            except AV_ERRORS as e:
                raise DecodeError(path, damaged_reason(f"reading its packets failed ({e})")) from e
            if times is not None and len(times) == 0:
                raise DecodeError(path, "no decodable frame (the video stream is empty): "
                                        f"{REDO_ADVICE}")
            if times is None:
                # No time stamps: frames are ranked by decode order, at the declared rate.
                self.fps = header_fps(stream) or FALLBACK_FPS
                logger.warning("Video %s: packets without time stamps; sampling frames in "
                               "decode order at %.4g fps.", path, self.fps)
            else:
                self.fps = frame_rate(path, container, stream, times)
        # Sorted distinct time stamps [F] of the source frames; None = rank by decode order.
        self.times: Optional[np.ndarray] = times
        step = self.fps / self.target_fps
        # Source frame of each target frame [J] (None = unknown count: until frames run out).
        self.positions: Optional[np.ndarray] = None if times is None else np.clip(
            np.arange(0, len(times), step).astype(np.int64), 0, len(times) - 1)
        self._step = step

    @property
    def num_frames(self) -> Optional[int]:
        """Number of frames at the target rate; None when the packets have no time stamps
        (the frames are then counted only by decoding them)."""
        return None if self.positions is None else len(self.positions)

    def _open(self):
        try:
            return av.open(self.path)
        except AV_ERRORS as e:
            raise DecodeError(self.path, f"cannot open the container ({e}): not a video file "
                                         f"FFmpeg reads, or a damaged or truncated one: "
                                         f"{REDO_ADVICE}") from e

    def _rank(self, frame: "av.VideoFrame", previous: int) -> int:
        """Source rank of a decoded frame: its time stamp's place among the packets', else
        the one after `previous`."""
        if self.times is not None and frame.pts is not None:
            rank = int(np.searchsorted(self.times, frame.pts))
            if rank < len(self.times) and self.times[rank] == frame.pts:
                return rank
        return previous + 1

    def _position(self, j: int) -> Optional[int]:
        if self.positions is None:
            return int(j * self._step)
        return int(self.positions[j]) if j < len(self.positions) else None

    def __iter__(self) -> Iterator[Tuple[int, "av.VideoFrame"]]:
        """(target index j, source frame) in order; a frame repeats for consecutive j when the
        target rate is above the source's. Frames flagged corrupt are kept, and counted."""
        j, rank, corrupt = 0, -1, 0
        with self._open() as container:
            stream = container.streams[self.stream_index]
            set_threads(stream, self.threads)
            try:
                for frame in container.decode(stream):
                    rank = max(self._rank(frame, rank), rank)
                    if frame.is_corrupt:
                        corrupt += 1
                        logger.warning("Video %s: frame %d does not decode cleanly (%d so far); "
                                       "using it.", self.path, rank, corrupt)
                    position = self._position(j)
                    while position is not None and position <= rank:
                        yield j, frame
                        j += 1
                        position = self._position(j)
                    if position is None:
                        break
            except av.error.InvalidDataError as e:
                reason = damaged_reason(f"FFmpeg says {e} after {j} frames")
                raise DecodeError(self.path, reason) from e
            except AV_ERRORS as e:
                raise DecodeError(self.path, f"decoding failed after {j} frames "
                                             f"({type(e).__name__}: {e}): {REDO_ADVICE}") from e
        if self.positions is not None and j < len(self.positions):
            logger.warning("Video %s: %d of %d frames at %.4g fps did not decode (the last "
                           "source frame that did is %d).", self.path, len(self.positions) - j,
                           len(self.positions), self.target_fps, rank)


def frame_to_rgb(path: str, frame: "av.VideoFrame", short_side: Optional[int] = None
                 ) -> np.ndarray:
    """uint8 [H, W, 3] of `frame`, upright (see `decoder`), converted on one thread.

    Args:
        path: the video, named in errors.
        frame: a decoded frame.
        short_side: scale so that the shorter side is at most this many pixels (both sides
            even, as H.264 needs); None = the frame's own size.
    """
    width, height = frame.width, frame.height
    if short_side is not None and min(width, height) > short_side:
        scale = short_side / min(width, height)
        width, height = (max(2, int(round(v * scale / 2)) * 2) for v in (width, height))
    image = frame.to_ndarray(format="rgb24", width=width, height=height, threads=1)
    return upright(path, frame, image)


def wanted(index: int, *, num_frames: int, sampling_rate: int, stride: int) -> bool:
    """Whether frame `index` is one of the `num_frames` frames, `sampling_rate` apart, of a
    window starting at a multiple of `stride`."""
    span = num_frames * sampling_rate
    first = max(0, -(-(index - span + 1) // stride))
    return any((index - m * stride) % sampling_rate == 0
               for m in range(first, index // stride + 1))


@dataclasses.dataclass
class Window(Generic[Item]):
    """One sliding window: frames [start, end) of the stream and its sampled items [T]."""

    start: int
    end: int
    items: List[Item]


def sliding_windows(
    frames: Iterable[Tuple[int, Frame]],
    convert: Callable[[Frame], Item],
    *,
    num_frames: int,
    sampling_rate: int,
    stride: int,
) -> Iterator[Window[Item]]:
    """Windows of `num_frames` frames `sampling_rate` apart, one every `stride` frames.

    A window starting at s (s = 0, stride, 2 stride, ...) spans [s, s + span), span =
    num_frames * sampling_rate, and takes frames s + k * sampling_rate; it comes out as soon
    as its last frame has arrived, so only windows that fit in the video come out. A video
    shorter than one window gives one window whose frames past the end repeat the last one.
    Only the frames some window takes are converted, and a buffer keeps them only until the
    last window taking them is out: at most span / sampling_rate * ceil(span / stride) items,
    whatever the length of the video.

    Args:
        frames: (index, frame) with indices 0, 1, 2, ... (a `FrameStream`).
        convert: frame -> item (e.g. a cropped tensor), called once per taken frame.
        num_frames: frames per window (DATA.NUM_FRAMES).
        sampling_rate: frames between two taken frames (DATA.SAMPLING_RATE).
        stride: frames between two window starts (DEMO.WINDOW_STRIDE).
    """
    for name, value in (("num_frames", num_frames), ("sampling_rate", sampling_rate),
                        ("stride", stride)):
        if value < 1:
            raise ValueError(f"{name}={value} must be >= 1.")
    span = num_frames * sampling_rate
    buffer: Dict[int, Item] = {}
    start, count, last = 0, 0, None
    for index, frame in frames:
        assert index == count, f"frame index {index} arrived after {count - 1}"
        count, last = index + 1, frame
        if wanted(index, num_frames=num_frames, sampling_rate=sampling_rate, stride=stride):
            buffer[index] = convert(frame)
        if index == start + span - 1:
            yield Window(start, start + span,
                         [buffer[start + k * sampling_rate] for k in range(num_frames)])
            start += stride
            for k in [k for k in buffer if k < start]:
                del buffer[k]
    if start == 0 and count > 0:  # shorter than one window: clamp to the last frame
        if count - 1 not in buffer:
            buffer[count - 1] = convert(last)
        taken = np.minimum(np.arange(num_frames) * sampling_rate, count - 1)
        yield Window(0, count, [buffer[int(k)] for k in taken])


def num_windows(num_frames: int, span: int, stride: int) -> int:
    """How many windows `sliding_windows` gives for a stream of `num_frames` frames."""
    return len(range(0, max(num_frames - span, 0) + 1, stride)) if num_frames > 0 else 0


class VideoWriter:
    """Encode uint8 RGB frames [H, W, 3] one at a time (H.264 where PyAV has libx264, else
    MPEG-4 Part 2), e.g. `with VideoWriter(path, 30) as w: w.write(image)`. The first frame
    sets the size; both sides must be even."""

    def __init__(self, path: str, fps: float) -> None:
        self.path = path
        self.rate = Fraction(fps).limit_denominator(1001)
        self.codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        self.container = av.open(path, mode="w")
        self.stream = None

    def write(self, image: np.ndarray) -> None:
        height, width = image.shape[:2]
        if self.stream is None:
            if height % 2 or width % 2:
                raise ValueError(f"{self.path}: frames of {width}x{height} px; yuv420p needs "
                                 "even sides.")
            self.stream = self.container.add_stream(self.codec, rate=self.rate)
            self.stream.width, self.stream.height = width, height
            self.stream.pix_fmt = "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        if self.stream is not None:
            for packet in self.stream.encode():
                self.container.mux(packet)
        self.container.close()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
