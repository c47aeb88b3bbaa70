"""Events as the contract writes them, and the registry of event types.

Event types are never listed by hand: each detector or stage-2 refiner declares the types it raises,
with their default severity and whether they escalate to stage 2, and registering it registers them.
The alert policy's defaults, the escalation set and the config's accepted `alerts.severity` keys are
all read from here.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any, Literal

ATTACK, WARNING = "attack", "warning"
START, END = "start", "end"


@dataclass(frozen=True)
class EventSpec:
    """What an event type is: its default severity (`alerts.severity` may override it per site) and
    whether a frame raising it escalates to stage 2."""

    severity: Literal["attack", "warning"] = WARNING
    escalate: bool = False
    description: str = ""
    # True: while the condition lasts, its start is raised again every `events.cooldown_s` (a fight that
    # goes on is worth another SMS). False: once per episode (a detector that raises once per object).
    repeat: bool = True


_TYPES: dict[str, tuple[EventSpec, str]] = {}


def register_event_type(name: str, spec: EventSpec, owner: str) -> None:
    if not name or not name.replace("_", "").isalnum() or name != name.lower():
        raise ValueError(f"event type {name!r} must be lower_snake_case")
    if spec.severity not in (ATTACK, WARNING):
        raise ValueError(f"event type {name!r}: severity must be {ATTACK!r} or {WARNING!r}")
    known = _TYPES.get(name)
    if known is not None and known[1] != owner:
        raise ValueError(f"event type {name!r} is already raised by {known[1]}")
    _TYPES[name] = (spec, owner)


def unregister_owner(owner: str) -> None:
    for name in [n for n, (_, o) in _TYPES.items() if o == owner]:
        del _TYPES[name]


def event_types() -> tuple[str, ...]:
    return tuple(_TYPES)


def event_spec(name: str) -> EventSpec | None:
    known = _TYPES.get(name)
    return known[0] if known else None


def default_severities() -> dict[str, str]:
    return {name: spec.severity for name, (spec, _) in _TYPES.items()}


def escalating_types() -> frozenset[str]:
    return frozenset(name for name, (spec, _) in _TYPES.items() if spec.escalate)


def once_per_episode_types() -> frozenset[str]:
    """Types whose start is not repeated while their condition lasts (`EventSpec.repeat=False`)."""
    return frozenset(name for name, (spec, _) in _TYPES.items() if not spec.repeat)


@dataclass
class Event:
    """One start of an episode (the record that alerts), or with `extra["phase"] == "end"` its end."""

    type: str
    frame: int
    time_s: float
    bbox: list[int] | None
    score: float
    stage: str = "classical"
    state: str = "unknown"
    extra: dict[str, Any] = field(default_factory=dict)
    # Pictures the responder keeps with the snapshot (a skimmer's before/after pair); never in the record.
    images: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def phase(self) -> str:
        return self.extra.get("phase", START)

    @property
    def is_start(self) -> bool:
        return self.phase != END

    def to_dict(self) -> dict:
        # Field by field rather than asdict: asdict would deep-copy the pictures, which never go in a record.
        d = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self) if f.name not in ("extra", "images")}
        extra = copy.deepcopy(self.extra)
        d["time_s"] = round(float(d["time_s"]), 3)
        d["score"] = round(float(d["score"]), 4)
        d.update(extra)
        return d
