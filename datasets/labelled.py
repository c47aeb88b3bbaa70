"""Labelled folders as the contract defines them: `labels.csv`, first column a relative path, second the label."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass

from pipeline.errors import UserError

POSITIVE = {"fight": "fight", "face": "covered", "weapon": "weapon"}
NEGATIVE = {"fight": "normal", "face": "uncovered", "weapon": "no_weapon"}


@dataclass(frozen=True)
class Item:
    path: str       # absolute path
    rel: str        # as written in labels.csv
    label: str
    group: str      # source video / source group when given, else the item itself

    @property
    def y(self) -> int:
        return int(self.label in POSITIVE.values())


def read_labels(folder: str, task: str | None) -> list[Item]:
    """Read and check `folder/labels.csv` for `task`; every problem is a UserError naming the line.

    `task` None reads the paths only (any label, or none): for evaluations that need footage, not labels.
    """
    if not os.path.isdir(folder):
        raise UserError(f"dataset folder not found: {folder}")
    path = os.path.join(folder, "labels.csv")
    if not os.path.isfile(path):
        raise UserError(f"dataset has no labels.csv: {path}")
    allowed = None if task is None else {POSITIVE[task], NEGATIVE[task]}
    need = 1 if task is None else 2
    items: list[Item] = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if not header or len(header) < need:
                raise UserError(f"{path}: expected a header with at least {need} column(s) (path,label)")
            for lineno, row in enumerate(reader, start=2):
                if not row or not "".join(row).strip():
                    continue
                if len(row) < need:
                    raise UserError(f"{path}:{lineno}: expected path,label")
                rel, label = row[0].strip(), row[1].strip() if len(row) > 1 else ""
                if allowed is not None and label not in allowed:
                    raise UserError(f"{path}:{lineno}: label {label!r} is not one of {sorted(allowed)} (task {task})")
                full = os.path.join(folder, rel)
                if not os.path.isfile(full):
                    raise UserError(f"{path}:{lineno}: file not found: {full}")
                group = row[-1].strip() if len(row) >= 3 and row[-1].strip() else rel
                items.append(Item(full, rel, label, group))
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    if not items:
        raise UserError(f"{path}: no labelled items")
    return items
