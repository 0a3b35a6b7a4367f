"""Something-Something-v2: json lists, one frame per temporal segment.

DATA.PATH_TO_DATA_DIR holds `something-something-v2-labels.json` ({template: "index"}) and
`something-something-v2-{train,validation}.json` (lists of {"id", "template", ...}; the
label is the template with its brackets removed). Videos are `<id>.webm` (or `<id>.mp4`) under
DATA.PATH_PREFIX (else the data dir), or with DATA.USE_FRAMES folders `<id>/` of images.
"val" and "test" read the validation list, as the test labels are not public.
"""

import json
import os
import re
from typing import Any, Callable, Dict, List, Tuple

from slowfast_atfr.datasets import demo
from slowfast_atfr.datasets import transform as T
from slowfast_atfr.datasets.build import DATASET_REGISTRY
from slowfast_atfr.datasets.lists import (
    Entry,
    ListFileError,
    check_class_count,
    checked_pairs,
    read_text,
    require_file,
)
from slowfast_atfr.datasets.video_dataset import VideoDataset

LABELS_FILE = "something-something-v2-labels.json"
SPLIT_FILES = {
    "train": "something-something-v2-train.json",
    "val": "something-something-v2-validation.json",
    "test": "something-something-v2-validation.json",
}
_VIDEO_EXTENSIONS = (".webm", ".mp4")
_BLANKS = re.compile(r"\s*")


def _json_error(path: str, text: str, pos: int, reason: str) -> ListFileError:
    """The error for character `pos` of a json file, with its line number and text."""
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    line = text[start:end if end >= 0 else len(text)].strip()
    return ListFileError(path, text.count("\n", 0, pos) + 1, reason, line[:80])


def load_json_array(path: str) -> List[Tuple[int, Any]]:
    """(line number, element) for each element of a top-level json array, for error messages.

    Reads the file once, in time linear in its size (the SSv2 train list has 169k elements).
    """
    text = read_text(path)
    decoder = json.JSONDecoder()
    pos = _BLANKS.match(text).end()
    if not text.startswith("[", pos):
        raise _json_error(path, text, pos, "expected a json list `[...]`")
    pos = _BLANKS.match(text, pos + 1).end()
    line_no, counted = 1, 0
    items = []
    while not text.startswith("]", pos):
        line_no += text.count("\n", counted, pos)
        counted = pos
        try:
            item, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise _json_error(path, text, counted, f"invalid json in the entry that starts "
                              f"here ({e.msg} at line {e.lineno} column {e.colno})") from None
        items.append((line_no, item))
        pos = _BLANKS.match(text, pos).end()
        if text.startswith(",", pos):
            pos = _BLANKS.match(text, pos + 1).end()
        elif not text.startswith("]", pos):
            raise _json_error(path, text, pos, "expected ',' or ']' after an entry")
    end = _BLANKS.match(text, pos + 1).end()
    if end < len(text):
        raise _json_error(path, text, end, "text after the list's closing ']'; remove it")
    return items


def _reject_repeated_names(path: str) -> Callable[[List[Tuple[str, Any]]], Dict[str, Any]]:
    """A json object hook that refuses a key given twice (json keeps only the last silently)."""

    def hook(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
        result: Dict[str, Any] = {}
        for name, value in pairs:
            if name in result:
                raise ValueError(f"{path}: label {name!r} is given twice (indices "
                                 f"{result[name]!r} and {value!r}); keep one.")
            result[name] = value
        return result

    return hook


def read_labels(path: str, num_classes: int) -> Dict[str, int]:
    """`something-something-v2-labels.json` -> {template without brackets: 0-based index}.

    Each label has its own index in [0, MODEL.NUM_CLASSES), as a string ("12") or a number.
    """
    text = read_text(path)
    try:
        raw = json.loads(text, object_pairs_hook=_reject_repeated_names(path))
    except json.JSONDecodeError as e:
        raise _json_error(path, text, e.pos, f"invalid json ({e.msg} at column {e.colno})") \
            from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a json object {{label: \"index\"}}, got a "
                         f"{type(raw).__name__}.")
    labels: Dict[str, int] = {}
    name_of_index: Dict[int, str] = {}
    for name, value in raw.items():
        if isinstance(value, bool) or not str(value).isdigit() or int(value) >= num_classes:
            raise ValueError(
                f"{path}: label {name!r} has index {value!r}, expected an integer in "
                f"[0, {num_classes - 1}] (MODEL.NUM_CLASSES={num_classes}); fix the index or "
                "set MODEL.NUM_CLASSES."
            )
        index = int(value)
        if index in name_of_index:
            raise ValueError(f"{path}: labels {name_of_index[index]!r} and {name!r} both have "
                             f"index {value!r}; give each label its own index.")
        labels[name], name_of_index[index] = index, name
    check_class_count(path, len(labels), num_classes)
    return labels


def read_split(path: str, labels: Dict[str, int]) -> List[Tuple[str, int]]:
    """A train/validation json -> (video id, label) pairs; the label is the template with its
    brackets removed, looked up in the labels file."""
    entries = []
    for line_no, item in load_json_array(path):
        if not isinstance(item, dict) or "id" not in item or "template" not in item:
            raise ListFileError(path, line_no, "entry needs 'id' and 'template'", str(item)[:80])
        video_id, template = item["id"], item["template"]
        if not isinstance(video_id, (str, int)) or not isinstance(template, str):
            raise ListFileError(path, line_no, "'id' must be a string or an integer and "
                                "'template' a string", str(item)[:80])
        name = template.replace("[", "").replace("]", "")
        if name not in labels:
            raise ListFileError(path, line_no, f"template {name!r} is not in {LABELS_FILE}; "
                                "add it there or fix the template", str(item)[:80])
        entries.append(Entry(str(video_id), labels[name], line_no, f"template {template!r}"))
    return checked_pairs(path, entries)


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

