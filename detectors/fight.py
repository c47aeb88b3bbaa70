"""Fight: a score from the motion and flow statistics of the last `window_s` seconds.

The window is summarised every `hop_s` seconds, not every frame: a fight lasts seconds, and the
classifier call is the only non-trivial cost here.
"""

from __future__ import annotations

from typing import Any

from detectors.base import Flag
from features.window import FeatureWindow
from pipeline.config import FightConfig


class FightDetector:
    """`detect(row, bbox)` once per frame -> Flag or None; `model` has decision_scores() and threshold_."""

    def __init__(self, cfg: FightConfig, fps: float, n_features: int, model: Any, fg_column: int = 0):
        self.cfg = cfg
        self.model = model
        self.threshold = cfg.threshold if cfg.threshold is not None else float(model.threshold_)
        self.window = FeatureWindow(max(2, round(cfg.window_s * fps)), n_features)
        self._hop = max(1, round(cfg.hop_s * fps))
        self._fg = fg_column
        self._since = 0
        self.last_score = 0.0
        self.calls = 0

    def is_calibrating(self) -> bool:
        return len(self.window) < self.window.size

    def reset(self) -> None:
        self.window.clear()
        self._since = 0
        self.last_score = 0.0

    def detect(self, row, bbox=None) -> Flag | None:
        self.window.push(row)
        self._since += 1
        if self.is_calibrating() or self._since < self._hop:
            return self._flag(bbox)
        self._since = 0
        if self.window.column_mean(self._fg) < self.cfg.min_motion_frac:
            self.last_score = 0.0
        else:
            self.calls += 1
            self.last_score = float(self.model.decision_scores(self.window.summary()[None, :])[0])
        return self._flag(bbox)

    def _flag(self, bbox) -> Flag | None:
        if self.last_score >= self.threshold and not self.is_calibrating():
            return Flag("fight", score=self.last_score, bbox=bbox)
        return None
