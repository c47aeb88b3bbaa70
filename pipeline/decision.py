"""From per-frame flags to events: an episode per event type, with a start and an end (like
Frigate's `new`/`end` events); per event type and key where a detector tells apart conditions of one
type seen at once (`Flag.key`: a skimmer on each of two machines), the key in both records' `key`.

A flag that flickers on and off within `clear_s` belongs to one episode; a security engineer wants
one SMS per incident, not one per frame. The start is the record that alerts; while the condition
lasts it is repeated only after `cooldown_s` (never for a type whose spec says `repeat=False`). When
the condition has been absent for `clear_s` (or the footage ends), the episode closes with an end
record: `"phase": "end"`, its `duration_s` (first to last frame the condition was seen) and its peak
score.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from core.detector import Flag
from core.events import END, Event, once_per_episode_types
from core.settings import Section


class EventsConfig(Section):
    cooldown_s: float = Field(10.0, ge=0, description="the same event type is not repeated within this time")
    clear_s: float = Field(3.0, ge=0, description="a condition absent this long ends its episode")


def _scaled(bbox, to_source: float) -> list[int] | None:
    return None if bbox is None else [int(round(v * to_source)) for v in bbox]


@dataclass
class _Episode:
    started_s: float
    last_seen_s: float
    last_emitted_s: float
    peak: float
    stage: str
    bbox: tuple | None        # the latest flag's box, in the flag's (motion) pixels
    to_source: float


class Decision:
    def __init__(self, cfg: EventsConfig):
        self.cfg = cfg
        self._open: dict[tuple[str, str | None], _Episode] = {}   # (type, key) -> its episode
        self._once = once_per_episode_types()  # read once, as the gate reads its escalation set

    def update(self, flags: list[Flag], frame: int, time_s: float, to_source: float,
               state: str = "unknown") -> list[Event]:
        """`to_source` converts a flag's bbox into source pixels."""
        events = []
        for flag in flags:
            key = (flag.type, flag.key)
            ep = self._open.get(key)
            emit = ep is None or (flag.type not in self._once and time_s - ep.last_emitted_s >= self.cfg.cooldown_s)
            if ep is None:
                ep = self._open[key] = _Episode(time_s, time_s, time_s, flag.score, flag.stage, flag.bbox,
                                                to_source)
            ep.last_seen_s = time_s
            ep.peak = max(ep.peak, flag.score)
            ep.stage = flag.stage
            if flag.bbox is not None:
                ep.bbox = flag.bbox  # kept as flagged; scaled only for a record that is written
            if emit:
                ep.last_emitted_s = time_s
                extra = dict(flag.extra) if flag.key is None else {**flag.extra, "key": flag.key}
                events.append(Event(flag.type, frame, time_s, _scaled(flag.bbox, to_source), flag.score, flag.stage,
                                    state, extra, flag.images() if flag.images else {}))
        for key in [k for k, ep in self._open.items() if time_s - ep.last_seen_s > self.cfg.clear_s]:
            events.append(self._end(key, frame, time_s, state))
        return events

    def finish(self, frame: int, time_s: float, state: str = "unknown") -> list[Event]:
        """The footage ended: close every open episode."""
        return [self._end(key, frame, time_s, state) for key in list(self._open)]

    def _end(self, key: tuple[str, str | None], frame: int, time_s: float, state: str) -> Event:
        ep = self._open.pop(key)
        extra = {"phase": END, "duration_s": round(ep.last_seen_s - ep.started_s, 3)}
        if key[1] is not None:
            extra["key"] = key[1]
        return Event(key[0], frame, time_s, _scaled(ep.bbox, ep.to_source), ep.peak, ep.stage, state, extra)

    def active(self) -> set[str]:
        return {t for t, _ in self._open}
