"""The stage-2 seam: refiners that look again at the frames the gate escalates.

A refiner gets each escalated frame's context (pixels on demand) and the classical flags, and returns
the flags to keep: it may confirm one, rename it, veto it, or add its own (with `stage="deep"`).
`build(cfg, models)` returns None when what it needs (its model) is absent, so a kiosk without deep
models runs the cheap stage alone. Registered like detectors; its event types and config section are
derived the same way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from core.detector import Flag, _check_plugin
from core.events import EventSpec, register_event_type, unregister_owner
from core.settings import Section


class Refiner(ABC):
    name: ClassVar[str]
    Settings: ClassVar[type[Section] | None] = None
    events: ClassVar[dict[str, EventSpec]] = {}

    @classmethod
    def build(cls, cfg: Section | None, models: dict[str, Any]) -> "Refiner | None":
        return cls()

    @abstractmethod
    def refine(self, ctx, flags: list[Flag]) -> list[Flag]:
        """`ctx`: core.context.FrameContext of an escalated frame; returns the flags that stand."""


_REFINERS: dict[str, type[Refiner]] = {}


def register_refiner(cls: type[Refiner]) -> type[Refiner]:
    _check_plugin(cls, "refiner")
    if cls.name in _REFINERS and _REFINERS[cls.name] is not cls:
        raise ValueError(f"a refiner named {cls.name!r} is already registered")
    for event_type, spec in cls.events.items():
        register_event_type(event_type, spec, f"refiner {cls.name}")
    _REFINERS[cls.name] = cls
    return cls


def unregister_refiner(name: str) -> None:
    _REFINERS.pop(name, None)
    unregister_owner(f"refiner {name}")


def refiners() -> list[type[Refiner]]:
    return list(_REFINERS.values())
