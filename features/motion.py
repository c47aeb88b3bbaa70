"""Moving objects by rolling-average background subtraction, with a guard against lighting changes.

Per frame: (optional) 3x3 zero-padded median, |frame - background|, a global threshold (Otsu,
iterative or fixed, never below a floor), closing with a disk, connected components. The background
is a running average (cv2.accumulateWeighted) updated fast where the scene is background and slowly
under foreground, so a customer standing at the ATM does not melt into the wall within seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np
from pydantic import Field, model_validator

from core.settings import Section
from features.preprocess import GlobalThreshold, ZeroPaddedMedian, close, disk


class ThresholdConfig(Section):
    method: Literal["otsu", "iterative", "fixed"] = Field(
        "otsu", description="how the background-difference image is binarised; 'fixed' uses `value`")
    value: float | None = Field(None, ge=0, le=255, description="the fixed threshold, grey levels")
    floor: float = Field(15.0, ge=0, le=255,
                         description="never threshold below this: on a still scene Otsu would split sensor noise")
    ceiling: float = Field(30.0, ge=0, le=255,
                           description="never above this: one high-contrast newcomer must not make Otsu drop the others")

    @model_validator(mode="after")
    def _fixed_needs_value(self) -> "ThresholdConfig":
        if self.method == "fixed" and self.value is None:
            raise ValueError("threshold.method 'fixed' needs threshold.value")
        if self.method != "fixed" and self.value is not None:
            # Otherwise the value would be ignored without a word while Otsu or the iterative method runs.
            raise ValueError(f"threshold.value is used only with method 'fixed' (method is {self.method!r})")
        if self.ceiling < self.floor:
            raise ValueError("threshold.ceiling is below threshold.floor")
        return self


class MotionConfig(Section):
    width: int = Field(80, ge=32, le=640,
                       description="background subtraction and blobs run at this width (flow at 80 px, tamper at 160)")
    flow_every: int = Field(3, ge=1, le=10,
                            description="optical flow runs on every k-th moving frame, measured across those k frames")
    median: bool = Field(True, description="3x3 zero-padded median before background subtraction")
    bg_alpha: float = Field(0.05, gt=0, lt=1, description="rolling-average learning rate of the background")
    fg_alpha: float = Field(0.001, ge=0, lt=1,
                            description="slower rate under foreground, so a person standing still fades slowly")
    close_radius: int = Field(2, ge=0, le=15, description="radius of the disk used for morphological closing")
    min_blob_frac: float = Field(0.002, gt=0, lt=1, description="blobs smaller than this fraction of the frame are noise")
    global_change_frac: float = Field(0.55, gt=0, le=1,
                                      description="more of the frame than this changing at once is lighting, not motion")
    global_luma_jump: float = Field(25.0, gt=0, description="a mean-brightness jump this large is a lighting change")
    calibrate_frames: int = Field(15, ge=1, description="frames spent relearning the scene after start or a lighting change")
    threshold: ThresholdConfig = Field(default_factory=ThresholdConfig,
                                       description="how the background difference becomes a foreground mask")


@dataclass
class Blob:
    x: int
    y: int
    w: int
    h: int
    area: int
    cx: float
    cy: float

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.w, self.h)


def blobs_of(mask: np.ndarray, min_area: float) -> list[Blob]:
    """The 8-connected components of a 0/255 mask with at least `min_area` pixels, as blobs."""
    n, _, stats, cents = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=cv2.CV_16U)
    # Plain Python over the rows: a handful of components, where numpy's per-call cost would dominate.
    if n <= 1:
        return []
    return [Blob(s[0], s[1], s[2], s[3], s[4], c[0], c[1])
            for s, c in zip(stats.tolist()[1:], cents.tolist()[1:]) if s[4] >= min_area]


@dataclass
class MotionResult:
    grey: np.ndarray          # the motion-size grey frame after preprocessing (reused: valid until the next frame)
    mask: np.ndarray          # closed foreground mask, 0/255
    blobs: list[Blob]
    fg_ratio: float
    threshold: float
    global_change: bool       # lighting switch / IR mode / camera auto-exposure: relearning, not motion
    calibrating: bool
    # Calibrating because of a global change (from its frame on), not at start or after a reset: a
    # detector that looks at some frames only still sees that a light switched between two of its looks.
    relearning: bool = False


class MotionDetector:
    """`detect(grey)` on a motion-size uint8 frame -> MotionResult."""

    def __init__(self, cfg: MotionConfig | None = None):
        self.cfg = cfg or MotionConfig()
        self.use_threshold(self.cfg.threshold)
        self._kernel = disk(self.cfg.close_radius)
        self._median = ZeroPaddedMedian()
        self._bg: np.ndarray | None = None
        self._f32: np.ndarray | None = None
        self._diff: np.ndarray | None = None
        self._calibrate_left = self.cfg.calibrate_frames
        self._bg_mean = 0.0
        self.recalibrations = 0
        self._relearning = False   # the calibration under way follows a global change

    def is_calibrating(self) -> bool:
        return self._calibrate_left > 0

    def use_threshold(self, t: ThresholdConfig) -> None:
        """The whole threshold section (method, value, floor, ceiling), at start or on a config reload."""
        self.thresholder = GlobalThreshold(method=t.method, value=t.value, floor=t.floor, ceiling=t.ceiling)

    def set_threshold(self, value: float | None, method: str | None = None) -> None:
        """Change the threshold while running (an operator tuning a site): fixed value or a method."""
        if value is not None:
            self.thresholder.set_fixed(value)
        elif method is not None:
            self.thresholder.set_method(method)

    def reset(self) -> None:
        self._bg = None
        self._calibrate_left = self.cfg.calibrate_frames
        self._relearning = False

    def _relearn(self, f32: np.ndarray) -> None:
        self._bg = f32.copy()
        self._bg_mean = float(self._bg.mean())
        self._calibrate_left = self.cfg.calibrate_frames

    def detect(self, grey: np.ndarray) -> MotionResult:
        img = self._median(grey) if self.cfg.median else grey
        if self._f32 is None or self._f32.shape != img.shape:
            self._f32 = np.empty(img.shape, np.float32)
            self._diff = np.empty(img.shape, np.float32)
            self._empty = np.zeros(img.shape, np.uint8)  # shared, never written: the mask of "nothing moved"
            self._bg = None
        f32 = self._f32
        np.copyto(f32, img, casting="unsafe")
        empty = self._empty
        if self._bg is None:
            self._relearn(f32)
            return MotionResult(img, empty, [], 0.0, 0.0, False, True)

        cv2.absdiff(f32, self._bg, self._diff)
        diff8 = cv2.convertScaleAbs(self._diff)
        mask, t = self.thresholder.apply(diff8)
        fg_ratio = cv2.countNonZero(mask) / mask.size
        mean = float(cv2.mean(img)[0])
        if fg_ratio > self.cfg.global_change_frac or abs(mean - self._bg_mean) > self.cfg.global_luma_jump:
            # Most of the frame changed at once: a light, the IR switch or the auto-exposure, not a person.
            self._relearn(f32)
            self.recalibrations += 1
            self._relearning = True
            return MotionResult(img, empty, [], fg_ratio, t, True, True, True)

        mask = close(mask, self._kernel)
        bgmask = cv2.bitwise_not(mask)
        cv2.accumulateWeighted(f32, self._bg, self.cfg.bg_alpha, mask=bgmask)
        if self.cfg.fg_alpha > 0:
            cv2.accumulateWeighted(f32, self._bg, self.cfg.fg_alpha, mask=mask)
        self._bg_mean += self.cfg.bg_alpha * (mean - self._bg_mean)

        calibrating = self._calibrate_left > 0
        if calibrating:
            self._calibrate_left -= 1
            return MotionResult(img, mask, [], fg_ratio, t, False, True, self._relearning)
        self._relearning = False

        return MotionResult(img, mask, blobs_of(mask, self.cfg.min_blob_frac * mask.size), fg_ratio, t, False, False)
