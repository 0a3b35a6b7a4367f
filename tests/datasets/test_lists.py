"""List-file helpers: encodings, quoted fields, videos listed twice, class counts."""

import logging

import pytest

from slowfast_atfr.datasets.lists import (
    Entry,
    ListFileError,
    check_class_count,
    checked_pairs,
    iter_lines,
    split_fields,
)


@pytest.mark.parametrize("line, separator, fields", [
    ("a.mp4 3", "", ["a.mp4", "3"]),
    ("my clips/a.mp4 3", "", ["my clips/a.mp4", "3"]),
    ("a.mp4,3", "", ["a.mp4", "3"]),
    ("a.mp4, 3", "", ["a.mp4", "3"]),
    ("a,b.mp4 3", "", ["a,b.mp4", "3"]),  # a comma inside the path
    ("a,b.mp4,3", "", ["a,b.mp4", "3"]),
    ('"my clips/a, b.mp4",3', "", ["my clips/a, b.mp4", "3"]),
    ('"my clips/a, b.mp4" 3', "", ["my clips/a, b.mp4", "3"]),
    ('"a b.mp4"\t3', "", ["a b.mp4", "3"]),
    ('"say ""hi"".mp4", 3', "", ['say "hi".mp4', "3"]),
    ('"a;b.mp4";3', ";", ["a;b.mp4", "3"]),
    ('"a b.mp4 3', "", ['"a b.mp4 3']),  # unclosed quote: one field, refused by the reader
])
def test_list_lines_split_into_path_and_label(line, separator, fields):
    assert split_fields(line, separator) == fields


def test_bom_and_line_endings_do_not_reach_the_fields(tmp_path):
    path = tmp_path / "list.txt"
    path.write_bytes(b"\xef\xbb\xbfa.mp4 0\r\n\r\nb.mp4 1\rc.mp4 2")
    assert list(iter_lines(str(path))) == [(1, "a.mp4 0"), (3, "b.mp4 1"), (4, "c.mp4 2")]


def test_non_utf8_byte_names_the_file_and_line(tmp_path):
    path = tmp_path / "list.txt"
    path.write_bytes(b"\xef\xbb\xbfa.mp4 0\nb.mp4 1\ncaf\xe9.mp4 2\n")
    with pytest.raises(ListFileError, match=r"0xe9 \(byte 4 of the line\) is not UTF-8; save "
                                            r"the file as UTF-8: 'caf\\\\xe9.mp4 2'") as info:
        list(iter_lines(str(path)))
    assert str(info.value).startswith(f"{path}:3:") and info.value.line_no == 3


def test_different_labels_for_one_video_are_refused():
    entries = [Entry("a.mp4", 0, 1, "label 0"), Entry("b.mp4", 1, 2, "label 1"),
               Entry("./a.mp4", 2, 5, "label 2")]
    with pytest.raises(ListFileError, match="^l.txt:5: './a.mp4' is listed at line 1 with "
                                            "label 0 and here with label 2"):
        checked_pairs("l.txt", entries)


def test_repeats_with_one_label_are_kept_and_logged(caplog):
    entries = [Entry(f"v{i % 7}.mp4", i % 7, i + 1, "") for i in range(14)]
    with caplog.at_level(logging.WARNING):
        pairs = checked_pairs("l.txt", entries)
    assert pairs == [(e.video, e.label) for e in entries]
    assert "l.txt lists videos again with the same label (repeats: 7)" in caplog.text
    assert "'v0.mp4' at lines 1 and 8" in caplog.text and "and 2 more" in caplog.text


def test_class_count_against_num_classes(caplog):
    with pytest.raises(ValueError, match="c.txt names 5 classes but MODEL.NUM_CLASSES=3; set "
                                         "MODEL.NUM_CLASSES to 5"):
        check_class_count("c.txt", 5, 3)
    with caplog.at_level(logging.WARNING):
        check_class_count("c.txt", 2, 3)
        check_class_count("c.txt", 3, 3)
    assert len(caplog.records) == 1 and "1 of the outputs belong to no class" in caplog.text
