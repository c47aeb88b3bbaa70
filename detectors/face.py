"""Face visibility: the person at the machine must show an uncovered face.

For the person nearest the camera (the largest box in `ctx.people`), at most `update_hz` times a
second, the head (the top `head_frac` of their box) is cut from the source frame at its own
resolution and checked (`FaceCheck`): OpenCV's frontal-face cascade looks for a face, and the face
model (classifiers/face_model.py, task `face`) gives P(covered) of the face, or of the whole head
region when the cascade finds none. Without a trained model, a face the cascade finds counts as
uncovered and no face as not seen.

A person present for `timeout_s` without one uncovered face seen raises `face_covered` (a warning), which
starts the door flow (pipeline/responder.py). Nobody in view for `absent_s` ends the visit. People
narrower than `min_person_px` are too far away for a face to be judged, and do not count as present.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from core.detector import Detector, Flag, register
from core.events import WARNING, EventSpec
from core.settings import Section
from features.face_region import FaceDescriber


class FaceConfig(Section):
    """Face visibility of the person at the machine; see detectors/face.py."""

    enabled: bool = Field(True, description="check that the customer's face is visible and uncovered")
    timeout_s: float = Field(8.0, gt=0, le=600,
                             description="a person present this long without a visible, uncovered face raises "
                                         "face_covered")
    update_hz: float = Field(2.0, gt=0, le=30, description="face checks a second, at most")
    head_frac: float = Field(0.45, gt=0.05, le=1, description="the top fraction of a person's box searched for the face")
    absent_s: float = Field(1.0, ge=0, le=60, description="nobody in view this long ends the visit")
    min_person_px: int = Field(48, ge=8, le=4000,
                               description="people narrower than this (source pixels) are too far to judge a "
                                           "face: not counted as present")
    min_covered_prob: float | None = Field(None, ge=0, le=1,
                                           description="P(covered) from which a face counts as covered; empty: "
                                                       "the trained model's threshold")


class FaceCheck:
    """One head region -> (P(covered), face box or None, uncovered?): the check the detector makes on
    the kiosk and `evaluate --task face` makes on each image."""

    def __init__(self, model: Any | None, threshold: float | None = None):
        self.describer = FaceDescriber()
        self.model = model
        self.threshold = threshold if threshold is not None else getattr(model, "threshold_", 0.5)

    def describe(self, grey: np.ndarray):
        return self.describer(grey)

    def covered_proba(self, X) -> np.ndarray:
        """P(covered) of descriptors (rows of `describe`); the model's, so None without one."""
        return self.model.covered_proba(X)

    def __call__(self, grey: np.ndarray) -> tuple[float, tuple[int, int, int, int] | None, bool]:
        if self.model is None:
            box = self.describer.find(grey)
            return (0.0 if box is not None else 1.0), box, box is not None
        x, box = self.describer(grey)
        p = float(self.covered_proba(x)[0])
        return p, box, p < self.threshold


@register
class FaceDetector(Detector):
    name = "face"
    needs = ("people",)
    Settings = FaceConfig
    events = {"face_covered": EventSpec(WARNING, escalate=True, repeat=False,
                                        description="a person at the machine with no visible, uncovered face")}

    def __init__(self, cfg: FaceConfig, fps: float, models: dict[str, Any] | None = None):
        super().__init__(cfg, fps)
        self.check = FaceCheck((models or {}).get("face"), cfg.min_covered_prob)
        self.checks = 0
        self.reset()

    def reset(self) -> None:
        self._visit_start: float | None = None
        self._last_present = -1e9
        self._last_uncovered: float | None = None
        self._next_check = 0.0
        self._p = 1.0
        self._head: tuple[int, int, int, int] | None = None

    def detect(self, ctx) -> list[Flag]:
        t = ctx.time_s
        # A face too small to see is no evidence either way: such a person is not judged.
        near = [p for p in ctx.people or () if p.box[2] * ctx.to_source >= self.cfg.min_person_px]
        if not near:
            if t - self._last_present > self.cfg.absent_s:
                self._visit_start = self._last_uncovered = self._head = None
                self._p = 1.0
            return []
        if self._visit_start is None:
            self._visit_start = t
        self._last_present = t
        if t >= self._next_check:
            self._next_check = t + 1.0 / self.cfg.update_hz
            self._look(ctx, max(near, key=lambda p: p.box[2] * p.box[3]))
        since = self._visit_start if self._last_uncovered is None else self._last_uncovered
        covered_s = t - since
        if covered_s < self.cfg.timeout_s:
            return []
        return [Flag("face_covered", score=self._p, bbox=self._head, extra={"covered_s": round(covered_s, 2)})]

    def _look(self, ctx, person) -> None:
        x, y, w, h = person.box
        pad = 0.1 * w
        head = (int(x - pad), int(y), int(w + 2 * pad), max(1, int(round(h * self.cfg.head_frac))))
        grey = ctx.source_crop(head)
        if grey is None:
            return
        self.checks += 1
        p, _, uncovered = self.check(grey)
        self._p, self._head = p, head
        if uncovered:
            self._last_uncovered = ctx.time_s
