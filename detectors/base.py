"""The small interface every detector shares (after Frigate's motion detector).

A detector is fed one processed frame at a time through `detect`, and says through
`is_calibrating()` when it is still learning the scene and its output should not raise alarms.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass
class Flag:
    """A condition a detector sees in this frame; the decision stage turns flags into events."""

    type: str
    score: float
    bbox: tuple[int, int, int, int] | None = None  # x, y, w, h in motion-analysis pixels
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Detector(Protocol):
    def detect(self, frame: Any) -> Any: ...

    def is_calibrating(self) -> bool: ...
