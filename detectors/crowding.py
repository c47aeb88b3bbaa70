"""Crowding: more person-sized moving blobs in the booth than allowed (one, in a booth)."""

from __future__ import annotations

import statistics
from collections import deque

from detectors.base import Flag
from detectors.motion import Blob
from pipeline.config import CrowdingConfig


def union_bbox(blobs: list[Blob]) -> tuple[int, int, int, int] | None:
    if not blobs:
        return None
    x0 = min(b.x for b in blobs)
    y0 = min(b.y for b in blobs)
    x1 = max(b.x + b.w for b in blobs)
    y1 = max(b.y + b.h for b in blobs)
    return (x0, y0, x1 - x0, y1 - y0)


class CrowdingDetector:
    """`detect(blobs, frame_area)` -> Flag or None; the median count over `persist_s` must exceed the limit.

    The median, not the maximum, because two people briefly splitting one blob (an arm, a shadow)
    or one blob dropping out for a frame must not decide either way.
    """

    def __init__(self, cfg: CrowdingConfig, fps: float):
        self.cfg = cfg
        self._counts: deque[int] = deque(maxlen=max(1, round(cfg.persist_s * fps)))

    def is_calibrating(self) -> bool:
        return len(self._counts) < self._counts.maxlen

    def reset(self) -> None:
        self._counts.clear()

    def people(self, blobs: list[Blob], frame_area: int) -> list[Blob]:
        min_area = self.cfg.person_min_frac * frame_area
        return [b for b in blobs if b.area >= min_area]

    def detect(self, blobs: list[Blob], frame_area: int) -> Flag | None:
        people = self.people(blobs, frame_area)
        self._counts.append(len(people))
        if self.is_calibrating():
            return None
        median = float(statistics.median(self._counts))  # a few dozen small ints: no numpy conversion
        if median <= self.cfg.max_people:
            return None
        return Flag("crowding", score=min(1.0, median / (self.cfg.max_people + 1)), bbox=union_bbox(people),
                    extra={"people": int(round(median))})
