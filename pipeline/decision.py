"""From per-frame flags to events: one event when a condition starts, repeated only after a cooldown.

A flag that flickers on and off within `clear_s` belongs to one episode; a security engineer wants
one SMS per incident, not one per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

from detectors.base import Flag
from pipeline.config import EventsConfig
from pipeline.events import Event


@dataclass
class _Episode:
    last_seen_s: float
    last_emitted_s: float
    peak: float


class Decision:
    def __init__(self, cfg: EventsConfig):
        self.cfg = cfg
        self._open: dict[str, _Episode] = {}

    def update(self, flags: list[Flag], frame: int, time_s: float, to_source: float, stage: str = "classical",
               state: str = "unknown") -> list[Event]:
        """`to_source` converts a flag's bbox into source pixels."""
        events = []
        for flag in flags:
            ep = self._open.get(flag.type)
            emit = ep is None or time_s - ep.last_emitted_s >= self.cfg.cooldown_s
            if ep is None:
                ep = self._open[flag.type] = _Episode(time_s, time_s, flag.score)
            ep.last_seen_s = time_s
            ep.peak = max(ep.peak, flag.score)
            if emit:
                ep.last_emitted_s = time_s
                bbox = None if flag.bbox is None else [int(round(v * to_source)) for v in flag.bbox]
                events.append(Event(flag.type, frame, time_s, bbox, flag.score, stage, state, dict(flag.extra)))
        for name in [n for n, ep in self._open.items() if time_s - ep.last_seen_s > self.cfg.clear_s]:
            del self._open[name]
        return events

    def active(self) -> set[str]:
        return set(self._open)
