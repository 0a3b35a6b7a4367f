"""Demo data set: determinism, formats, and that the classes differ only by motion."""

import json
import os
import subprocess
import sys

import av
import numpy as np
import pytest

from slowfast_atfr.datasets.demo import make_demo_dataset, make_demo_ssv2_dataset
from slowfast_atfr.datasets.motion_clips import MOTION_CLASSES, render_clip

_SMALL = dict(num_classes=8, videos_per_class=1, val_videos_per_class=1,
              test_videos_per_class=1, frames=10, size=32)


def _decoded(path):
    with av.open(path) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_same_seed_gives_identical_lists_and_frames(tmp_path):
    a, b, c = (str(tmp_path / n) for n in "abc")
    make_demo_dataset(a, seed=3, **_SMALL)
    make_demo_dataset(b, seed=3, **_SMALL)
    make_demo_dataset(c, seed=4, **_SMALL)
    for name in ("train.csv", "val.csv", "test.csv", "classes.json"):
        with open(os.path.join(a, name), "rb") as fa, open(os.path.join(b, name), "rb") as fb:
            assert fa.read() == fb.read()
    lines = open(os.path.join(a, "train.csv")).read().splitlines()
    assert len(lines) == 8 and lines[3] == "videos/train/move_left/move_left_000.mp4 3"
    assert json.load(open(os.path.join(a, "classes.json")))["rotate"] == 7
    rel = lines[7].split()[0]
    # libx264 may encode the same frames to different bytes (write_video): compare content.
    same = np.abs(_decoded(os.path.join(a, rel)).astype(int) - _decoded(os.path.join(b, rel)))
    other = np.abs(_decoded(os.path.join(a, rel)).astype(int) - _decoded(os.path.join(c, rel)))
    assert _decoded(os.path.join(a, rel)).shape == (10, 32, 32, 3)
    assert same.mean() < 2 and other.mean() > 10


def _shift(clip, t0, t1):
    """Horizontal displacement s with clip[t1][:, x] ~ clip[t0][:, x + s] (wrap-around ignored)."""
    a, b = clip[t0].astype(float), clip[t1].astype(float)
    errors = {s: np.abs(b[:, 8:-8] - np.roll(a, -s, axis=1)[:, 8:-8]).mean()
              for s in range(-8, 9)}
    return min(errors, key=errors.get)


def _rng(i=0):
    return np.random.default_rng(i)


def test_direction_classes_differ_only_by_direction():
    for i in range(3):
        left = render_clip("move_left", _rng(i), 12, 48)
        right = render_clip("move_right", _rng(i), 12, 48)
        assert 3 <= _shift(left, 0, 6) <= 6  # 0.6-0.9 px per frame at 48 px
        assert -6 <= _shift(right, 0, 6) <= -3
        # The same texture: a right-moving clip played backwards moves left.
        assert _shift(right[::-1], 0, 6) > 0


def test_static_flicker_and_speed_classes():
    static = render_clip("static", _rng(), 12, 32)
    assert (static == static[0]).all()
    slow = render_clip("slow_drift", _rng(), 12, 32).astype(float)
    fast = render_clip("fast_motion", _rng(), 12, 32).astype(float)
    slow_change = np.abs(np.diff(slow, axis=0)).mean()
    assert 0 < slow_change < np.abs(np.diff(fast, axis=0)).mean() / 3
    flicker = render_clip("flicker", _rng(), 24, 32).astype(float)
    means = flicker.mean(axis=(1, 2, 3))
    assert means.std() > 5
    corr = np.corrcoef(flicker[0].ravel(), flicker[12].ravel())[0, 1]
    assert corr > 0.9  # same scene, only the brightness changes
    for name in ("zoom", "rotate"):
        clip = render_clip(name, _rng(), 12, 32).astype(float)
        assert np.abs(clip[-1] - clip[0]).mean() > 5


def test_appearance_varies_within_a_class():
    means = [render_clip("static", _rng(i), 2, 32).mean(axis=(0, 1, 2)) for i in range(4)]
    assert np.std(means, axis=0).max() > 10
    assert len(MOTION_CLASSES) == 8


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="num_classes"):
        make_demo_dataset(str(tmp_path), num_classes=9)
    with pytest.raises(ValueError, match="even"):
        make_demo_dataset(str(tmp_path), size=33, num_classes=2, videos_per_class=1)


def test_ssv2_format_is_deterministic(tmp_path):
    kwargs = dict(num_classes=2, videos_per_class=1, val_videos_per_class=1, frames=8, size=32)
    make_demo_ssv2_dataset(str(tmp_path / "a"), seed=0, **kwargs)
    make_demo_ssv2_dataset(str(tmp_path / "b"), seed=0, **kwargs)
    for name in ("labels", "train", "validation"):
        file = f"something-something-v2-{name}.json"
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    train = json.loads((tmp_path / "a" / "something-something-v2-train.json").read_text())
    assert [e["id"] for e in train] == ["1", "2"] and "[something]" in train[0]["template"]
    np.testing.assert_array_equal(_decoded(str(tmp_path / "a" / "3.webm")),
                                  _decoded(str(tmp_path / "b" / "3.webm")))


def test_cli_writes_the_kinetics_format(tmp_path):
    root = tmp_path / "cli"
    tool = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "make_demo_dataset.py")
    subprocess.run(
        [sys.executable, tool, "--root", str(root), "--seed", "1", "--num-classes", "2",
         "--videos-per-class", "1", "--val-videos-per-class", "1", "--test-videos-per-class",
         "0", "--frames", "6", "--size", "32"],
        check=True, capture_output=True,
    )
    assert len((root / "train.csv").read_text().splitlines()) == 2
    assert (root / "test.csv").read_text() == ""


def test_a_larger_test_split_extends_the_smaller_one(tmp_path):
    small, large = str(tmp_path / "small"), str(tmp_path / "large")
    make_demo_dataset(small, **_SMALL)
    make_demo_dataset(large, **{**_SMALL, "test_videos_per_class": 3})
    small_lines = open(os.path.join(small, "test.csv")).read().splitlines()
    large_lines = open(os.path.join(large, "test.csv")).read().splitlines()
    assert len(large_lines) == 3 * len(small_lines) and set(small_lines) <= set(large_lines)
    # Same rendered clips; libx264 does not always give the same bytes for them, so the
    # decoded frames are compared up to codec noise (a mean of about one level).
    for line in small_lines:
        rel = line.split()[0]
        a = _decoded(os.path.join(small, rel)).astype(int)
        b = _decoded(os.path.join(large, rel)).astype(int)
        assert a.shape == b.shape and abs(a - b).mean() < 2.0  # other content: tens


def _recording_make(calls):
    """A make_demo_dataset that records (root, kwargs) and writes only the list files."""
    def make(root, **kwargs):
        calls.append((root, kwargs))
        for name in ("train.csv", "val.csv", "test.csv"):
            open(os.path.join(root, name), "w").close()
    return make


def test_ensure_demo_dataset_passes_the_test_split_size_and_writes_once(tmp_path, monkeypatch):
    from slowfast_atfr.datasets import demo

    calls = []
    monkeypatch.setattr(demo, "make_demo_dataset", _recording_make(calls))
    demo.ensure_demo_dataset(str(tmp_path), test_videos_per_class=50)
    demo.ensure_demo_dataset(str(tmp_path), test_videos_per_class=50)
    assert [kwargs for _, kwargs in calls] == [{"num_classes": 8, "test_videos_per_class": 50}]


def test_ensure_demo_dataset_never_writes_into_a_users_folder(tmp_path, monkeypatch):
    from slowfast_atfr.datasets import demo

    monkeypatch.setattr(demo, "make_demo_dataset", lambda root, **kwargs: pytest.fail("wrote"))
    (tmp_path / "train.csv").write_text("videos/mine.mp4 0\n")
    (tmp_path / "val.csv").write_text("videos/mine.mp4 0\n")
    with pytest.raises(FileNotFoundError, match=r"test\.csv not found .*holds other files"):
        demo.ensure_demo_dataset(str(tmp_path))
    assert (tmp_path / "train.csv").read_text() == "videos/mine.mp4 0\n"


def test_ensure_demo_dataset_redoes_an_interrupted_demo_write(tmp_path, monkeypatch):
    from slowfast_atfr.datasets import demo

    def interrupted(root, **kwargs):
        open(os.path.join(root, "train.csv"), "w").close()
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "make_demo_dataset", interrupted)
    with pytest.raises(KeyboardInterrupt):
        demo.ensure_demo_dataset(str(tmp_path))
    calls = []
    monkeypatch.setattr(demo, "make_demo_dataset", _recording_make(calls))
    demo.ensure_demo_dataset(str(tmp_path))  # the folder is the demo's: written again
    assert [root for root, _ in calls] == [str(tmp_path)]
