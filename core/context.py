"""What the cheap stage computed once for a frame, handed to every detector and refiner."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class FrameContext:
    index: int
    time_s: float
    fps: float
    grey_motion: np.ndarray        # motion-size grey (after the median), the blobs' pixels
    grey_flow: np.ndarray          # flow-size grey
    grey_tamper: np.ndarray        # TAMPER_WIDTH grey, unfiltered
    motion: Any                    # features.motion.MotionResult: mask, blobs, lighting guard, calibration
    row: np.ndarray                # the FRAME_FEATURES row of this frame
    to_source: float               # source pixels per motion pixel
    state: str = "unknown"         # the ATM's reported state
    frame: Any = None              # sources.frame_source.Frame when there is one: `.raw`, `.image` on demand

    @property
    def blobs(self) -> list:
        return self.motion.blobs

    def pixels(self) -> np.ndarray | None:
        """The frame's colour pixels at the processing size (resized only when first asked for)."""
        return None if self.frame is None else self.frame.image
