"""Kinetics-like miniature: determinism, every class x level in every split, consistent lists,
frame changes by motion level, the missing-scikit-image error and a load through Kinetics."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from dataset_helpers import all_frames, tiny_cfg

from slowfast_atfr.datasets import build_dataset
from slowfast_atfr.datasets.kinetics_like import make_kinetics_like_dataset
from slowfast_atfr.datasets.photo_clips import LEVELS, PHOTO_CLASSES, Difficulty, render_photo_clip

pytestmark = pytest.mark.skipif(importlib.util.find_spec("skimage") is None,
                                reason="needs scikit-image's sample photographs")

_TINY = dict(num_classes=2, videos_per_class=5, val_videos_per_class=5,
             test_videos_per_class=5, frames=16, size=64)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp("kinetics_like"))
    make_kinetics_like_dataset(root, seed=0, **_TINY)
    return root


def _lists(root):
    lists = {}
    for split in ("train", "val", "test"):
        with open(os.path.join(root, f"{split}.csv")) as f:
            lists[split] = [(p, int(label)) for p, label in (line.split() for line in f)]
    return lists


def _json(root, name):
    with open(os.path.join(root, name)) as f:
        return json.load(f)


def test_same_seed_gives_identical_lists_and_frames(tiny_root, tmp_path):
    again = str(tmp_path / "again")
    # Every video has its own generator: a train-only copy holds the same train videos.
    make_kinetics_like_dataset(again, seed=0, **{**_TINY, "val_videos_per_class": 0,
                                                 "test_videos_per_class": 0})
    for name in ("train.csv", "classes.json"):
        with open(os.path.join(tiny_root, name), "rb") as a, open(os.path.join(again, name),
                                                                  "rb") as b:
            assert a.read() == b.read()
    for rel, _ in _lists(again)["train"]:
        a, b = (np.stack(all_frames(os.path.join(r, rel))).astype(int) for r in (tiny_root, again))
        # libx264 may encode the same frames to different bytes (write_video); on these noisy
        # moving clips the decoded frames then differ by up to ~2.5 levels on average.
        assert a.shape == (16, 64, 64, 3) and np.abs(a - b).mean() < 4
    # The rendering itself is exact; another seed gives another clip.
    same = [render_photo_clip("coffee_left", "slow", np.random.default_rng(s), 8, 32)
            for s in (1, 1, 2)]
    assert np.array_equal(same[0], same[1]) and np.abs(same[0] - same[2].astype(int)).mean() > 10


def test_every_class_and_level_is_in_every_split(tiny_root):
    levels = _json(tiny_root, "motion_levels.json")
    for split, entries in _lists(tiny_root).items():
        cells = {(label, levels[rel]) for rel, label in entries}
        assert cells == {(label, level) for label in range(2) for level in LEVELS}, split


def test_lists_classes_and_levels_agree(tiny_root):
    classes = _json(tiny_root, "classes.json")
    assert classes == {name: i for i, name in enumerate(list(PHOTO_CLASSES)[:2])}
    names = {label: name for name, label in classes.items()}
    lists = _lists(tiny_root)
    paths = [rel for entries in lists.values() for rel, _ in entries]
    assert sorted(_json(tiny_root, "motion_levels.json")) == sorted(paths)
    for split, entries in lists.items():
        for rel, label in entries:
            assert rel.startswith(f"videos/{split}/{names[label]}/{names[label]}_")
            assert os.path.isfile(os.path.join(tiny_root, rel))


def _mean_changes(level, difficulty, seeds=range(6)):
    """Mean absolute change between consecutive frames [T - 1], averaged over clips."""
    clips = [render_photo_clip(name, level, np.random.default_rng(s), 16, 64, difficulty)
             for s in seeds for name in ("astronaut_right", "camera_left")]
    return np.mean([np.abs(np.diff(c.astype(float), axis=0)).mean(axis=(1, 2, 3))
                    for c in clips], axis=0)


def test_frames_change_over_time_as_their_level_says():
    still = Difficulty(noise=0.0)
    assert not _mean_changes("static", still).any()  # without noise, a still shot is constant
    cut = render_photo_clip("chelsea_left", "cut", np.random.default_rng(0), 16, 64, still)
    jumps = np.abs(np.diff(cut.astype(float), axis=0)).mean(axis=(1, 2, 3))
    assert np.count_nonzero(jumps) == 1 and 5 <= np.argmax(jumps) + 1 <= 11 and jumps.max() > 10
    means = {level: _mean_changes(level, Difficulty()).mean() for level in LEVELS}
    # Mean |difference| of two noise samples; less where 0 or 255 clips the noise.
    noise = 2 / np.sqrt(np.pi) * 0.02 * 255
    assert 0.8 * noise < means["static"] < 1.05 * noise
    assert means["static"] < means["slow"] < means["fast"] and means["shaky"] > 2 * noise


def test_missing_scikit_image_says_how_to_install_it(tmp_path, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "skimage" else find_spec(name, *a))
    with pytest.raises(ModuleNotFoundError, match="pip install scikit-image"):
        make_kinetics_like_dataset(str(tmp_path), **_TINY)
    assert os.listdir(tmp_path) == []


def test_too_few_videos_for_every_level_is_refused(tmp_path):
    with pytest.raises(ValueError, match="val split has 3 videos"):
        make_kinetics_like_dataset(str(tmp_path), **{**_TINY, "val_videos_per_class": 3})


def test_tool_passes_the_difficulty_knobs(tmp_path):
    tool = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "make_demo_dataset.py")
    subprocess.run(
        [sys.executable, tool, "--format", "kinetics_like", "--root", str(tmp_path),
         "--num-classes", "2", "--videos-per-class", "5", "--val-videos-per-class", "0",
         "--test-videos-per-class", "0", "--frames", "6", "--size", "32", "--noise", "0",
         "--crop-scale", "0.5", "0.6"],
        check=True, capture_output=True,
    )
    assert len((tmp_path / "train.csv").read_text().splitlines()) == 10
    static = np.stack(all_frames(str(tmp_path / "videos/train/astronaut_right/"
                                                "astronaut_right_000.mp4")))
    assert static.shape == (6, 32, 32, 3) and np.abs(np.diff(static.astype(int), axis=0)).max() < 3


def test_loads_through_the_kinetics_data_set(tiny_root):
    cfg = tiny_cfg(tiny_root, num_classes=2)
    cfg.DATA.PATH_PREFIX = tiny_root
    torch.manual_seed(0)
    train = build_dataset("kinetics", cfg, "train")
    assert len(train) == 10 and sorted(set(train.labels)) == [0, 1]
    frames, label, _, meta = train[7]
    assert [f.shape for f in frames] == [(3, 4, 32, 32)] and label == 1 and meta["valid"]
    test = build_dataset("kinetics", cfg, "test")
    frames, _, _, meta = test[len(test) - 1]
    assert meta["valid"] and torch.isfinite(frames[0]).all()
