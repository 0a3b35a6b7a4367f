"""UCF101 and HMDB51 from official split files."""

import pytest
from dataset_helpers import gradient_video, tiny_cfg

from slowfast_atfr.datasets import build_dataset
from slowfast_atfr.datasets.lists import ListFileError


def _videos(root, names):
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        gradient_video(str(root / name), frames=6, codec="mpeg4")


@pytest.fixture
def ucf_root(tmp_path):
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 Walk\n2 Run\n")
    (lists / "trainlist01.txt").write_text("Walk/v_Walk_g01.avi 1\nRun/v_Run_g01.avi 2\n")
    (lists / "testlist01.txt").write_text("Run/v_Run_g02.avi\n")
    (lists / "trainlist02.txt").write_text("Run/v_Run_g02.avi 2\n")
    (lists / "testlist02.txt").write_text("Walk/v_Walk_g01.avi\nRun/v_Run_g01.avi\n")
    _videos(tmp_path, ["Walk/v_Walk_g01.avi", "Run/v_Run_g01.avi", "Run/v_Run_g02.avi"])
    return tmp_path


def test_ucf101_splits_and_labels(ucf_root):
    cfg = tiny_cfg(ucf_root, num_classes=2)
    train = build_dataset("ucf101", cfg, "train")
    assert train.labels == [0, 1] and train.paths[1] == str(ucf_root / "Run/v_Run_g01.avi")
    assert train[1][0][0].shape == (3, 4, 32, 32) and train[1][1] == 1
    test = build_dataset("ucf101", cfg, "test")
    assert test.labels == [1] and len(test) == 6
    assert build_dataset("ucf101", cfg, "val").labels == [1]
    cfg.DATA.SPLIT = 2
    assert build_dataset("ucf101", cfg, "test").labels == [0, 1]
    assert build_dataset("ucf101", cfg, "train").labels == [1]


def test_ucf101_prefers_a_kinetics_csv(ucf_root):
    (ucf_root / "train.csv").write_text("Run/v_Run_g02.avi 0\n")
    assert build_dataset("ucf101", tiny_cfg(ucf_root, num_classes=2), "train").labels == [0]


@pytest.mark.parametrize(
    "name, content, line, reason",
    [
        ("trainlist01.txt", "Walk/v_Walk_g01.avi 1\nRun/v_Run_g01.avi 0\n", 2, "outside"),
        ("testlist01.txt", "Jump/v_Jump_g01.avi\n", 1, "not in classInd"),
        ("classInd.txt", "1 Walk\nRun\n", 2, "expected"),
        ("trainlist01.txt", "Walk/v_Walk_g01.avi 1\nRun/v_Run_g01.avi 1\n", 2,
         "label 1 disagrees with classInd.txt, which gives 'Run' index 2"),
        ("trainlist01.txt", "Jump/v_Jump_g01.avi 1\n", 1, "class folder 'Jump' not in classInd"),
        ("classInd.txt", "0 Walk\n1 Run\n", 1, "index 0: classInd indices start at 1"),
        ("classInd.txt", "1 Walk\n1 Run\n", 2, "index 1 is already given to 'Walk' at line 1"),
        ("classInd.txt", "1 Walk\n2 Walk\n", 2, "class 'Walk' is already listed at line 1"),
        ("classInd.txt", "1 Walk\n3 Run\n", 2, "index 3 leaves index 2 unused"),
    ],
)
def test_ucf101_malformed_lists(ucf_root, name, content, line, reason):
    path = ucf_root / "ucfTrainTestlist" / name
    path.write_text(content)
    split = "train" if name.startswith("train") else "test"
    with pytest.raises(ListFileError, match=reason) as info:
        build_dataset("ucf101", tiny_cfg(ucf_root, num_classes=2), split)
    assert f"{path}:{line}:" in str(info.value)


def test_ucf101_class_ind_with_too_many_or_no_classes(ucf_root):
    path = ucf_root / "ucfTrainTestlist" / "classInd.txt"
    path.write_text("1 Walk\n2 Run\n3 Jump\n")
    for split in ("train", "test"):
        with pytest.raises(ValueError, match=f"{path} names 3 classes but MODEL.NUM_CLASSES=2"):
            build_dataset("ucf101", tiny_cfg(ucf_root, num_classes=2), split)
    path.write_text("\n")
    with pytest.raises(ValueError, match=f"{path} lists no class"):
        build_dataset("ucf101", tiny_cfg(ucf_root, num_classes=2), "test")


def test_ucf101_lists_with_bom_and_windows_line_ends(ucf_root):
    lists = ucf_root / "ucfTrainTestlist"
    (lists / "classInd.txt").write_bytes(b"\xef\xbb\xbf1 Walk\r\n2 Run\r\n")
    (lists / "trainlist01.txt").write_bytes(b"\xef\xbb\xbfWalk/v_Walk_g01.avi 1\r\n")
    (lists / "testlist01.txt").write_bytes(b"\xef\xbb\xbfRun/v_Run_g02.avi\r\n")
    cfg = tiny_cfg(ucf_root, num_classes=2)
    train = build_dataset("ucf101", cfg, "train")
    assert train.labels == [0] and train.paths == [str(ucf_root / "Walk/v_Walk_g01.avi")]
    assert build_dataset("ucf101", cfg, "test").labels == [1]


def test_ucf101_missing_lists_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="classInd.txt"):
        build_dataset("ucf101", tiny_cfg(tmp_path), "train")


@pytest.fixture
def hmdb_root(tmp_path):
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    (splits / "brush_hair_test_split1.txt").write_text("a.avi 1 \nb.avi 2 \nc.avi 0 \n")
    (splits / "cartwheel_test_split1.txt").write_text("d.avi 2\ne.avi 1\n")
    (splits / "brush_hair_test_split2.txt").write_text("a.avi 2\nb.avi 1\n")
    (splits / "cartwheel_test_split2.txt").write_text("d.avi 1\ne.avi 2\n")
    _videos(tmp_path, ["brush_hair/a.avi", "brush_hair/b.avi", "cartwheel/d.avi",
                       "cartwheel/e.avi"])
    return tmp_path


def test_hmdb51_splits_and_labels(hmdb_root):
    cfg = tiny_cfg(hmdb_root, num_classes=2)
    train = build_dataset("hmdb51", cfg, "train")
    assert [p[len(str(hmdb_root)) + 1:] for p in train.paths] == ["brush_hair/a.avi",
                                                                  "cartwheel/e.avi"]
    assert train.labels == [0, 1]
    frames, label, _, _ = train[1]
    assert frames[0].shape == (3, 4, 32, 32) and label == 1
    test = build_dataset("hmdb51", cfg, "test")
    assert test.labels == [0, 1] and test.paths[0].endswith("brush_hair/b.avi")
    cfg.DATA.SPLIT = 2
    assert build_dataset("hmdb51", cfg, "train").paths[0].endswith("brush_hair/b.avi")


def test_hmdb51_bad_mark_and_too_many_classes(hmdb_root):
    path = hmdb_root / "testTrainMulti_7030_splits" / "cartwheel_test_split1.txt"
    path.write_text("d.avi 2\ne.avi 3\n")
    with pytest.raises(ListFileError, match=f"{path}:2:"):
        build_dataset("hmdb51", tiny_cfg(hmdb_root, num_classes=2), "train")
    path.write_text("d.avi 2\n")
    with pytest.raises(ValueError, match="MODEL.NUM_CLASSES=1"):
        build_dataset("hmdb51", tiny_cfg(hmdb_root, num_classes=1), "test")


def test_hmdb51_video_marked_for_two_splits_is_refused(hmdb_root):
    path = hmdb_root / "testTrainMulti_7030_splits" / "brush_hair_test_split1.txt"
    path.write_text("a.avi 1\nb.avi 2\na.avi 2\n")
    with pytest.raises(ListFileError, match="'brush_hair/a.avi' is listed at line 1 with split "
                                            "mark 1 and here with split mark 2") as info:
        build_dataset("hmdb51", tiny_cfg(hmdb_root, num_classes=2), "train")
    assert f"{path}:3:" in str(info.value)
