"""The cascade that joins the stages: source frame -> classical stage -> gate -> (deep) -> decision -> events."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

from classifiers import fight_store
from classifiers.model_io import has_model
from pipeline.classical import ClassicalStage
from pipeline.config import Config
from pipeline.decision import Decision
from pipeline.events import Event
from pipeline.gate import Gate
from sources.frame_source import Frame


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def load_models(model_dir: str | None, cfg: Config, warn: Callable[[str], None] = _stderr
                ) -> tuple[Config, dict[str, Any], dict[str, dict]]:
    """Models present in `model_dir` (checksums verified). The config adopts their feature settings
    where it leaves them at default; where the site set one itself, `warn` gets one line saying so."""
    models: dict[str, Any] = {}
    metas: dict[str, dict] = {}
    if model_dir and os.path.isdir(model_dir) and has_model(model_dir, fight_store.NAME):
        model, meta = fight_store.load(model_dir)
        models["fight"], metas["fight"] = model, meta
        cfg, conflicts = fight_store.apply_feature_config(cfg, meta)
        if conflicts:
            warn(fight_store.describe_conflicts(model_dir, conflicts))
    return cfg, models, metas


class Cascade:
    def __init__(self, cfg: Config, fps: float, models: dict[str, Any] | None = None, state: str = "unknown"):
        models = models or {}
        self.cfg = cfg
        self.classical = ClassicalStage(cfg, fps, fight_model=models.get("fight"))
        self.gate = Gate()
        self.decision = Decision(cfg.events)
        self.state = state

    def process(self, frame: Frame) -> list[Event]:
        result = self.classical.process(frame.raw)
        self.gate(result)
        to_source = result.motion_scale  # the stage saw the source's own pixels
        return self.decision.update(result.flags, frame.index, frame.time_s, to_source, state=self.state)

    def status_event(self, status: dict, frame_index: int) -> Event | None:
        """A frame source's outage notice as an event (only the offline one is an alarm)."""
        if status.get("type") != "camera_offline":
            return None
        return Event("camera_offline", frame_index, float(status.get("time_s", 0.0)), None, 1.0, "classical",
                     self.state, {"down_s": round(float(status.get("down_s", 0.0)), 2)})
