"""A CSV file a detector writes one row to per look, for a site to see why its footage raised or did not.

Opened when the detector is made, so that a path that cannot be written is said before any frame is read;
line-buffered, so that each row is on disk as soon as it is written: a trace is read while the kiosk
runs, or after it was stopped without a goodbye.
"""

from __future__ import annotations

import csv
import os

from core.errors import UserError


class CsvTrace:
    """`write(row)`: one row of `fields` (what is missing is left empty)."""

    def __init__(self, path: str, fields: tuple[str, ...], what: str = "trace_file"):
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            self._fh = open(path, "w", newline="", encoding="utf-8", buffering=1)
        except OSError as exc:
            raise UserError(f"invalid config: {what} {path} cannot be written: {exc.strerror or exc}") from None
        self._writer = csv.DictWriter(self._fh, fieldnames=list(fields), lineterminator="\n")
        self._writer.writeheader()

    def write(self, row: dict) -> None:
        self._writer.writerow(row)

    def __del__(self):
        # A detector has no end of its own: the file is closed with it (every row is on disk already).
        fh = getattr(self, "_fh", None)   # absent when the open failed
        if fh is not None:
            fh.close()
