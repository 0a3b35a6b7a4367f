"""The demo's streaming decode (datasets/stream.py): the same frames as the full decode, windows
from a bounded buffer, and a peak memory that does not grow with the length of the video."""

import json
import os
import subprocess
import sys
import textwrap
from fractions import Fraction

import av
import numpy as np
import pytest

from slowfast_atfr.datasets import decoder
from slowfast_atfr.datasets.motion_clips import render_clip, write_video
from slowfast_atfr.datasets.stream import (
    FrameStream,
    VideoWriter,
    frame_to_rgb,
    num_windows,
    sliding_windows,
    wanted,
)

ENGINE_TESTS = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(ENGINE_TESTS))


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    frames = render_clip("move_left", np.random.default_rng(0), 40, 32)
    path = str(tmp_path_factory.mktemp("stream") / "clip.mp4")
    write_video(path, frames, fps=15, codec="mpeg4")
    return path


@pytest.mark.parametrize("target_fps", [30, 15, 10, 7.5])
def test_stream_gives_the_frames_of_the_full_decode(video, target_fps):
    expected = decoder.decode_video(
        video, lambda n, fps: np.arange(0, n, fps / target_fps).astype(np.int64))
    stream = FrameStream(video, target_fps)
    frames = [(j, frame_to_rgb(video, frame)) for j, frame in stream]
    assert [j for j, _ in frames] == list(range(len(expected))) and stream.num_frames == len(
        expected)
    np.testing.assert_array_equal(np.stack([f for _, f in frames]), expected)
    # A stream can be read again (the annotated video does).
    assert sum(1 for _ in stream) == len(expected)


def test_stream_refuses_a_bad_file(tmp_path):
    bad = tmp_path / "noise.mp4"
    bad.write_bytes(os.urandom(4096))
    with pytest.raises(decoder.DecodeError, match="noise.mp4"):
        FrameStream(str(bad), 30)
    with pytest.raises(ValueError, match="target_fps=0"):
        FrameStream(str(bad), 0)


def reference_windows(count, num_frames, rate, stride):
    """The demo's windows as defined on a fully decoded video of `count` frames."""
    span = num_frames * rate
    return [(start, min(start + span, count),
             np.clip(start + np.arange(num_frames) * rate, 0, count - 1).tolist())
            for start in range(0, max(count - span, 0) + 1, stride)]


@pytest.mark.parametrize("count, num_frames, rate, stride", [
    (48, 4, 8, 8), (48, 4, 8, 16), (100, 4, 8, 48), (20, 4, 8, 8), (1, 8, 2, 4),
    (64, 8, 1, 3), (90, 3, 5, 7), (32, 4, 8, 32),
])
def test_sliding_windows_match_the_definition_and_convert_only_taken_frames(
        count, num_frames, rate, stride):
    converted = []

    def convert(frame):
        converted.append(frame)
        return frame

    got = [(w.start, w.end, w.items) for w in sliding_windows(
        ((i, i) for i in range(count)), convert, num_frames=num_frames, sampling_rate=rate,
        stride=stride)]
    expected = reference_windows(count, num_frames, rate, stride)
    assert got == expected
    assert num_windows(count, num_frames * rate, stride) == len(expected)
    taken = {i for _, _, items in expected for i in items}
    assert taken <= set(converted) and len(converted) == len(set(converted))  # once each
    assert all(wanted(i, num_frames=num_frames, sampling_rate=rate, stride=stride)
               for i in converted if i != count - 1)  # (+ the last frame of a short video)


def test_sliding_windows_keep_a_bounded_buffer():
    """Items alive at any time stay below the bound whatever the stream's length."""
    alive = set()

    class Item:
        def __init__(self, i):
            self.i = i
            alive.add(i)

        def __del__(self):
            alive.discard(self.i)

    peak = 0
    for window in sliding_windows(((i, i) for i in range(5000)), Item, num_frames=4,
                                  sampling_rate=8, stride=8):
        peak = max(peak, len(alive))
        del window
    assert peak <= 4 * 4  # num_frames * ceil(span / stride)


def test_sliding_windows_refuse_a_zero_stride():
    with pytest.raises(ValueError, match="stride=0"):
        list(sliding_windows([(0, 0)], lambda f: f, num_frames=4, sampling_rate=8, stride=0))


def test_video_writer_round_trip(tmp_path):
    path = str(tmp_path / "out.mp4")
    images = render_clip("move_left", np.random.default_rng(1), 12, 32)
    with VideoWriter(path, 12) as writer:
        for image in images:
            writer.write(image)
    with av.open(path) as container:
        assert sum(1 for _ in container.decode(video=0)) == 12
    with pytest.raises(ValueError, match="even"):
        with VideoWriter(str(tmp_path / "odd.mp4"), 12) as writer:
            writer.write(images[0][:31])


def write_long_video(path, num_frames, width=160, height=120, fps=30):
    """A long low-resolution video, quickly: 16 pictures of a sliding square, encoded in turn
    (MPEG-4 Part 2, about 20 000 frames/s here)."""
    pictures = []
    for k in range(16):
        image = np.full((height, width, 3), 60, np.uint8)
        x = k * (width - 16) // 16
        image[height // 2 - 8:height // 2 + 8, x:x + 16] = 255
        pictures.append(av.VideoFrame.from_ndarray(image, format="rgb24").reformat(
            format="yuv420p"))
    with av.open(path, "w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.thread_count, stream.options = 1, {"g": "250"}
        for i in range(num_frames):
            frame = pictures[i % len(pictures)]
            frame.pts, frame.time_base = i, Fraction(1, fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


# Runs the demo on the short then the long video in one fresh process and prints its peak
# resident memory (KiB, Linux) after each.
_CHILD = textwrap.dedent("""
    import json, resource, sys
    sys.path.insert(0, sys.argv[1])
    from engine_tiny import tiny_cfg
    from slowfast_atfr.engine.demo import run_demo

    peaks = {}
    for name, video in (("short", sys.argv[2]), ("long", sys.argv[3])):
        run_demo(tiny_cfg(sys.argv[4] + "/" + name, **{
            "ATFR.ENABLED": True, "ATFR.PATHWAYS": [True], "DEMO.INPUT_VIDEO": video,
            "DATA.NUM_FRAMES": 4, "DATA.SAMPLING_RATE": 8, "DEMO.WINDOW_STRIDE": 32}))
        peaks[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(peaks))
""")
# Two minutes at 30 fps of 160 x 120: 207 MB as RGB frames; decoding them all into memory
# (the demo before streaming) raised the peak by about 980 MB.
LONG_FRAMES = 2 * 60 * 30
# What the peak may grow by from the short video to the long one.
MEMORY_BOUND_MB = 64


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB: Linux")
def test_peak_memory_does_not_grow_with_the_video(tmp_path):
    short, long = str(tmp_path / "short.mp4"), str(tmp_path / "long.mp4")
    write_long_video(short, 60)
    write_long_video(long, LONG_FRAMES)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=REPO + os.pathsep + os.environ.get(
        "PYTHONPATH", ""))
    run = subprocess.run([sys.executable, "-c", _CHILD, ENGINE_TESTS, short, long,
                          str(tmp_path / "out")], capture_output=True, text=True, env=env,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    peaks = json.loads(run.stdout.strip().splitlines()[-1])
    growth_mb = (peaks["long"] - peaks["short"]) / 1024
    assert growth_mb < MEMORY_BOUND_MB, (
        f"peak RSS grew by {growth_mb:.0f} MB from a 2 s to a 2 min video ({peaks} KiB)")
    lines = (tmp_path / "out" / "long" / "demo.json").read_text().splitlines()
    assert len(lines) == num_windows(LONG_FRAMES, 32, 32)
