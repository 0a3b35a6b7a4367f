"""Kinetics-400/600 and Mini-Kinetics: one `path label` csv per split (train/val/test.csv)."""

import os
from typing import List, Tuple

from slowfast_atfr.datasets import demo
from slowfast_atfr.datasets.build import DATASET_REGISTRY
from slowfast_atfr.datasets.lists import (
    Entry,
    ListFileError,
    PathOrigins,
    checked_pairs,
    iter_lines,
    parse_label,
    require_file,
    split_fields,
)
from slowfast_atfr.datasets.video_dataset import VideoDataset


def read_path_label_csv(
    path: str, num_classes: int, separator: str, prefix: str, origins: PathOrigins
) -> List[Tuple[str, int]]:
    """Read a `path label` list (space or comma separated); labels are 0-based class indices.

    A path holding the separator is written in double quotes (`"my clips/a, b.mp4",3`).
    Video paths are resolved as PySlowFast's (`PathOrigins.resolve_list`: DATA.PATH_PREFIX,
    else the working directory), and recorded in `origins`.

    Raises:
        ListFileError: a line without two fields, a bad label, or a video listed twice with
            different labels (message: `file:line`).
    """
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
    labels = [label for _, label in checked_pairs(path, entries)]
    return list(zip(origins.resolve_list(path, entries, prefix), labels))


@DATASET_REGISTRY.register()
class Kinetics(VideoDataset):
    """Kinetics-style data set: DATA.PATH_TO_DATA_DIR/{train,val,test}.csv.

    Relative video paths are joined to DATA.PATH_PREFIX, else taken from the working directory
    as in PySlowFast (or, with a log line, from the list's folder where only that has them).

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
            list_file, cfg.MODEL.NUM_CLASSES, cfg.DATA.PATH_LABEL_SEPARATOR, cfg.DATA.PATH_PREFIX,
            self.origins,
        )
