"""The one interface every detector shares (after Frigate's motion detector and its detector
plugins), and the registry that finds them.

A detector declares its `name` (also its config section's key), its `Settings` (a core.settings
Section: every field with a default and a description) and the event types it raises
(`events`: type -> EventSpec). It implements `detect(ctx) -> list[Flag]`, `is_calibrating()` and
`reset()`. Registering it (`@register`) is all it takes to be built by the classical stage, to get
its config section, its event types with their severities and escalation, and its own line in
`bench`'s per-part timings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from core.events import EventSpec, register_event_type, unregister_owner
from core.registry import Registry
from core.settings import Section


@dataclass
class Flag:
    """A condition a detector (or a stage-2 refiner) sees in this frame; the decision stage turns flags into events."""

    type: str
    score: float
    bbox: tuple[int, int, int, int] | None = None  # x, y, w, h in motion-analysis pixels
    extra: dict[str, Any] = field(default_factory=dict)
    stage: str = "classical"
    # Tells apart conditions of one type that a detector sees at once (a skimmer on each of two machines):
    # each is its own episode, with its own start, evidence and end (pipeline/decision.py). None: one per type.
    key: str | None = None
    # Pictures for the evidence beside the snapshot (name -> BGR image), made only when the flag starts
    # an event: a callable, so a flag repeated on every frame allocates nothing.
    images: Callable[[], dict[str, Any]] | None = field(default=None, repr=False)


class Detector(ABC):
    name: ClassVar[str]
    Settings: ClassVar[type[Section]]
    events: ClassVar[dict[str, EventSpec]] = {}
    # True: a lighting change (the motion detector's guard) makes what the detector learnt the light's,
    # so the classical stage resets it and skips it for that frame. False (the default): it sees every
    # frame and handles the guard itself (tamper must keep watching: a covered lens often trips it).
    reset_on_lighting: ClassVar[bool] = False
    # Detectors whose output this one reads from the context (registered before it): the config
    # refuses to switch them off while this one is on.
    needs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: Section, fps: float, models: dict[str, Any] | None = None):
        self.cfg = cfg
        self.fps = fps

    @classmethod
    def enabled(cls, cfg: Section) -> bool:
        """Built only when its section says so (a section without `enabled` is always on)."""
        return bool(getattr(cfg, "enabled", True))

    @abstractmethod
    def detect(self, ctx) -> list[Flag]:
        """`ctx`: core.context.FrameContext of this frame."""

    def is_calibrating(self) -> bool:
        return False

    def reset(self) -> None:
        pass

    def check_source(self, width: int, height: int) -> None:
        """Raise core.errors.UserError when the config cannot fit a source of this picture size (a
        region drawn on another camera's snapshot): `run` asks before it watches any frame, so the user
        gets one line, not a start-up that fails on the first frame."""

    def summary(self) -> str | None:
        """One line on what it could do so far, or None (`run` prints it when it stops): where a
        check can be blinded by the camera or the scene, a site needs to see how often it was."""
        return None


_DETECTORS: Registry[type[Detector]] = Registry("detector")


def _check_plugin(cls, kind: str) -> None:
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name.isidentifier() or name != name.lower():
        raise ValueError(f"{kind} {cls.__name__} needs a lower_snake_case `name`")
    settings = getattr(cls, "Settings", None)
    if settings is not None and not (isinstance(settings, type) and issubclass(settings, Section)):
        raise ValueError(f"{kind} {name}: Settings must be a core.settings.Section")


def register_plugin(registry: Registry, cls, kind: str):
    """`cls` (a detector or a refiner) into `registry`, and the event types it declares into theirs."""
    _check_plugin(cls, kind)
    registry.add(cls.name, cls)
    for event_type, spec in cls.events.items():
        register_event_type(event_type, spec, f"{kind} {cls.name}")
    return cls


def unregister_plugin(registry: Registry, name: str, kind: str) -> None:
    registry.remove(name)
    unregister_owner(f"{kind} {name}")


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator: make a detector known to the classical stage, the config and the event registry."""
    if getattr(cls, "Settings", None) is None:
        raise ValueError(f"detector {getattr(cls, 'name', cls.__name__)}: needs a Settings class (its config section)")
    return register_plugin(_DETECTORS, cls, "detector")


def unregister(name: str) -> None:
    """Remove a detector (tests that register toys clean up after themselves)."""
    unregister_plugin(_DETECTORS, name, "detector")


def detectors() -> list[type[Detector]]:
    """Registered detectors in registration order (which is the order their flags are raised in)."""
    return _DETECTORS.values()
