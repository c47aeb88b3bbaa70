"""The cascade that joins the stages: source frame -> classical stage -> gate -> (deep) -> decision -> events."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

from classifiers import fight_store
from classifiers.model_store import has_model
from pipeline.classical import ClassicalStage
from pipeline.config import Config
from pipeline.decision import Decision
from pipeline.errors import UserError
from pipeline.events import Event
from pipeline.gate import Gate
from sources.frame_source import Frame


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def load_models(model_dir: str | None, cfg: Config, warn: Callable[[str], None] = _stderr
                ) -> tuple[Config, dict[str, Any], dict[str, dict]]:
    """Models present in `model_dir` (checksums verified). The config adopts their feature settings
    where it leaves them at default; where the site set one itself, `warn` gets one line saying so.

    A folder that does not exist means no model (a fresh install has none); one that exists but holds
    half a model, an old pickled one, or is no folder at all, is a mistake the site must hear about,
    not a silent fallback."""
    models: dict[str, Any] = {}
    metas: dict[str, dict] = {}
    if not model_dir or not os.path.exists(model_dir):
        return cfg, models, metas
    if not os.path.isdir(model_dir):
        raise UserError(f"--model-dir {model_dir} is not a folder")
    if has_model(model_dir, fight_store.NAME):
        # Half a model or an old pickled one is refused inside load, with a line that says to
        # retrain: falling back to the built-in rule would hide it.
        model, meta = fight_store.load(model_dir)
        models["fight"], metas["fight"] = model, meta
        cfg = fight_store.adopt_feature_config(cfg, meta, model_dir, warn)
    return cfg, models, metas
    if not os.path.isdir(model_dir):
        raise UserError(f"--model-dir {model_dir} is not a folder")
    blob, meta_path = model_paths(model_dir, fight_store.NAME)
    if has_model(model_dir, fight_store.NAME):
        model, meta = fight_store.load(model_dir)
        models["fight"], metas["fight"] = model, meta
        cfg = fight_store.adopt_feature_config(cfg, meta, model_dir, warn)
    elif os.path.exists(blob) or os.path.exists(meta_path):
        # Half a model (a copy cut short, a file deleted): falling back to the built-in rule would hide it.
        gone = " and ".join(p for p in (blob, meta_path) if not os.path.isfile(p))
        raise UserError(f"incomplete fight model in {model_dir}: {gone} missing or not a file; retrain: "
                        f"python run.py train --task fight --dataset FOLDER --model-dir {model_dir}")
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
