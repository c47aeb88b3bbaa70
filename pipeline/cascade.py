"""The cascade that joins the stages: source frame -> classical stage -> gate -> stage-2 refiners ->
decision -> events."""

from __future__ import annotations

from typing import Any

from core.events import Event
from core.refiner import Refiner
from core.refiner import refiners as registered_refiners
from pipeline.classical import ClassicalStage
from pipeline.decision import Decision
from pipeline.gate import Gate
from sources.frame_source import Frame


def build_refiners(cfg, models: dict[str, Any]) -> list[Refiner]:
    """Every registered stage-2 refiner that can be built here (one whose model is absent is not)."""
    built = []
    for cls in registered_refiners():
        refiner = cls.build(getattr(cfg, cls.name, None), models)
        if refiner is not None:
            built.append(refiner)
    return built


class Cascade:
    def __init__(self, cfg, fps: float, models: dict[str, Any] | None = None, state: str = "unknown"):
        models = models or {}
        self.cfg = cfg
        self.classical = ClassicalStage(cfg, fps, models)
        self.gate = Gate(cfg.gate)
        self.refiners = build_refiners(cfg, models)
        self.decision = Decision(cfg.events)
        self.state = state
        self._last: tuple[int, float] = (0, 0.0)

    def process(self, frame: Frame) -> list[Event]:
        result = self.classical.process(frame.raw, frame.index, frame.time_s, self.state, frame)
        flags = result.flags
        # Only escalated frames reach stage 2: the per-frame path pays nothing for it otherwise.
        if self.gate(flags, result.ctx.suspicion) and self.refiners:
            for refiner in self.refiners:
                flags = refiner.refine(result.ctx, flags)
        self._last = (frame.index, frame.time_s)
        return self.decision.update(flags, frame.index, frame.time_s, result.ctx.to_source, state=self.state)

    def finish(self) -> list[Event]:
        """The footage ended: the end records of the episodes still open."""
        return self.decision.finish(*self._last, state=self.state)

    def status_event(self, status: dict, frame_index: int) -> Event | None:
        return status_event(status, frame_index, self.state)


def status_event(status: dict, frame_index: int, state: str = "unknown") -> Event | None:
    """A frame source's outage notice as an event: `camera_offline` starts the episode, and
    `camera_online` (frames are back) is its end record, with the outage's length."""
    kind, down = status.get("type"), round(float(status.get("down_s", 0.0)), 2)
    time_s = float(status.get("time_s", 0.0))
    if kind == "camera_offline":
        return Event("camera_offline", frame_index, time_s, None, 1.0, "classical", state, {"down_s": down})
    if kind == "camera_online":
        return Event("camera_offline", frame_index, time_s, None, 1.0, "classical", state,
                     {"phase": "end", "duration_s": down})
    return None
