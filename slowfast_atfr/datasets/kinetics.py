"""Kinetics-400/600 and Mini-Kinetics: one `path label` csv per split (train/val/test.csv)."""

import os
from typing import List, Tuple

from slowfast_atfr.datasets import demo
from slowfast_atfr.datasets.build import DATASET_REGISTRY
from slowfast_atfr.datasets.lists import (
    Entry,
    ListFileError,
    checked_pairs,
    iter_lines,
    parse_label,
    require_file,
    resolve,
    split_fields,
)
from slowfast_atfr.datasets.video_dataset import VideoDataset


def read_path_label_csv(
    path: str, num_classes: int, separator: str, prefix: str
) -> List[Tuple[str, int]]:
    """Read a `path label` list (space or comma separated); labels are 0-based class indices.

    A path holding the separator is written in double quotes (`"my clips/a, b.mp4",3`).

    Raises:
        ListFileError: a line without two fields, a bad label, or a video listed twice with
            different labels (message: `file:line`).
    """
    data_dir = os.path.dirname(path)
    shape = f"`path{separator or ' '}label`"
    entries = []
    for line_no, line in iter_lines(path):
        fields = split_fields(line, separator)
        if len(fields) != 2 or not fields[0]:
            raise ListFileError(
                path, line_no, f"expected {shape}; put a path that holds the separator in "
                "double quotes", line
            )
        label = parse_label(fields[1], num_classes, path, line_no, line)
        entries.append(Entry(fields[0], label, line_no, f"label {fields[1]}"))
    return [(resolve(video, prefix, data_dir), label)
            for video, label in checked_pairs(path, entries)]


@DATASET_REGISTRY.register()
class Kinetics(VideoDataset):
    """Kinetics-style data set: DATA.PATH_TO_DATA_DIR/{train,val,test}.csv.

    With DATA.AUTO_CREATE_DEMO the built-in demo data set is written there first when the
    list files are missing.
    """

    def _load_entries(self) -> List[Tuple[str, int]]:
        cfg = self.cfg
        data_dir = cfg.DATA.PATH_TO_DATA_DIR
        list_file = os.path.join(data_dir, f"{self.split}.csv")
        if cfg.DATA.AUTO_CREATE_DEMO and not os.path.isfile(list_file):
            demo.ensure_demo_dataset(data_dir, "kinetics", cfg.MODEL.NUM_CLASSES)
        require_file(list_file, f"Kinetics {self.split} list")
        return read_path_label_csv(
            list_file, cfg.MODEL.NUM_CLASSES, cfg.DATA.PATH_LABEL_SEPARATOR, cfg.DATA.PATH_PREFIX
        )
