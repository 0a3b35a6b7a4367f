"""UCF101 and HMDB51 from their official split files (or a Kinetics-style csv when present).

UCF101: `classInd.txt` (`1 ApplyEyeMakeup`), `trainlist0N.txt` (`Class/v_x.avi 1`, 1-based
labels) and `testlist0N.txt` (`Class/v_x.avi`, label from the folder).
HMDB51: `<class>_test_split<N>.txt` with `video.avi 0|1|2` (1 = train, 2 = test, 0 = unused);
classes are indexed in name order and videos live in `<class>/<video>`.
Both have no validation split: "val" reads the test list. List files are looked for in
DATA.PATH_TO_DATA_DIR and in the official sub-folders (ucfTrainTestlist,
testTrainMulti_7030_splits); video paths are joined to DATA.PATH_PREFIX (else the data dir).
"""

import glob
import os
import re
from typing import Dict, List, Tuple

from slowfast_atfr.datasets.build import DATASET_REGISTRY
from slowfast_atfr.datasets.kinetics import read_path_label_csv
from slowfast_atfr.datasets.lists import ListFileError, iter_lines, parse_label, resolve
from slowfast_atfr.datasets.video_dataset import VideoDataset

_UCF_SUBDIR = "ucfTrainTestlist"
_HMDB_SUBDIR = "testTrainMulti_7030_splits"
_HMDB_IDS = {"train": "1", "val": "2", "test": "2"}


def _find(data_dir: str, subdir: str, name: str) -> str:
    for folder in (data_dir, os.path.join(data_dir, subdir)):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"{name!r} is neither in {data_dir!r} nor in {os.path.join(data_dir, subdir)!r} "
        "(check DATA.PATH_TO_DATA_DIR)."
    )


def read_ucf_classes(path: str) -> Dict[str, int]:
    """`classInd.txt` -> {class name: 0-based index}."""
    classes = {}
    for line_no, line in iter_lines(path):
        fields = line.split()
        if len(fields) != 2 or not fields[0].isdigit():
            raise ListFileError(path, line_no, "expected `index ClassName`", line)
        classes[fields[1]] = int(fields[0]) - 1
    return classes


def read_ucf_list(
    path: str, classes: Dict[str, int], num_classes: int
) -> List[Tuple[str, int]]:
    """A `trainlist0N.txt` (`video label`, 1-based) or `testlist0N.txt` (`video`) file."""
    entries = []
    for line_no, line in iter_lines(path):
        fields = line.split()
        if len(fields) == 2:
            label = parse_label(fields[1], num_classes, path, line_no, line, first=1)
        elif len(fields) == 1:
            name = fields[0].replace("\\", "/").split("/")[0]
            if name not in classes:
                raise ListFileError(path, line_no, f"class folder {name!r} not in classInd", line)
            label = classes[name]
        else:
            raise ListFileError(path, line_no, "expected `Class/video.avi [label]`", line)
        entries.append((fields[0], label))
    return entries


def read_hmdb_splits(
    data_dir: str, split_id: int, keep: str
) -> Tuple[List[Tuple[str, int]], int]:
    """(entries with split mark `keep` ("1" train, "2" test), number of classes) of split N."""
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
    entries = []
    for label, path in enumerate(files):
        name = pattern.match(os.path.basename(path)).group(1)
        for line_no, line in iter_lines(path):
            fields = line.split()
            if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                raise ListFileError(path, line_no, "expected `video.avi 0|1|2`", line)
            if fields[1] == keep:
                entries.append((f"{name}/{fields[0]}", label))
    return entries, len(files)


class _OfficialSplits(VideoDataset):
    """Reads `<split>.csv` when present, else the official split files."""

    def _load_entries(self) -> List[Tuple[str, int]]:
        data = self.cfg.DATA
        csv = os.path.join(data.PATH_TO_DATA_DIR, f"{self.split}.csv")
        if os.path.isfile(csv):
            return read_path_label_csv(
                csv, self.cfg.MODEL.NUM_CLASSES, data.PATH_LABEL_SEPARATOR, data.PATH_PREFIX
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
        classes = read_ucf_classes(_find(data_dir, _UCF_SUBDIR, "classInd.txt"))
        name = f"trainlist0{n}.txt" if self.split == "train" else f"testlist0{n}.txt"
        return read_ucf_list(_find(data_dir, _UCF_SUBDIR, name), classes,
                             self.cfg.MODEL.NUM_CLASSES)


@DATASET_REGISTRY.register()
class Hmdb51(_OfficialSplits):
    """HMDB51, split DATA.SPLIT; "val" and "test" take the videos marked 2."""

    def _read_official(self) -> List[Tuple[str, int]]:
        data_dir = self.cfg.DATA.PATH_TO_DATA_DIR
        entries, num_classes = read_hmdb_splits(
            data_dir, self.cfg.DATA.SPLIT, _HMDB_IDS[self.split]
        )
        if num_classes > self.cfg.MODEL.NUM_CLASSES:
            raise ValueError(
                f"{data_dir!r} holds {num_classes} HMDB51 classes but MODEL.NUM_CLASSES="
                f"{self.cfg.MODEL.NUM_CLASSES}."
            )
        return entries
