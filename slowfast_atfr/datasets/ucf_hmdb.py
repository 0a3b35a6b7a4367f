"""UCF101 and HMDB51 from their official split files (or a Kinetics-style csv when present).

UCF101: `classInd.txt` (`1 ApplyEyeMakeup`: indices 1..K, each once), `trainlist0N.txt`
(`Class/v_x.avi 1`, 1-based labels that must agree with classInd) and `testlist0N.txt`
(`Class/v_x.avi`, label from the folder).
HMDB51: `<class>_test_split<N>.txt` with `video.avi 0|1|2` (1 = train, 2 = test, 0 = unused);
classes are indexed in name order and videos live in `<class>/<video>`.
Both have no validation split: "val" reads the test list. List files are looked for in
DATA.PATH_TO_DATA_DIR and in the official sub-folders (ucfTrainTestlist,
testTrainMulti_7030_splits); their video paths are joined to DATA.PATH_PREFIX (else the data
dir). A `<split>.csv` is read as Kinetics' (paths from DATA.PATH_PREFIX, else the working
directory, as PySlowFast).
"""

import glob
import os
import re
from typing import Dict, List, Tuple

from slowfast_atfr.datasets.build import DATASET_REGISTRY
from slowfast_atfr.datasets.kinetics import read_path_label_csv
from slowfast_atfr.datasets.lists import (
    Entry,
    ListFileError,
    check_class_count,
    checked_pairs,
    iter_lines,
    parse_label,
    resolve,
)
from slowfast_atfr.datasets.video_dataset import VideoDataset

_UCF_SUBDIR = "ucfTrainTestlist"
_HMDB_SUBDIR = "testTrainMulti_7030_splits"
_HMDB_IDS = {"train": 1, "val": 2, "test": 2}


def _find(data_dir: str, subdir: str, name: str) -> str:
    for folder in (data_dir, os.path.join(data_dir, subdir)):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"{name!r} is neither in {data_dir!r} nor in {os.path.join(data_dir, subdir)!r} "
        "(check DATA.PATH_TO_DATA_DIR)."
    )


def read_ucf_classes(path: str, num_classes: int) -> Dict[str, int]:
    """`classInd.txt` -> {class name: 0-based index}.

    As in the official file, indices run from 1 to the number of classes, each given once to
    one class name; that number must not exceed MODEL.NUM_CLASSES.
    """
    by_index: Dict[int, Tuple[str, int]] = {}  # 1-based index -> (class name, line)
    line_of_name: Dict[str, int] = {}
    for line_no, line in iter_lines(path):
        fields = line.split()
        if len(fields) != 2 or not fields[0].isdigit():
            raise ListFileError(path, line_no, "expected `index ClassName`", line)
        index, name = int(fields[0]), fields[1]
        if index == 0:
            raise ListFileError(path, line_no, "index 0: classInd indices start at 1, as in "
                                "the official file; number the classes from 1", line)
        if index in by_index:
            other, other_line = by_index[index]
            raise ListFileError(path, line_no, f"index {index} is already given to {other!r} "
                                f"at line {other_line}; give each class its own index", line)
        if name in line_of_name:
            raise ListFileError(path, line_no, f"class {name!r} is already listed at line "
                                f"{line_of_name[name]}; list each class once", line)
        by_index[index], line_of_name[name] = (name, line_no), line_no
    if not by_index:
        raise ValueError(f"{path} lists no class; write one `index ClassName` line per class.")
    missing = sorted(set(range(1, len(by_index) + 1)) - set(by_index))
    if missing:
        top = max(by_index)
        raise ListFileError(path, by_index[top][1], f"index {top} leaves index {missing[0]} "
                            f"unused: the {len(by_index)} classes need indices 1..{len(by_index)}; "
                            "number them without gaps")
    classes = {name: index - 1 for index, (name, _) in by_index.items()}
    check_class_count(path, len(classes), num_classes)
    return classes


def read_ucf_list(
    path: str, classes: Dict[str, int], num_classes: int
) -> List[Tuple[str, int]]:
    """A `trainlist0N.txt` (`Class/video label`, 1-based) or `testlist0N.txt` (`Class/video`).

    The class folder must be in classInd, and a written label must be its classInd index.
    """
    entries = []
    for line_no, line in iter_lines(path):
        fields = line.split()
        if len(fields) not in (1, 2):
            raise ListFileError(path, line_no, "expected `ClassName/video.avi [label]`", line)
        name = fields[0].replace("\\", "/").split("/")[0]
        if name not in classes:
            raise ListFileError(path, line_no, f"class folder {name!r} not in classInd.txt; "
                                "list videos as `ClassName/video.avi` with a class of "
                                "classInd.txt", line)
        label = classes[name]
        if len(fields) == 2 and parse_label(
            fields[1], num_classes, path, line_no, line, first=1
        ) != label:
            raise ListFileError(path, line_no, f"label {fields[1]} disagrees with classInd.txt, "
                                f"which gives {name!r} index {label + 1}; fix the label or "
                                "classInd.txt", line)
        entries.append(Entry(fields[0], label, line_no, f"class {name!r}"))
    return checked_pairs(path, entries)


def read_hmdb_splits(
    data_dir: str, split_id: int, keep: int, num_classes: int
) -> List[Tuple[str, int]]:
    """Entries of split N with split mark `keep` (1 train, 2 test), labels in class order.

    The classes, one per `<class>_test_splitN.txt` file, must not outnumber MODEL.NUM_CLASSES.
    """
    pattern = re.compile(rf"^(.+)_test_split{split_id}\.txt$")
    files = []
    for folder in (data_dir, os.path.join(data_dir, _HMDB_SUBDIR)):
        files = sorted(glob.glob(os.path.join(folder, f"*_test_split{split_id}.txt")))
        if files:
            break
    if not files:
        raise FileNotFoundError(
            f"No HMDB51 '*_test_split{split_id}.txt' file in {data_dir!r} or its "
            f"{_HMDB_SUBDIR!r} folder (check DATA.PATH_TO_DATA_DIR and DATA.SPLIT)."
        )
    check_class_count(os.path.join(folder, f"*_test_split{split_id}.txt"), len(files),
                      num_classes)
    entries = []
    for label, path in enumerate(files):
        name = pattern.match(os.path.basename(path)).group(1)
        marks = []
        for line_no, line in iter_lines(path):
            fields = line.split()
            if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                raise ListFileError(path, line_no, "expected `video.avi 0|1|2` (0 unused, "
                                    "1 train, 2 test)", line)
            marks.append(Entry(f"{name}/{fields[0]}", int(fields[1]), line_no,
                               f"split mark {fields[1]}"))
        entries += [(video, label) for video, mark in checked_pairs(path, marks)
                    if mark == keep]
    return entries


class _OfficialSplits(VideoDataset):
    """Reads `<split>.csv` when present, else the official split files."""

    def _load_entries(self) -> List[Tuple[str, int]]:
        data = self.cfg.DATA
        csv = os.path.join(data.PATH_TO_DATA_DIR, f"{self.split}.csv")
        if os.path.isfile(csv):
            return read_path_label_csv(
                csv, self.cfg.MODEL.NUM_CLASSES, data.PATH_LABEL_SEPARATOR, data.PATH_PREFIX,
                self.origins,
            )
        entries = self._read_official()
        return [(resolve(v, data.PATH_PREFIX, data.PATH_TO_DATA_DIR), lbl) for v, lbl in entries]

    def _read_official(self) -> List[Tuple[str, int]]:
        raise NotImplementedError


@DATASET_REGISTRY.register()
class Ucf101(_OfficialSplits):
    """UCF101, split DATA.SPLIT; "val" and "test" read `testlist0N.txt`."""

    def _read_official(self) -> List[Tuple[str, int]]:
        data_dir, n = self.cfg.DATA.PATH_TO_DATA_DIR, self.cfg.DATA.SPLIT
        num_classes = self.cfg.MODEL.NUM_CLASSES
        classes = read_ucf_classes(_find(data_dir, _UCF_SUBDIR, "classInd.txt"), num_classes)
        name = f"trainlist0{n}.txt" if self.split == "train" else f"testlist0{n}.txt"
        return read_ucf_list(_find(data_dir, _UCF_SUBDIR, name), classes, num_classes)


@DATASET_REGISTRY.register()
class Hmdb51(_OfficialSplits):
    """HMDB51, split DATA.SPLIT; "val" and "test" take the videos marked 2."""

    def _read_official(self) -> List[Tuple[str, int]]:
        return read_hmdb_splits(self.cfg.DATA.PATH_TO_DATA_DIR, self.cfg.DATA.SPLIT,
                                _HMDB_IDS[self.split], self.cfg.MODEL.NUM_CLASSES)
