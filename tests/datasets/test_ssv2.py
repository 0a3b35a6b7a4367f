"""Something-Something-v2: json lists, template labels, videos or frame folders."""

import json

import pytest
import torch
from dataset_helpers import tiny_cfg

from slowfast_atfr.datasets import build_dataset
from slowfast_atfr.datasets.demo import SSV2_TEMPLATES, make_demo_ssv2_dataset
from slowfast_atfr.datasets.lists import ListFileError
from slowfast_atfr.datasets.ssv2 import LABELS_FILE, SPLIT_FILES


def _small_ssv2(root, **kwargs):
    return make_demo_ssv2_dataset(str(root), seed=1, num_classes=2, videos_per_class=2,
                                  val_videos_per_class=1, frames=12, size=32, **kwargs)


@pytest.mark.parametrize("as_frames", [False, True])
def test_ssv2_modes_labels_and_views(tmp_path, as_frames):
    labels = _small_ssv2(tmp_path, as_frames=as_frames)
    assert labels == {"Holding something still": 0, "Pushing something slowly": 1}
    cfg = tiny_cfg(tmp_path, num_classes=2)
    cfg.DATA.USE_FRAMES = as_frames
    train = build_dataset("ssv2", cfg, "train")
    assert train.labels == [0, 0, 1, 1]
    assert train.paths[0].endswith("1" if as_frames else "1.webm")
    frames, label, _, meta = train[2]
    assert frames[0].shape == (3, 4, 32, 32) and label == 1 and meta["valid"]
    test = build_dataset("ssv2", cfg, "test")
    assert len(test) == 2 * test.num_clips_per_video and test.labels == [0, 1]
    # Two temporal views take different frames of each segment of a moving video.
    view0, view1 = test[6][0][0], test[9][0][0]
    assert test.view_indices(9) == (1, 0) and not torch.equal(view0, view1)


def test_ssv2_frames_and_video_agree(tmp_path):
    _small_ssv2(tmp_path / "v", ext="mp4")
    _small_ssv2(tmp_path / "f", as_frames=True)
    cfg_v = tiny_cfg(tmp_path / "v", num_classes=2)
    cfg_f = tiny_cfg(tmp_path / "f", num_classes=2)
    cfg_f.DATA.USE_FRAMES = True
    videos = build_dataset("ssv2", cfg_v, "val")
    frames = build_dataset("ssv2", cfg_f, "val")[1][0][0]
    same = (videos[1][0][0] - frames).abs().mean()
    other = (videos[0][0][0] - frames).abs().mean()
    assert same < 0.2 and same < other / 3  # mp4 vs jpg compression only


def _write_lists(root, entries_text):
    (root / LABELS_FILE).write_text(json.dumps({"Holding something still": "0"}))
    (root / SPLIT_FILES["train"]).write_text(entries_text)


@pytest.mark.parametrize(
    "text, line, reason",
    [
        ('[\n {"id": "1", "template": "Holding [something] still"},\n {"id": "2"}\n]', 3,
         "needs 'id' and 'template'"),
        ('[\n {"id": "1",\n  "template": "Dropping [something]"}\n]', 2, "not in"),
        ('[\n {"id": "1", "template": "Holding [something] still"},\n {"id": \n]', 3,
         "invalid json"),
    ],
)
def test_malformed_ssv2_list_gives_file_and_line(tmp_path, text, line, reason):
    _write_lists(tmp_path, text)
    with pytest.raises(ListFileError, match=reason) as info:
        build_dataset("ssv2", tiny_cfg(tmp_path, num_classes=1), "train")
    assert f"{tmp_path / SPLIT_FILES['train']}:{line}:" in str(info.value)


@pytest.mark.parametrize(
    "labels_text, reason",
    [
        ('{"Holding something still": "0", "Dropping something": "0"}',
         "labels 'Holding something still' and 'Dropping something' both have index '0'"),
        ('{"Holding something still": "0", "Holding something still": "1"}',
         "label 'Holding something still' is given twice"),
        ('{"Holding something still": "0",\n "Dropping something": 1,}', ":2: invalid json"),
        ('["Holding something still"]', "expected a json object"),
        ('{"Holding something still": "0", "Dropping something": "2"}',
         r"'Dropping something' has index '2'.*\(MODEL.NUM_CLASSES=2\)"),
        ('{"Holding something still": "0", "Dropping something": true}',
         "'Dropping something' has index True"),
    ],
)
def test_malformed_ssv2_labels_name_the_file(tmp_path, labels_text, reason):
    _write_lists(tmp_path, '[{"id": "1", "template": "Holding [something] still"}]')
    (tmp_path / LABELS_FILE).write_text(labels_text)
    with pytest.raises(ValueError, match=reason) as info:
        build_dataset("ssv2", tiny_cfg(tmp_path, num_classes=2), "train")
    assert str(tmp_path / LABELS_FILE) in str(info.value)


def test_ssv2_lists_with_bom_are_read(tmp_path):
    bom = b"\xef\xbb\xbf"
    (tmp_path / LABELS_FILE).write_bytes(bom + b'{"Holding something still": "0"}')
    (tmp_path / SPLIT_FILES["train"]).write_bytes(
        bom + b'[{"id": 7, "template": "Holding [something] still"}]\n')
    train = build_dataset("ssv2", tiny_cfg(tmp_path, num_classes=1), "train")
    assert train.labels == [0] and train.paths == [str(tmp_path / "7.webm")]


@pytest.mark.parametrize(
    "text, line, reason",
    [
        ('[\n {"id": "1", "template": "Holding [something] still"},\n {"id": "2", "template": '
         '"Pushing [something] slowly"},\n {"id": "1", "template": "Pushing [something] slowly"}'
         '\n]', 4, "'1' is listed at line 2 with template 'Holding \\[something\\] still' and "
         "here with template 'Pushing"),
        ('[\n {"id": "1", "template": ["Holding [something] still"]}\n]', 2,
         "'template' a string"),
        ('[\n {"id": "1", "template": "Holding [something] still"}\n {"id": "2"}]', 3,
         "expected ',' or ']'"),
        ('[\n {"id": "1", "template": "Holding [something] still"}\n]\n[]', 4, "after the list"),
    ],
)
def test_conflicting_or_malformed_ssv2_entries(tmp_path, text, line, reason):
    (tmp_path / LABELS_FILE).write_text(
        json.dumps({"Holding something still": "0", "Pushing something slowly": "1"}))
    (tmp_path / SPLIT_FILES["train"]).write_text(text)
    with pytest.raises(ListFileError, match=reason) as info:
        build_dataset("ssv2", tiny_cfg(tmp_path, num_classes=2), "train")
    assert f"{tmp_path / SPLIT_FILES['train']}:{line}:" in str(info.value)


def test_missing_ssv2_video_is_replaced_in_train(tmp_path):
    _small_ssv2(tmp_path)
    (tmp_path / "2.webm").unlink()
    train = build_dataset("ssv2", tiny_cfg(tmp_path, num_classes=2), "train")
    torch.manual_seed(0)
    _, _, index, meta = train[1]
    # The random replacement may draw the missing video again before a good one.
    assert set(meta["bad_videos"]) == {str(tmp_path / "2.webm")} and index != 1


def test_ssv2_auto_create_demo(tmp_path, monkeypatch):
    from slowfast_atfr.datasets import demo

    real = demo.make_demo_ssv2_dataset
    monkeypatch.setattr(demo, "make_demo_ssv2_dataset",
                        lambda root, **kw: real(root, **{**kw, "videos_per_class": 1,
                                                         "val_videos_per_class": 1,
                                                         "frames": 8, "size": 32}))
    cfg = tiny_cfg(tmp_path / "auto", num_classes=3)
    cfg.DATA.AUTO_CREATE_DEMO = True
    dataset = build_dataset("ssv2", cfg, "val")
    assert dataset.labels == [0, 1, 2] and len(SSV2_TEMPLATES) == 8
