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

import numpy as np
from pydantic import Field

from core.detector import Detector, Flag, register
from core.events import ATTACK, EventSpec
from core.settings import Section
from features.boxes import union_bbox
from features.frame_features import FRAME_FEATURES, WINDOW_FEATURES
from features.window import FeatureWindow


class FightConfig(Section):
    """Fights: a score over the last seconds of motion and flow; see detectors/fight.py."""

    window_s: float = Field(2.0, gt=0, le=60, description="the fight score looks at this many seconds of motion")
    hop_s: float = Field(0.5, gt=0, le=60, description="the score is recomputed this often")
    min_window_s: float = Field(1.0, gt=0, le=60,
                                description="scoring starts once the window holds this much footage (after a start "
                                            "or a lighting change), also while the background is still learning: "
                                            "a fight can begin a second after someone walks in")
    threshold: float | None = Field(None, ge=0, le=1,
                                    description="override the threshold saved with the model (None: use the model's)")
    min_motion_frac: float = Field(0.01, ge=0, lt=1, description="no fight is scored on a scene this still")


@register
class FightDetector(Detector):
    """Scores the window every hop with `models["fight"]` (decision_scores() and threshold_), or with
    the built-in rule when no model was trained."""

    name = "fight"
    reset_on_lighting = True  # what it learnt before a light switched was the light's
    Settings = FightConfig
    events = {"fight": EventSpec(ATTACK, escalate=True, description="people fighting")}

    def __init__(self, cfg: FightConfig, fps: float, models: dict[str, Any] | None = None):
        super().__init__(cfg, fps)
        model = (models or {}).get("fight")
        self.model = model if model is not None else BuiltinFightRule()
        self.threshold = cfg.threshold if cfg.threshold is not None else float(self.model.threshold_)
        size = max(2, round(cfg.window_s * fps))
        self.window = FeatureWindow(size, len(FRAME_FEATURES))
        self._min_rows = min(size, max(2, round(cfg.min_window_s * fps)))
        self._hop = max(1, round(cfg.hop_s * fps))
        self._fg = FRAME_FEATURES.index("fg_ratio")
        self._since = self._hop  # a hop "already passed": the first frame past calibration is scored
        self.last_score = 0.0
        self.peak_score = 0.0
        self.peak_below = 0.0   # the highest score that stayed under the threshold (evaluation reads it)
        self.calls = 0

    def is_calibrating(self) -> bool:
        return len(self.window) < self._min_rows

    def reset(self) -> None:
        self.window.clear()
        self._since = self._hop
        self.last_score = 0.0

    def detect(self, ctx) -> list[Flag]:
        flag = self.update(ctx.row)
        ctx.suspect(self.last_score, self.threshold)
        if flag is None:
            return []
        flag.bbox = union_bbox(ctx.blobs)  # only for a frame that flags: the hot path builds no box
        return [flag]

    def update(self, row) -> Flag | None:
        """One frame's row into the window; the flag while the (held) score reaches the threshold."""
        self.window.push(row)
        self._since += 1
        if self.is_calibrating():
            return None
        if self._since < self._hop:
            return self._flag()  # between hops the last score holds
        self._since = 0
        if self.window.column_mean(self._fg) < self.cfg.min_motion_frac:
            self.last_score = 0.0
        else:
            self.calls += 1
            self.last_score = float(self.model.decision_scores(self.window.summary()[None, :])[0])
        self.peak_score = max(self.peak_score, self.last_score)
        if self.last_score < self.threshold:
            self.peak_below = max(self.peak_below, self.last_score)
        return self._flag()

    def _flag(self) -> Flag | None:
        if self.last_score >= self.threshold:
            # The threshold travels with the flag: stage 2 states its own margin against it.
            return Flag("fight", score=self.last_score, extra={"threshold": self.threshold})
        return None


class BuiltinFightRule:
    """Used when no trained fight model exists: widespread motion that does not move together.

    disorder = (share of 16-px cells in motion) x (1 - flow coherence within those cells): people
    walking move their cells as one, flailing limbs do not. Counted only while blobs actually travel
    (a covered or noisy lens makes incoherent flow noise too, but moves no blob). Mapped to 0..1 by
    1 - exp(-disorder / scale), with `scale` putting 0.5 at disorder 0.02, set by hand in the upper
    tail of this measure over the normal clips of fight_surv: conservative on purpose.
    `python run.py train --task fight` replaces it with a fitted model.
    """

    threshold_ = 0.5
    _at_half = 0.02
    _min_speed = 0.05  # frame widths per second

    def __init__(self):
        self._act = WINDOW_FEATURES.index("act_c16_mean")
        self._coh = WINDOW_FEATURES.index("coh_c16_mean")
        self._speed = WINDOW_FEATURES.index("blob_speed_mean")

    def decision_scores(self, X) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, np.float64))
        disorder = X[:, self._act] * (1.0 - X[:, self._coh]) * (X[:, self._speed] >= self._min_speed)
        return 1.0 - np.exp(-np.maximum(disorder, 0.0) * np.log(2.0) / self._at_half)
