"""Helpers shared by the list-file readers: reading text, splitting and checking lines, label
ranges, videos listed twice, path resolution.

Every error names the file, the line when there is one, the value at fault and what to change.
"""

import array
import codecs
import csv
import io
import os
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from slowfast_atfr.utils import logging

logger = logging.get_logger(__name__)

# Separators tried, in order, after a quoted path when DATA.PATH_LABEL_SEPARATOR is "".
_QUOTED_SEPARATORS = (",", " ", "\t")
# Videos quoted by one warning (repeated, misplaced); the rest are counted.
_MAX_SHOWN = 5


class ListFileError(ValueError):
    """A list file has a malformed line; the message gives `file:line`, the reason and the line."""

    def __init__(self, path: str, line_no: int, reason: str, line: Optional[str] = None):
        text = f"{path}:{line_no}: {reason}"
        super().__init__(text if line is None else f"{text}: {line!r}")
        self.path = path
        self.line_no = line_no


class Entry(NamedTuple):
    """One listed video: 0-based label, its line, and its label as the file writes it
    (e.g. "label 3", "class 'Walk'"), so that messages quote the file rather than our index."""

    video: str
    label: int
    line_no: int
    shown: str


def require_file(path: str, what: str) -> str:
    """Return `path`, or raise FileNotFoundError saying which list file is missing."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path!r} does not exist (check DATA.PATH_TO_DATA_DIR).")
    return path


def read_text(path: str) -> str:
    """Text of a list or label file: UTF-8, without the BOM that some editors put first.

    Raises:
        ListFileError: a byte that is not UTF-8, with its line and the advice to re-save.
    """
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        start = data.rfind(b"\n", 0, e.start) + 1
        end = data.find(b"\n", e.start)
        line = data[start:end if end >= 0 else len(data)]
        raise ListFileError(
            path,
            data.count(b"\n", 0, e.start) + 1,
            f"byte 0x{data[e.start]:02x} (byte {e.start - start + 1} of the line) is not UTF-8; "
            "save the file as UTF-8",
            line.decode("utf-8", "backslashreplace").strip(),
        ) from None


def iter_lines(path: str) -> Iterator[Tuple[int, str]]:
    """Yield (1-based line number, stripped line) for each non-blank line of a text file."""
    for line_no, line in enumerate(io.StringIO(read_text(path), newline=None), start=1):
        line = line.strip()
        if line:
            yield line_no, line


def split_fields(line: str, separator: str) -> List[str]:
    """Split a list line into its fields.

    A line that starts with a double quote is read by the csv module, so the quoted path may
    hold blanks, commas and doubled quotes (`"my clips/a, b.mp4",3`, `"a b.mp4" 3`). It is
    split at `separator` (one character), or without one at the first of comma, blank and tab
    that gives two fields; otherwise the whole line comes back as one field.
    Other lines are split at `separator` when given, else only the last field is cut: at the
    last comma when a number follows it, else at the last blank, so spaces and commas inside
    the path are kept (`my clips/a,b.mp4 3`, `a,b.mp4,3`).
    """
    if line.startswith('"'):
        for delimiter in (separator,) if separator else _QUOTED_SEPARATORS:
            try:
                fields = next(csv.reader([line], delimiter=delimiter, skipinitialspace=True,
                                         strict=True))
            except csv.Error:
                continue
            if len(fields) == 2:
                return fields
        return [line]
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
        raise ListFileError(
            path, line_no, f"label {text!r} is not an integer; write the class index", line
        ) from None
    if not 0 <= label < num_classes:
        raise ListFileError(
            path,
            line_no,
            f"label {text!r} is outside [{first}, {num_classes + first - 1}] "
            f"(MODEL.NUM_CLASSES={num_classes}); fix the label or set MODEL.NUM_CLASSES",
            line,
        )
    return label


def check_class_count(source: str, count: int, num_classes: int) -> None:
    """Refuse a class list longer than the model's outputs; log one that leaves outputs unused."""
    if count > num_classes:
        raise ValueError(
            f"{source} names {count} classes but MODEL.NUM_CLASSES={num_classes}; set "
            f"MODEL.NUM_CLASSES to {count}."
        )
    if count < num_classes:
        logger.warning(
            "%s names %d classes but MODEL.NUM_CLASSES=%d: %d of the outputs belong to no class "
            "(set MODEL.NUM_CLASSES to %d unless that is intended).",
            source, count, num_classes, num_classes - count, count,
        )


def checked_pairs(path: str, entries: Sequence[Entry]) -> List[Tuple[str, int]]:
    """(video, label) pairs of one list file, in file order.

    A video listed twice with different labels is refused: one of the lines is wrong, and
    training or scoring on it would silently use a wrong label. Repeats with the same label
    are kept as listed (the video then weighs more) and logged, naming the lines.

    Raises:
        ListFileError: at the second line, naming the first one and both labels.
    """
    first: Dict[str, Entry] = {}
    repeats = []
    for entry in entries:
        seen = first.setdefault(os.path.normpath(entry.video), entry)
        if seen is entry:
            continue
        if seen.label != entry.label:
            raise ListFileError(
                path,
                entry.line_no,
                f"{entry.video!r} is listed at line {seen.line_no} with {seen.shown} and here "
                f"with {entry.shown}; keep only the line with the right label",
            )
        repeats.append(f"{entry.video!r} at lines {seen.line_no} and {entry.line_no}")
    if repeats:
        logger.warning(
            "%s lists videos again with the same label (repeats: %d); each repeat is kept and "
            "weighs more (delete the repeated lines unless that is intended): %s",
            path, len(repeats), _first_few(repeats, "; "),
        )
    return [(e.video, e.label) for e in entries]


def _first_few(texts: Sequence[str], separator: str) -> str:
    """The first `_MAX_SHOWN` of `texts` joined, and how many more there are."""
    more = len(texts) - _MAX_SHOWN
    shown = separator.join(texts[:_MAX_SHOWN])
    return f"{shown}{separator}and {more} more" if more > 0 else shown


def resolve(video: str, prefix: str, data_dir: str) -> str:
    """Video path of an official UCF101/HMDB51 split entry (`Class/video.avi`, a layout
    PySlowFast has no list for): joined to DATA.PATH_PREFIX when set, else to the data dir."""
    return os.path.join(prefix or data_dir, video)


class _Base(NamedTuple):
    """A folder that relative list paths are joined to, and how messages call it."""

    name: str
    folder: str  # "" = the working directory (the path stays relative, as PySlowFast)


_CWD = _Base("the working directory", "")


class PathOrigins:
    """The video paths of a data set's list files, and where each was listed: list file, line
    and the folder its written path was joined to, so that a missing video is reported with
    all of them (`missing_reason`).

    Rows are three integers (Kinetics lists hold 240k videos); the path as written is the
    resolved path less its folder. Rows follow the data set's videos when its reader resolves
    every video with `resolve_list`; readers of other formats record none.
    """

    def __init__(self) -> None:
        self._lists: List[Tuple[str, Tuple[_Base, ...]]] = []  # (list file, bases tried)
        self._rows = array.array("i")  # list, line, base (-1: absolute, as written)

    def __len__(self) -> int:
        return len(self._rows) // 3

    def resolve_list(self, list_file: str, entries: Sequence[Entry], prefix: str) -> List[str]:
        """Video paths of a list's entries, as PySlowFast: `os.path.join(DATA.PATH_PREFIX,
        path)`, so with no prefix a relative path is taken from the working directory.

        With no prefix, a relative path that is not under the working directory but under the
        list's folder is taken from there: that was this codebase's rule, and its lists (the
        demo data sets among them) are written so. A log line names that folder and says to set
        DATA.PATH_PREFIX to it, which makes the choice explicit and skips the look-ups (one or
        two per relative path). Paths found under neither stay relative to the working
        directory, and a warning lists them.
        """
        if prefix:
            self._lists.append((list_file, (_Base("DATA.PATH_PREFIX", prefix),)))
            for e in entries:
                self._rows.extend((len(self._lists) - 1, e.line_no,
                                   -1 if os.path.isabs(e.video) else 0))
            return [os.path.join(prefix, e.video) for e in entries]
        folder = os.path.dirname(list_file)
        bases = (_CWD,)
        if os.path.abspath(folder) != os.getcwd():
            bases += (_Base("the list's folder", folder),)
        self._lists.append((list_file, bases))
        paths, in_folder, missing = [], [], []
        for e in entries:
            base = 0
            if os.path.isabs(e.video):
                base = -1
            elif not os.path.exists(e.video):
                if len(bases) > 1 and os.path.exists(os.path.join(folder, e.video)):
                    base = 1
                    in_folder.append(e)
                else:
                    missing.append(e)
            self._rows.extend((len(self._lists) - 1, e.line_no, base))
            paths.append(os.path.join(folder, e.video) if base == 1 else e.video)
        _report_bases(list_file, bases, entries, in_folder, missing)
        return paths

    def missing_reason(self, index: int, path: str) -> str:
        """Why video `index`, resolved to `path`, is not found, and what to change."""
        list_idx, line_no, base = self._rows[3 * index: 3 * index + 3]
        list_file, bases = self._lists[list_idx]
        where = f"{list_file}:{line_no}"
        if base < 0:
            return (f"file does not exist: {where} lists the absolute path {path!r} "
                    "(DATA.PATH_PREFIX and the working directory do not apply to it); fix the "
                    "line or restore the video")
        written = path[len(os.path.join(bases[base].folder, "")):]
        tried = " and ".join(f"{b.name} ({os.path.abspath(os.path.join(b.folder, written))!r})"
                             for b in bases)
        if _CWD not in bases:
            tried += ", not the working directory as DATA.PATH_PREFIX is set"
        return (f"file does not exist: {where} lists {written!r}; tried {tried}. A relative "
                "path in a list is joined to DATA.PATH_PREFIX, or taken from the working "
                "directory when DATA.PATH_PREFIX is empty (as PySlowFast): set DATA.PATH_PREFIX "
                "to the folder that holds the videos, or fix the line")


def _report_bases(list_file: str, bases: Sequence[_Base], entries: Sequence[Entry],
                  in_folder: Sequence[Entry], missing: Sequence[Entry]) -> None:
    """Log which folder a list's relative paths were taken from, and those found nowhere."""
    relative = sum(not os.path.isabs(e.video) for e in entries)
    cwd = os.getcwd()
    if in_folder:
        logger.info(
            "%s: %d of its %d relative video paths are not under the working directory %s but "
            "under the list's folder %s, and are read from there (PySlowFast would not find "
            "them), e.g. %s. Set DATA.PATH_PREFIX to %r to say so.",
            list_file, len(in_folder), relative, cwd, bases[1].folder,
            _first_few([f"{e.video!r} (line {e.line_no})" for e in in_folder], ", "),
            bases[1].folder)
    elif relative > len(missing):
        logger.info("%s: relative video paths are taken from the working directory %s "
                    "(DATA.PATH_PREFIX is empty, as in PySlowFast).", list_file, cwd)
    if missing:
        logger.warning(
            "%s: %d of its %d relative video paths are under neither %s: %s. They will be "
            "reported as missing videos; set DATA.PATH_PREFIX to the folder that holds them, or "
            "fix the lines.", list_file, len(missing), relative,
            " nor ".join(f"{b.name} {os.path.abspath(b.folder)}" for b in bases),
            _first_few([f"{e.video!r} (line {e.line_no})" for e in missing], ", "))
