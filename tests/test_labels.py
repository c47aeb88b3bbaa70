"""`datasets.labelled.read_labels`: the contract's labels.csv, read strictly (../shared/CONTRACT.md)."""

from __future__ import annotations

import re

import pytest

from conftest import shared
from core.errors import UserError
from datasets.labelled import read_labels


def folder_with(tmp_path, text: str, files=("a.mp4", "b.mp4", "c.mp4"), encoding="utf-8"):
    """A labelled folder: tiny dummy files and `labels.csv` holding `text`."""
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "labels.csv").write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return str(tmp_path)


def error(folder: str, task, *needles: str) -> str:
    with pytest.raises(UserError) as info:
        read_labels(folder, task)
    msg = str(info.value)
    assert "\n" not in msg, msg
    for n in needles:
        assert n in msg, msg
    return msg


def at_line(folder: str, n: int) -> str:
    return f"{folder}/labels.csv:{n}:"


# ---- what reads -------------------------------------------------------------------------------

def test_clips_read_with_paths_labels_and_groups(tmp_path):
    folder = folder_with(tmp_path, "clip,label,source_video\na.mp4,fight,v1\nb.mp4,normal,v1\n\nc.mp4,normal,\n")
    items = read_labels(folder, "fight")
    assert [(it.rel, it.label, it.group, it.y) for it in items] == [
        ("a.mp4", "fight", "v1", 1), ("b.mp4", "normal", "v1", 0), ("c.mp4", "normal", "c.mp4", 0)]
    assert items[0].path == str(tmp_path / "a.mp4")


def test_group_column_is_found_by_name_not_position(tmp_path):
    # A notes column after the group column must not become the group.
    folder = folder_with(tmp_path, "clip,label,source_video,notes\n"
                                   "a.mp4,fight,v1,shaky camera\nb.mp4,normal,v1,\nc.mp4,normal,v2,night\n")
    assert [it.group for it in read_labels(folder, "fight")] == ["v1", "v1", "v2"]


def test_group_column_may_come_before_other_columns(tmp_path):
    folder = folder_with(tmp_path, "image,label,boxes,source_group,notes\n"
                                   "a.jpg,weapon,a.txt,g1,x\nb.jpg,no_weapon,b.txt,g1,y\n",
                         files=("a.jpg", "b.jpg", "a.txt", "b.txt"))
    items = read_labels(folder, "weapon")
    assert [(it.label, it.group, it.y) for it in items] == [("weapon", "g1", 1), ("no_weapon", "g1", 0)]


def test_without_a_group_column_the_item_is_its_own_group(tmp_path):
    # `original_name` (face_mask) or any other extra column is not a group.
    folder = folder_with(tmp_path, "image,label,original_name\na.jpg,covered,same.jpg\nb.jpg,uncovered,same.jpg\n",
                         files=("a.jpg", "b.jpg"))
    assert [it.group for it in read_labels(folder, "face")] == ["a.jpg", "b.jpg"]


def test_task_none_reads_any_label_but_needs_the_header(tmp_path):
    folder = folder_with(tmp_path, "clip,label\na.mp4,covered_lens\nb.mp4,\n")
    assert [(it.rel, it.label) for it in read_labels(folder, None)] == [("a.mp4", "covered_lens"), ("b.mp4", "")]
    (tmp_path / "labels.csv").write_text("video,state\na.mp4,x\n")
    error(folder, None, at_line(folder, 1), "clip|image,label", "video,state")


def test_byte_order_mark_is_not_part_of_the_header(tmp_path):
    folder = folder_with(tmp_path, "\ufeffclip,label\na.mp4,fight\nb.mp4,normal\n")
    assert len(read_labels(folder, "fight")) == 2


# ---- header -----------------------------------------------------------------------------------

@pytest.mark.parametrize("task, header, expected", [
    ("fight", "image,label", "clip,label"),          # an image folder given to the clip task
    ("fight", "path,label", "clip,label"),
    ("fight", "label,clip", "clip,label"),
    ("fight", "clip", "clip,label"),
    ("face", "clip,label", "image,label"),
    ("weapon", "image,label", "image,label,boxes"),   # boxes missing
    ("weapon", "image,label,source_group,boxes", "image,label,boxes"),  # boxes must be third
])
def test_header_that_is_not_the_contracts_is_an_error(tmp_path, task, header, expected):
    folder = folder_with(tmp_path, f"{header}\na.mp4,fight,x,y\n")
    msg = error(folder, task, at_line(folder, 1), f"expected a header {expected}", f"found {header}")
    assert f"task {task}" in msg


def test_header_naming_a_column_twice_is_an_error(tmp_path):
    folder = folder_with(tmp_path, "clip,label,source_video,source_video\na.mp4,fight,v1,v2\n")
    error(folder, "fight", at_line(folder, 1), "'source_video' appears twice")


def test_headerless_file_is_an_error(tmp_path):
    # The first row is data, not a header: said as such, not read as a header silently.
    folder = folder_with(tmp_path, "a.mp4,fight\nb.mp4,normal\n")
    error(folder, "fight", at_line(folder, 1), "expected a header clip,label", "found a.mp4,fight")


# ---- rows -------------------------------------------------------------------------------------

def test_row_with_too_few_fields_names_its_line(tmp_path):
    folder = folder_with(tmp_path, "clip,label\na.mp4,fight\n\nb.mp4\n")
    error(folder, "fight", at_line(folder, 4), "1 field(s), expected at least 2 (clip,label)")


def test_weapon_row_without_boxes_names_its_line(tmp_path):
    folder = folder_with(tmp_path, "image,label,boxes\na.jpg,weapon\n", files=("a.jpg",))
    error(folder, "weapon", at_line(folder, 2), "expected at least 3 (image,label,boxes)")


def test_weapon_boxes_file_must_exist(tmp_path):
    folder = folder_with(tmp_path, "image,label,boxes\na.jpg,weapon,labels/a.txt\n", files=("a.jpg",))
    error(folder, "weapon", at_line(folder, 2), "boxes file not found", "labels/a.txt")
    (tmp_path / "labels.csv").write_text("image,label,boxes\na.jpg,weapon,\n")
    error(folder, "weapon", at_line(folder, 2), "empty boxes")


def test_row_with_more_fields_than_the_header_is_an_error(tmp_path):
    # An unquoted comma would shift every later column (here the group) without a word.
    folder = folder_with(tmp_path, "clip,label,source_video\na.mp4,fight,v1\nb.mp4,normal,Bus, night\n")
    error(folder, "fight", at_line(folder, 3), "4 fields but the header has 3")


def test_line_numbers_count_quoted_line_breaks(tmp_path):
    folder = folder_with(tmp_path, 'clip,label,source_video,notes\na.mp4,fight,v1,"two\nlines"\nb.mp4,brawl,v1,\n')
    error(folder, "fight", at_line(folder, 4), "'brawl'")


def test_unknown_label_is_an_error(tmp_path):
    folder = folder_with(tmp_path, "clip,label\na.mp4,fight\nb.mp4,Fight\n")
    error(folder, "fight", at_line(folder, 3), "'Fight'", "['fight', 'normal']", "task fight")


def test_empty_path_is_an_error(tmp_path):
    folder = folder_with(tmp_path, "clip,label\n,fight\n")
    error(folder, "fight", at_line(folder, 2), "empty clip path")


def test_same_path_with_another_label_names_both_lines(tmp_path):
    folder = folder_with(tmp_path, "clip,label\na.mp4,fight\nb.mp4,normal\n./a.mp4,normal\n")
    error(folder, "fight", at_line(folder, 4), "'fight' on line 2", "'normal' on line 4")


def test_exact_duplicate_row_is_an_error(tmp_path):
    folder = folder_with(tmp_path, "clip,label,source_video\na.mp4,fight,v1\nb.mp4,normal,v2\na.mp4,fight,v1\n")
    error(folder, "fight", at_line(folder, 4), "listed twice", "lines 2 and 4", "count twice")


def test_duplicates_are_refused_with_task_none_too(tmp_path):
    folder = folder_with(tmp_path, "clip,label\na.mp4,x\na.mp4,y\n")
    error(folder, None, at_line(folder, 3), "on line 2", "on line 3")


# ---- kept: folder, file, encoding -------------------------------------------------------------

def test_missing_folder(tmp_path):
    error(str(tmp_path / "nope"), "fight", "dataset folder not found", "nope")


def test_missing_labels_csv(tmp_path):
    error(str(tmp_path), "fight", "no labels.csv", str(tmp_path))


def test_missing_file(tmp_path):
    folder = folder_with(tmp_path, "clip,label\na.mp4,fight\nmissing.mp4,normal\n")
    error(folder, "fight", at_line(folder, 3), "file not found", "missing.mp4")


def test_empty_file(tmp_path):
    folder = folder_with(tmp_path, "")
    error(folder, "fight", "labels.csv", "empty file")


def test_header_only_has_no_items(tmp_path):
    folder = folder_with(tmp_path, "clip,label\n\n")
    error(folder, "fight", "labels.csv", "no labelled items")


def test_not_utf8_names_the_line(tmp_path):
    folder = folder_with(tmp_path, "clip,label\na.mp4,fight\nb\xe9.mp4,normal\n", encoding="latin-1")
    error(folder, "fight", at_line(folder, 3), "not UTF-8")


def test_nul_byte_is_one_line_error(tmp_path):
    folder = folder_with(tmp_path, b"clip,label\na.mp4,fi\0ght\n")
    msg = error(folder, "fight", "labels.csv")
    assert re.search(r"labels\.csv:\d+:", msg)


def test_unknown_task_is_a_bug_not_a_user_error(tmp_path):
    folder = folder_with(tmp_path, "clip,label\na.mp4,fight\n")
    with pytest.raises(ValueError):
        read_labels(folder, "tamperr")


# ---- the real data sets still read ------------------------------------------------------------

@pytest.mark.parametrize("sub, task, n, groups", [
    ("fight_surv", "fight", 200, "source_video"),
    ("face_mask/train", "face", 1315, None),
    ("face_mask/val", "face", 142, None),
    ("weapon", "weapon", 1428, "source_group"),
    ("fight_surv", None, 200, "source_video"),
])
def test_real_labelled_folders_read(sub, task, n, groups):
    folder = shared(*sub.split("/"))
    items = read_labels(folder, task)
    assert len(items) == n
    if task is not None:
        assert {it.y for it in items} == {0, 1}
    if groups is None:
        assert all(it.group == it.rel for it in items)
    else:
        assert all(it.group != it.rel for it in items)
    if sub == "fight_surv":
        assert len({it.group for it in items}) < n  # several clips share a source video
