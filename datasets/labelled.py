"""Labelled folders as the contract defines them: `labels.csv`, first column a relative path, second the label.

../shared/CONTRACT.md, "Labelled folders":
- clips (task `fight`): `clip,label[,source_video]`, labels `fight` / `normal`
- images (task `face`): `image,label[,...]`, labels `covered` / `uncovered`
- weapon (task `weapon`): `image,label,boxes[,...]`, labels `weapon` / `no_weapon`; `boxes` a YOLO text file

Reading is strict: a header that is not the contract's, a row with too few or too many fields, an unknown
label, a missing file, a path listed twice (with another label, or the same one: it would count twice) are
each a `UserError` of one line that names the file and the line.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

from core.errors import UserError

POSITIVE = {"fight": "fight", "face": "covered", "weapon": "weapon"}
NEGATIVE = {"fight": "normal", "face": "uncovered", "weapon": "no_weapon"}

# The contract's leading columns per task; None (paths only) takes either kind of folder.
FIRST_COLUMN = {"fight": ("clip",), "face": ("image",), "weapon": ("image",), None: ("clip", "image")}
EXTRA_REQUIRED = {"weapon": ("boxes",)}
# Columns that group items from one source (cross-validation keeps a group on one side), found by name.
GROUP_COLUMNS = ("source_video", "source_group")


@dataclass(frozen=True)
class Item:
    path: str       # absolute path
    rel: str        # as written in labels.csv
    label: str
    group: str      # source video / source group when given, else the item itself
    boxes: str = ""  # absolute path of its YOLO boxes file (task `weapon`), else empty

    @property
    def y(self) -> int:
        return int(self.label in POSITIVE.values())


def _expected_header(task: str | None) -> str:
    first = "|".join(FIRST_COLUMN[task])
    return ",".join([first, "label", *EXTRA_REQUIRED.get(task, ())]) + "[,...]"


def _check_header(path: str, header: list[str] | None, task: str | None) -> list[str]:
    expected = _expected_header(task)
    if not header or not "".join(header).strip():
        raise UserError(f"{path}:1: expected a header {expected}, found an empty line")
    names = [h.strip() for h in header]
    required = [FIRST_COLUMN[task], ("label",), *((c,) for c in EXTRA_REQUIRED.get(task, ()))]
    ok = len(names) >= len(required) and all(names[i] in allowed for i, allowed in enumerate(required))
    if not ok:
        raise UserError(f"{path}:1: expected a header {expected}"
                        f"{f' (task {task})' if task else ''}, found {','.join(names)}")
    seen = set()
    for name in names:
        if name and name in seen:
            raise UserError(f"{path}:1: column {name!r} appears twice in the header {','.join(names)}")
        seen.add(name)
    return names


def _first_bad_line(path: str) -> int:
    with open(path, "rb") as fh:
        for n, raw in enumerate(fh, start=1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return n
    return 1  # not reached for a file that failed to decode


def read_labels(folder: str, task: str | None) -> list[Item]:
    """Read and check `folder/labels.csv` for `task`; every problem is a UserError naming the line.

    `task` None reads the paths only (any label, or none): for evaluations that need footage, not labels.
    The header must still be the contract's (`clip` or `image`, then `label`).
    """
    if task not in FIRST_COLUMN:
        raise ValueError(f"unknown task {task!r}")  # a bug in the caller, not the user's data
    if not os.path.isdir(folder):
        raise UserError(f"dataset folder not found: {folder}")
    path = os.path.join(folder, "labels.csv")
    if not os.path.isfile(path):
        raise UserError(f"dataset has no labels.csv: {path}")
    allowed = None if task is None else {POSITIVE[task], NEGATIVE[task]}
    items: list[Item] = []
    first_seen: dict[str, tuple[int, str]] = {}  # normalised full path -> (line, label)
    lineno = 1
    try:
        # utf-8-sig: a spreadsheet's byte-order mark must not become part of the first column's name.
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            try:
                header = next(reader, None)
                if header is None:
                    raise UserError(f"{path}: empty file, expected a header {_expected_header(task)}")
                names = _check_header(path, header, task)
                n_required = 2 + len(EXTRA_REQUIRED.get(task, ()))
                boxes_col = names.index("boxes") if "boxes" in EXTRA_REQUIRED.get(task, ()) else None
                group_col = next((names.index(g) for g in names if g in GROUP_COLUMNS), None)
                lineno = reader.line_num + 1
                for row in reader:
                    start, lineno = lineno, reader.line_num + 1  # a quoted field may span lines
                    if not row or not "".join(row).strip():
                        continue
                    where = f"{path}:{start}"
                    if len(row) < n_required:
                        raise UserError(f"{where}: {len(row)} field(s), expected at least {n_required} "
                                        f"({','.join(names[:n_required])})")
                    if len(row) > len(names):
                        raise UserError(f"{where}: {len(row)} fields but the header has {len(names)} "
                                        f"({','.join(names)}); quote a value that contains a comma")
                    rel, label = row[0].strip(), row[1].strip()
                    if not rel:
                        raise UserError(f"{where}: empty {names[0]} path")
                    if allowed is not None and label not in allowed:
                        raise UserError(f"{where}: label {label!r} is not one of {sorted(allowed)} (task {task})")
                    full = os.path.join(folder, rel)
                    if not os.path.isfile(full):
                        raise UserError(f"{where}: file not found: {full}")
                    key = os.path.normcase(os.path.normpath(os.path.abspath(full)))
                    if key in first_seen:
                        line0, label0 = first_seen[key]
                        if label0 == label:
                            raise UserError(f"{where}: {rel} is listed twice, on lines {line0} and {start} "
                                            f"(duplicate row: it would count twice)")
                        raise UserError(f"{where}: {rel} is labelled {label0!r} on line {line0} and "
                                        f"{label!r} on line {start}")
                    first_seen[key] = (start, label)
                    boxes = ""
                    if boxes_col is not None:
                        boxes = row[boxes_col].strip()
                        if not boxes:
                            raise UserError(f"{where}: empty boxes (a YOLO text file is expected)")
                        if not os.path.isfile(os.path.join(folder, boxes)):
                            raise UserError(f"{where}: boxes file not found: {os.path.join(folder, boxes)}")
                    group = row[group_col].strip() if group_col is not None and group_col < len(row) else ""
                    items.append(Item(full, rel, label, group or rel,
                                      os.path.join(folder, boxes) if boxes else ""))
            except csv.Error as exc:
                raise UserError(f"{path}:{reader.line_num}: unreadable CSV: {exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}:{_first_bad_line(path)}: not UTF-8 text") from None
    if not items:
        raise UserError(f"{path}: no labelled items")
    return items
