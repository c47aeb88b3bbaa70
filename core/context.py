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
    # The ATM's fascia (x, y, w, h in motion pixels), set by the `skimming` detector when a site configured
    # it: where "at the machine" is for the detectors after it. None: not configured.
    fascia: tuple | None = None
    # Regions an earlier detector answers for (the fascia: a change there is a skimmer, not a left bag);
    # the detectors after it leave them alone.
    claimed: tuple | None = None
    # How close the cheap stage came to flagging this frame: the highest score over its threshold a
    # detector reported (1 = at it). The gate escalates a frame that nearly flagged.
    suspicion: float = 0.0
    # What later stages make from this frame and share (stage 2's input, made once for every refiner);
    # created by the first stage that stores something, so a frame nobody asks about allocates nothing.
    cache: dict | None = field(default=None, repr=False)
    _grey_image: np.ndarray | None = field(default=None, repr=False)

    def suspect(self, score: float, threshold: float) -> None:
        """A detector's score and its threshold: raises this frame's suspicion to their ratio."""
        if threshold > 0 and score > self.suspicion * threshold:
            self.suspicion = score / threshold

    @property
    def blobs(self) -> list:
        return self.motion.blobs

    def pixels(self) -> np.ndarray | None:
        """The frame's colour pixels at the processing size (resized only when first asked for)."""
        return None if self.frame is None else self.frame.image

    def grey_pixels(self) -> np.ndarray | None:
        """The decoded frame in grey at the processing size, made once per frame and only when a
        detector asks. Grey first, then halved while at least twice too wide, then scaled: a colour
        resize by a non-integer factor costs four times a decode (720x480 to 320 px: 2.1 ms)."""
        if self._grey_image is None and self.frame is not None:
            raw, (w, h) = self.frame.raw, self.frame.process_size
            grey = cv2.cvtColor(raw, cv2.COLOR_BGR2GRAY) if raw.ndim == 3 else raw
            while grey.shape[1] >= 2 * w:
                grey = cv2.resize(grey, (grey.shape[1] // 2, grey.shape[0] // 2), interpolation=cv2.INTER_AREA)
            if grey.shape[1] != w:
                grey = cv2.resize(grey, (w, h), interpolation=cv2.INTER_AREA)
            self._grey_image = grey
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
