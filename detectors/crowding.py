"""Crowding: more people in the booth than allowed (one, in a booth).

The count is the occupancy stage's (`ctx.people`, detectors/people.py: motion regions, the HOG people
detector and tracks); with occupancy switched off, the person-sized moving blobs.
"""

from __future__ import annotations

import statistics
from collections import deque
from typing import Any

from pydantic import Field

from core.detector import Detector, Flag, register
from core.events import WARNING, EventSpec
from core.settings import Section
from features.boxes import union_boxes
from features.motion import Blob


class CrowdingConfig(Section):
    """Crowding: more people in the booth than allowed; see detectors/crowding.py."""

    max_people: int = Field(1, ge=1, description="more people than this is crowding (1 in a booth)")
    person_min_frac: float = Field(0.02, gt=0, lt=1, description="smallest person-sized blob, fraction of the "
                                                                  "frame (only when people.enabled is false)")
    persist_s: float = Field(1.5, ge=0, le=600, description="crowding must hold for this long (median over the window)")


@register
class CrowdingDetector(Detector):
    """More people than allowed; the median count over `persist_s` must exceed the limit.

    The median, not the maximum, because two people briefly splitting one blob (an arm, a shadow)
    or one blob dropping out for a frame must not decide either way.
    """

    name = "crowding"
    reset_on_lighting = True  # what it learnt before a light switched was the light's
    Settings = CrowdingConfig
    events = {"crowding": EventSpec(WARNING, escalate=True, description="more people in the booth than allowed")}

    def __init__(self, cfg: CrowdingConfig, fps: float, models: dict[str, Any] | None = None):
        super().__init__(cfg, fps)
        self._counts: deque[int] = deque(maxlen=max(1, round(cfg.persist_s * fps)))

    def is_calibrating(self) -> bool:
        return len(self._counts) < self._counts.maxlen

    def reset(self) -> None:
        self._counts.clear()

    def people(self, blobs: list[Blob], frame_area: int) -> list[Blob]:
        min_area = self.cfg.person_min_frac * frame_area
        return [b for b in blobs if b.area >= min_area]

    def detect(self, ctx) -> list[Flag]:
        motion = ctx.motion
        if motion.calibrating:
            return []  # counting people needs the blobs, which need a background
        if ctx.people is not None:
            people = [p.box for p in ctx.people]
        else:
            people = [b.bbox for b in self.people(motion.blobs, motion.mask.size)]
        flag = self.check(people)
        return [flag] if flag else []

    def check_blobs(self, blobs: list[Blob], frame_area: int) -> Flag | None:
        """The blob-only estimate: each person-sized moving blob is a person."""
        return self.check([b.bbox for b in self.people(blobs, frame_area)])

    def check(self, people: list[tuple[int, int, int, int]]) -> Flag | None:
        """`people`: the boxes of the people in view now."""
        self._counts.append(len(people))
        if self.is_calibrating():
            return None
        median = float(statistics.median(self._counts))  # a few dozen small ints: no numpy conversion
        if median <= self.cfg.max_people:
            return None
        return Flag("crowding", score=min(1.0, median / (self.cfg.max_people + 1)), bbox=union_boxes(people),
                    extra={"people": int(round(median))})
