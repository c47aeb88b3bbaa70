"""Events as the contract writes them: one JSON object per line, appended and flushed at once."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from pipeline.errors import UserError

EVENT_TYPES = ("crowding", "fight", "left_object", "face_covered", "loitering", "weapon", "camera_covered",
               "camera_defocused", "camera_moved", "camera_offline", "anomaly")


@dataclass
class Event:
    type: str
    frame: int
    time_s: float
    bbox: list[int] | None
    score: float
    stage: str = "classical"
    state: str = "unknown"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        extra = d.pop("extra")
        d["time_s"] = round(float(d["time_s"]), 3)
        d["score"] = round(float(d["score"]), 4)
        d.update(extra)
        return d


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
