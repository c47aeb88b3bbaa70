"""Events as the contract writes them: one JSON object per line, appended and flushed at once.

The Event itself and the registry of event types live in core/events.py.
"""

from __future__ import annotations

import json
import os

from core.errors import UserError
from core.events import Event  # noqa: F401  (re-exported for callers)


class EventLog:
    """Appends events to a JSON-lines file; each line is flushed and fsynced, so a crash loses none."""

    def __init__(self, path: str | None):
        self.path = path
        self._fh = None
        if path:
            try:
                os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
                self._fh = open(path, "a", encoding="utf-8")
            except OSError as exc:
                raise UserError(f"cannot append events to {path}: {exc.strerror or exc}") from None

    def write(self, event: Event) -> None:
        if self._fh is None:
            return
        self._fh.write(json.dumps(event.to_dict()) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
