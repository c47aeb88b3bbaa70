"""What the cheap stage computed once for a frame, handed to every detector and refiner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
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
    # The people in the booth (features.people.Person, boxes in motion pixels), set by the `people`
    # detector for the detectors registered after it; None when occupancy is switched off.
    people: list | None = None
    _grey_image: np.ndarray | None = field(default=None, repr=False)

    @property
    def blobs(self) -> list:
        return self.motion.blobs

    def pixels(self) -> np.ndarray | None:
        """The frame's colour pixels at the processing size (resized only when first asked for)."""
        return None if self.frame is None else self.frame.image

    def grey_pixels(self) -> np.ndarray | None:
        """`pixels()` in grey, converted once per frame and only when a detector asks."""
        if self._grey_image is None and self.frame is not None:
            self._grey_image = cv2.cvtColor(self.frame.image, cv2.COLOR_BGR2GRAY) if self.frame.image.ndim == 3 \
                else self.frame.image
        return self._grey_image

    def source_crop(self, box: tuple[int, int, int, int]) -> np.ndarray | None:
        """The source frame's grey pixels inside `box` (motion pixels), at the source's own resolution:
        a face is looked for in all the pixels the camera gave, and only there."""
        if self.frame is None:
            return None
        raw = self.frame.raw
        H, W = raw.shape[:2]
        s = self.to_source
        x0, y0 = max(0, int(box[0] * s)), max(0, int(box[1] * s))
        x1, y1 = min(W, int((box[0] + box[2]) * s)), min(H, int((box[1] + box[3]) * s))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return None
        crop = raw[y0:y1, x0:x1]
        return cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop
