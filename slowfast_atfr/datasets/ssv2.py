"""Something-Something-v2: json lists, one frame per temporal segment.

DATA.PATH_TO_DATA_DIR holds `something-something-v2-labels.json` ({template: "index"}) and
`something-something-v2-{train,validation}.json` (lists of {"id", "template", ...}; the
label is the template with its brackets removed). Videos are `<id>.webm` (or `<id>.mp4`) under
DATA.PATH_PREFIX (else the data dir), or with DATA.USE_FRAMES folders `<id>/` of images.
"val" and "test" read the validation list, as the test labels are not public.
"""

import json
import os
from typing import Any, Dict, List, Tuple

from slowfast_atfr.datasets import demo
from slowfast_atfr.datasets import transform as T
from slowfast_atfr.datasets.build import DATASET_REGISTRY
from slowfast_atfr.datasets.lists import ListFileError, require_file
from slowfast_atfr.datasets.video_dataset import VideoDataset

LABELS_FILE = "something-something-v2-labels.json"
SPLIT_FILES = {
    "train": "something-something-v2-train.json",
    "val": "something-something-v2-validation.json",
    "test": "something-something-v2-validation.json",
}
_VIDEO_EXTENSIONS = (".webm", ".mp4")


def load_json_array(path: str) -> List[Tuple[int, Any]]:
    """(line number, element) for each element of a top-level json array, for error messages."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    decoder = json.JSONDecoder()
    pos = len(text) - len(text.lstrip())
    if not text[pos:].startswith("["):
        raise ListFileError(path, text.count("\n", 0, pos) + 1, "expected a json list", text[:40])
    pos += 1
    items = []
    while True:
        pos += len(text[pos:]) - len(text[pos:].lstrip(" \t\r\n,"))
        if pos >= len(text) or text[pos] == "]":
            return items
        line_no = text.count("\n", 0, pos) + 1
        try:
            item, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise ListFileError(path, line_no, f"invalid json ({e.msg})", text[pos:pos + 40]) from e
        items.append((line_no, item))


def read_labels(path: str, num_classes: int) -> Dict[str, int]:
    """`something-something-v2-labels.json` -> {template without brackets: 0-based index}."""
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    labels = {}
    for name, value in raw.items():
        if not str(value).isdigit() or int(value) >= num_classes:
            raise ValueError(
                f"{path}: label {name!r} has index {value!r}, expected an integer in "
                f"[0, {num_classes - 1}] (MODEL.NUM_CLASSES={num_classes})."
            )
        labels[name] = int(value)
    return labels


def read_split(path: str, labels: Dict[str, int]) -> List[Tuple[str, int]]:
    """A train/validation json -> (video id, label) pairs."""
    entries = []
    for line_no, item in load_json_array(path):
        if not isinstance(item, dict) or "id" not in item or "template" not in item:
            raise ListFileError(path, line_no, "entry needs 'id' and 'template'", str(item)[:80])
        name = item["template"].replace("[", "").replace("]", "")
        if name not in labels:
            raise ListFileError(path, line_no, f"template {name!r} is not in {LABELS_FILE}",
                                str(item)[:80])
        entries.append((str(item["id"]), labels[name]))
    return entries


def _video_path(base: str, video_id: str, use_frames: bool) -> str:
    if use_frames:
        return os.path.join(base, video_id)
    for ext in _VIDEO_EXTENSIONS:
        path = os.path.join(base, video_id + ext)
        if os.path.exists(path):
            return path
    return os.path.join(base, video_id + _VIDEO_EXTENSIONS[0])


@DATASET_REGISTRY.register()
class Ssv2(VideoDataset):
    """SSv2: DATA.NUM_FRAMES frames, one per equal segment of the whole video.

    Test views shift the frame inside each segment ((view + 0.5) / NUM_ENSEMBLE_VIEWS).
    With DATA.AUTO_CREATE_DEMO the built-in demo data set is written first when missing.
    """

    def _load_entries(self) -> List[Tuple[str, int]]:
        data = self.cfg.DATA
        labels_file = os.path.join(data.PATH_TO_DATA_DIR, LABELS_FILE)
        if data.AUTO_CREATE_DEMO and not os.path.isfile(labels_file):
            demo.ensure_demo_dataset(data.PATH_TO_DATA_DIR, "ssv2", self.cfg.MODEL.NUM_CLASSES)
        labels = read_labels(require_file(labels_file, "SSv2 labels"), self.cfg.MODEL.NUM_CLASSES)
        split_file = os.path.join(data.PATH_TO_DATA_DIR, SPLIT_FILES[self.split])
        entries = read_split(require_file(split_file, f"SSv2 {self.split} list"), labels)
        base = data.PATH_PREFIX or data.PATH_TO_DATA_DIR
        return [(_video_path(base, vid, data.USE_FRAMES), lbl) for vid, lbl in entries]

    def _positions(self, video_frames: int, fps: float, clip_idx: int, num_clips: int):
        return T.segment_positions(
            video_frames=video_frames,
            num_frames=self.cfg.DATA.NUM_FRAMES,
            clip_idx=clip_idx,
            num_clips=num_clips,
        )

