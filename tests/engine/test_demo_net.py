"""Demo: sliding windows over a real video, top-k names and B' per window as JSON lines."""

import json

import numpy as np
import pytest
from engine_tiny import tiny_cfg

from slowfast_atfr.datasets.motion_clips import render_clip, write_video
from slowfast_atfr.engine.demo import decode_at_target_fps, run_demo, windows


def test_windows_cover_the_video_with_the_stride():
    assert list(windows(48, 32, 8)) == [(0, 32), (8, 40), (16, 48)]
    assert list(windows(20, 32, 8)) == [(0, 32)]  # shorter than a window: one window
    with pytest.raises(ValueError, match="DEMO.WINDOW_STRIDE=0"):
        list(windows(48, 32, 0))


@pytest.fixture
def video(tmp_path):
    frames = render_clip("move_left", np.random.default_rng(0), 40, 32)
    path = str(tmp_path / "clip.mp4")
    write_video(path, frames, fps=15, codec="mpeg4")
    return path


def test_decode_resamples_to_the_target_fps(video):
    frames = decode_at_target_fps(video, target_fps=30)
    assert frames.shape[1:] == (32, 32, 3) and frames.dtype == np.uint8
    assert abs(len(frames) - 80) <= 2  # 40 frames at 15 fps = 80 frames at 30 fps


@pytest.mark.parametrize("atfr", [True, False])
def test_run_demo_writes_topk_and_bprime_per_window(tmp_path, video, atfr):
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps({"zero": 0, "one": 1, "two": 2, "three": 3}))
    out = tmp_path / "windows.jsonl"
    cfg = tiny_cfg(tmp_path / "run", **{
        "ATFR.ENABLED": atfr, "ATFR.PATHWAYS": [True], "DEMO.INPUT_VIDEO": video,
        "DEMO.LABEL_FILE_PATH": str(labels), "DEMO.TOP_K": 3, "DEMO.WINDOW_STRIDE": 16,
        "DEMO.OUTPUT_FILE": str(out), "DATA.NUM_FRAMES": 4, "DATA.SAMPLING_RATE": 8})
    results = run_demo(cfg)
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == json.loads(json.dumps(results))
    # 80 frames at 30 fps, windows of 4 x 8 = 32 frames every 16: starts 0, 16, 32, 48.
    assert [r["start_frame"] for r in lines] == [0, 16, 32, 48]
    for r in lines:
        scores = [t["score"] for t in r["top_k"]]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True) and sum(scores) <= 1
        assert {t["name"] for t in r["top_k"]} <= {"zero", "one", "two", "three"}
        if atfr:
            assert len(r["bprime"]) == 1 and 1 <= r["bprime"][0] <= 4
        else:
            assert r["bprime"] is None


def test_run_demo_names_a_missing_video(tmp_path):
    cfg = tiny_cfg(tmp_path, **{"DEMO.INPUT_VIDEO": str(tmp_path / "nope.mp4")})
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        run_demo(cfg)
