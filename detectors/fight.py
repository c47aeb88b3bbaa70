"""Fight: a score from the motion and flow statistics of the last `window_s` seconds.

The window is summarised every `hop_s` seconds, not every frame: a fight lasts seconds, and the
classifier call is the only non-trivial cost here. Scoring starts once `min_window_s` of footage is
in the window, not when it is full, and it does not wait for the motion detector's background: the
classifier reads flow statistics, which need no background, and a fight can start a second after
someone walks in (a 2-second clip never fills a 2-second window after calibration).

`last_score` is the live score that decides the flag; `peak_score` its maximum since the detector
was built (not cleared by `reset`), which is what `evaluate` reports per clip: a clip raises a
fight event exactly when its peak reaches the threshold.
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
        size = max(2, round(cfg.window_s * fps))
        self.window = FeatureWindow(size, n_features)
        self._min_rows = min(size, max(2, round(cfg.min_window_s * fps)))
        self._hop = max(1, round(cfg.hop_s * fps))
        self._fg = fg_column
        self._since = 0
        self._scored = False
        self.last_score = 0.0
        self.peak_score = 0.0
        self.calls = 0

    def is_calibrating(self) -> bool:
        return len(self.window) < self._min_rows

    def reset(self) -> None:
        self.window.clear()
        self._since = 0
        self._scored = False
        self.last_score = 0.0

    def detect(self, row, bbox=None) -> Flag | None:
        self.window.push(row)
        self._since += 1
        if self.is_calibrating():
            return None
        if self._scored and self._since < self._hop:
            return self._flag(bbox)  # between hops the last score holds
        self._since = 0
        self._scored = True
        if self.window.column_mean(self._fg) < self.cfg.min_motion_frac:
            self.last_score = 0.0
        else:
            self.calls += 1
            self.last_score = float(self.model.decision_scores(self.window.summary()[None, :])[0])
        self.peak_score = max(self.peak_score, self.last_score)
        return self._flag(bbox)

    def _flag(self, bbox) -> Flag | None:
        if self.last_score >= self.threshold:
            return Flag("fight", score=self.last_score, bbox=bbox)
        return None
