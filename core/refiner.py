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

from core.detector import Flag, register_plugin, unregister_plugin
from core.events import EventSpec
from core.registry import Registry
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

    def summary(self) -> str:
        """One line on what it did so far (the demo prints it)."""
        return self.name


_REFINERS: Registry[type[Refiner]] = Registry("refiner")


def register_refiner(cls: type[Refiner]) -> type[Refiner]:
    return register_plugin(_REFINERS, cls, "refiner")


def unregister_refiner(name: str) -> None:
    unregister_plugin(_REFINERS, name, "refiner")


def refiners() -> list[type[Refiner]]:
    return _REFINERS.values()
