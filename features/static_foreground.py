"""Static foreground: what stopped moving and stayed, told apart from the scene and from people moving
around it, with two backgrounds that learn at different rates (the dual-foreground idea of Porikli,
Ivanov and Haga, "Robust Abandoned Object Detection Using Dual Foregrounds", EURASIP JASP 2008).

- The long-term background learns slowly (`long_tau_s`): a bag put down stays foreground in it.
- The short-term background learns fast (`short_tau_s`): the same bag is absorbed within a second
  or two, while anything that keeps moving stays foreground in it too.
- A pixel that is foreground against the long-term background but not against the short-term one
  has stopped moving. Evidence for it grows each frame and decays faster than it grows when the
  pixel is not static any more. Once it reaches `after_s`, the pixel belongs to a static blob.

It works on the cheap stage's motion-size grey (no second decode, no colour). The blobs are
candidates: a person standing still is static foreground too. Telling a bag from a person is the
classifier's job (classifiers/, issue "left objects"). Both backgrounds adapt only where the frame
agrees with them, so a lighting change is for the caller to handle with `reset` (as the motion
detector's guard does).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from pydantic import Field

from core.settings import Section
from features.motion import Blob, blobs_of
from features.preprocess import close, disk


class StaticForegroundConfig(Section):
    """Static foreground (what stopped and stayed), from two backgrounds learning at different rates."""

    short_tau_s: float = Field(1.0, gt=0, le=60, description="time constant of the fast background: a stopped "
                                                             "object is absorbed into it in about this long")
    long_tau_s: float = Field(120.0, gt=0, le=3600, description="time constant of the slow background, which "
                                                                "keeps a left object as foreground")
    threshold: float = Field(20.0, gt=0, le=255, description="grey levels from a background that count as foreground")
    after_s: float = Field(3.0, gt=0, le=600, description="a pixel static this long belongs to a static blob")
    decay: float = Field(3.0, gt=0, le=100, description="evidence lost per non-static frame, per frame gained")
    min_area_frac: float = Field(0.002, gt=0, lt=1, description="static blobs smaller than this share of the frame "
                                                                "are noise")
    close_px: int = Field(1, ge=0, le=5, description="radius of the closing that joins the pieces of one object's "
                                                     "static mask (a part as grey as the floor behind it drops out)")


def _rate(tau_s: float, fps: float) -> float:
    """Per-frame learning rate of an exponential average with time constant `tau_s`."""
    return 1.0 - math.exp(-1.0 / max(tau_s * fps, 1e-6))


class StaticForeground:
    """`update(grey)` once per frame (the motion-size uint8 grey) -> the static blobs of this frame."""

    def __init__(self, cfg: StaticForegroundConfig | None = None, fps: float = 25.0):
        self.cfg = cfg or StaticForegroundConfig()
        self.fps = float(fps)
        self._a_short = _rate(self.cfg.short_tau_s, self.fps)
        self._a_long = _rate(self.cfg.long_tau_s, self.fps)
        self._needed = max(1.0, self.cfg.after_s * self.fps)
        self._kernel = disk(self.cfg.close_px)
        self.reset()

    def reset(self) -> None:
        self._short: np.ndarray | None = None
        self._long: np.ndarray | None = None
        self._evidence: np.ndarray | None = None
        self._mask: np.ndarray | None = None

    @property
    def static_mask(self) -> np.ndarray | None:
        """255 where the evidence reached `after_s` (valid until the next update)."""
        return self._mask

    def update(self, grey: np.ndarray) -> list[Blob]:
        # OpenCV calls into buffers kept from frame to frame: this runs on every frame, and on almost
        # every frame nothing is static, so it must cost little more than the arithmetic itself.
        if self._short is None or self._short.shape != grey.shape:
            f = grey.astype(np.float32)
            self._short, self._long, self._f = f.copy(), f.copy(), f
            self._evidence = np.zeros(f.shape, np.float32)
            self._diff = np.empty(f.shape, np.float32)
            self._fg = np.empty(f.shape, np.uint8)
            self._bg = np.empty(f.shape, np.uint8)
            self._static = np.empty(f.shape, np.uint8)
            self._mask = np.zeros(f.shape, np.uint8)
            return []
        f, t, ev = self._f, self.cfg.threshold, self._evidence
        np.copyto(f, grey)
        cv2.absdiff(f, self._long, self._diff)
        cv2.compare(self._diff, t, cv2.CMP_GT, self._fg)          # foreground against the slow background
        cv2.absdiff(f, self._short, self._diff)
        cv2.compare(self._diff, t, cv2.CMP_LE, self._static)      # ... and not against the fast one
        cv2.bitwise_and(self._fg, self._static, self._static)
        ev -= self.cfg.decay
        cv2.add(ev, 1.0 + self.cfg.decay, ev, mask=self._static)  # +1 where static, -decay elsewhere
        np.clip(ev, 0.0, self._needed, out=ev)
        # The fast background follows everything; the slow one ten times slower still where something is
        # in front of it, so a bag (or a person who stopped) fades into it only after a long while: a
        # scene that really changed is learnt in the end.
        cv2.accumulateWeighted(f, self._short, self._a_short)
        cv2.bitwise_not(self._fg, self._bg)
        cv2.accumulateWeighted(f, self._long, self._a_long, mask=self._bg)
        cv2.accumulateWeighted(f, self._long, 0.1 * self._a_long, mask=self._fg)
        cv2.compare(ev, self._needed, cv2.CMP_GE, self._mask)
        if not cv2.countNonZero(self._mask):
            return []
        self._mask = close(self._mask, self._kernel)
        return blobs_of(self._mask, self.cfg.min_area_frac * self._mask.size)
