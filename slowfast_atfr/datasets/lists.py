"""Helpers shared by the list-file readers: line iteration, label parsing, path resolution."""

import os
from typing import Iterator, List, Optional, Tuple


class ListFileError(ValueError):
    """A list file has a malformed line; the message gives `file:line`, the reason and the line."""

    def __init__(self, path: str, line_no: int, reason: str, line: str):
        super().__init__(f"{path}:{line_no}: {reason}: {line!r}")
        self.path = path
        self.line_no = line_no


def require_file(path: str, what: str) -> str:
    """Return `path`, or raise FileNotFoundError saying which list file is missing."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path!r} does not exist (check DATA.PATH_TO_DATA_DIR).")
    return path


def iter_lines(path: str) -> Iterator[Tuple[int, str]]:
    """Yield (1-based line number, stripped line) for each non-blank line of a text file."""
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            line = line.strip()
            if line:
                yield line_no, line


def split_fields(line: str, separator: str) -> List[str]:
    """Split a list line: by `separator` when given, else `path label` at the last comma when
    a number follows it, else at the last blank.

    Without a separator only the last field is cut, so spaces and commas inside the path are
    kept (`my clips/a,b.mp4 3`, `a,b.mp4,3`).
    """
    if separator:
        return [f.strip() for f in line.split(separator)]
    by_comma = [f.strip() for f in line.rsplit(",", 1)]
    if len(by_comma) == 2 and by_comma[1].lstrip("-").isdigit():
        return by_comma
    return line.rsplit(None, 1)


def parse_label(
    text: str, num_classes: int, path: str, line_no: int, line: str, first: int = 0
) -> int:
    """Parse a class index counted from `first`; return it 0-based, checked against the classes."""
    try:
        label = int(text) - first
    except ValueError:
        raise ListFileError(path, line_no, f"label {text!r} is not an integer", line) from None
    if not 0 <= label < num_classes:
        raise ListFileError(
            path,
            line_no,
            f"label {text!r} is outside [{first}, {num_classes + first - 1}] "
            f"(MODEL.NUM_CLASSES={num_classes})",
            line,
        )
    return label


def resolve(video: str, prefix: str, data_dir: str) -> str:
    """Video path of a list entry: joined to DATA.PATH_PREFIX when set, else to the list's folder.

    Absolute paths are kept as they are.
    """
    base: Optional[str] = prefix or data_dir
    return os.path.join(base, video) if base else video
