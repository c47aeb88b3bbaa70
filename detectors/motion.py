"""Moving objects by rolling-average background subtraction, with a guard against lighting changes.

Per frame: (optional) 3x3 zero-padded median, |frame - background|, a global threshold (Otsu,
iterative or fixed, never below a floor), closing with a disk, connected components. The background
is a running average (cv2.accumulateWeighted) updated fast where the scene is background and slowly
under foreground, so a customer standing at the ATM does not melt into the wall within seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from features.preprocess import GlobalThreshold, ZeroPaddedMedian
from pipeline.config import MotionConfig, ThresholdConfig


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


@dataclass
class MotionResult:
    grey: np.ndarray          # the motion-size grey frame after preprocessing (reused: valid until the next frame)
    mask: np.ndarray          # closed foreground mask, 0/255
    blobs: list[Blob]
    fg_ratio: float
    threshold: float
    global_change: bool       # lighting switch / IR mode / camera auto-exposure: relearning, not motion
    calibrating: bool


class MotionDetector:
    """`detect(grey)` on a motion-size uint8 frame -> MotionResult."""

    def __init__(self, cfg: MotionConfig | None = None):
        self.cfg = cfg or MotionConfig()
        self.use_threshold(self.cfg.threshold)
        r = self.cfg.close_radius
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)) if r > 0 else None
        self._median = ZeroPaddedMedian()
        self._bg: np.ndarray | None = None
        self._f32: np.ndarray | None = None
        self._diff: np.ndarray | None = None
        self._calibrate_left = self.cfg.calibrate_frames
        self._bg_mean = 0.0
        self.recalibrations = 0

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
            return MotionResult(img, empty, [], fg_ratio, t, True, True)

        if self._kernel is not None:
            mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, self._kernel)
        bgmask = cv2.bitwise_not(mask)
        cv2.accumulateWeighted(f32, self._bg, self.cfg.bg_alpha, mask=bgmask)
        if self.cfg.fg_alpha > 0:
            cv2.accumulateWeighted(f32, self._bg, self.cfg.fg_alpha, mask=mask)
        self._bg_mean += self.cfg.bg_alpha * (mean - self._bg_mean)

        calibrating = self._calibrate_left > 0
        if calibrating:
            self._calibrate_left -= 1
            return MotionResult(img, mask, [], fg_ratio, t, False, True)

        n, _, stats, cents = cv2.connectedComponentsWithStats(mask, connectivity=8, ltype=cv2.CV_16U)
        # Plain Python over the rows: a handful of components, where numpy's per-call cost would dominate.
        min_area = self.cfg.min_blob_frac * mask.size
        blobs = []
        if n > 1:
            for s, c in zip(stats.tolist()[1:], cents.tolist()[1:]):
                if s[4] >= min_area:
                    blobs.append(Blob(s[0], s[1], s[2], s[3], s[4], c[0], c[1]))
        return MotionResult(img, mask, blobs, fg_ratio, t, False, False)
