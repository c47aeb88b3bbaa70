"""The cheap stage, run on every frame: greyscale, motion, blobs, statistics, crowding and fight flags.

`frame_row` is the single place where a frame becomes a row of FRAME_FEATURES, used live and at
training time alike, so what a model learns from clips is what it sees on the kiosk.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from classifiers.fight_classifier import FRAME_FEATURES, BuiltinFightRule
from detectors.base import Flag
from detectors.crowding import CrowdingDetector, union_bbox
from detectors.fight import FightDetector
from detectors.motion import MotionDetector, MotionResult
from detectors.motion_stats import BlobTracker, frame_motion_stats
from detectors.tamper import TamperDetector
from features.flow import NO_MOTION, FlowFeatures
from features.preprocess import shrink, to_grey
from pipeline.config import Config


@dataclass
class ClassicalResult:
    motion: MotionResult
    row: np.ndarray
    flags: list[Flag] = field(default_factory=list)
    motion_scale: float = 1.0  # processing pixels per motion pixel

    @property
    def suspicious(self) -> bool:
        return bool(self.flags)


def motion_size(width: int, height: int, motion_width: int) -> tuple[int, int]:
    if width <= motion_width:
        return width, height
    return motion_width, max(2, int(round(height * motion_width / width / 2)) * 2)


class FrameFeatures:
    """Frame -> (MotionResult, FRAME_FEATURES row): the motion detector, blob tracker and flow together."""

    def __init__(self, cfg: Config, fps: float):
        self.cfg = cfg
        self.fps = fps
        self.motion = MotionDetector(cfg.motion)
        self.tracker = BlobTracker()
        self.flow = FlowFeatures()
        # Flow over a k-frame gap: cheaper, and at 25-30 fps the larger displacement separated fights
        # from walking better than frame-to-frame flow did. Frames in between repeat the last row.
        self.flow_every = cfg.motion.flow_every
        # The first moving frame after a still spell (or the start) gets flow at once: it becomes the
        # reference that the next flow is measured against.
        self._since_flow = self.flow_every - 1
        self._flow_row = NO_MOTION
        self._still_ref: np.ndarray | None = None
        self._size: tuple[int, int] | None = None
        self._for: tuple[int, ...] | None = None
        self.flow_calls = 0
        self.last_small: np.ndarray | None = None  # the motion-size grey before the median, for other detectors

    def reset(self) -> None:
        self.motion.reset()
        self.tracker.reset()
        self.flow.reset()
        self._since_flow = self.flow_every - 1
        self._flow_row = NO_MOTION
        self._still_ref = None

    def __call__(self, image: np.ndarray) -> tuple[MotionResult, np.ndarray]:
        """`image`: BGR or grey at any size (the source's own frame: shrinking grey is cheaper than colour)."""
        grey = to_grey(image)
        if self._size is None or self._for != grey.shape:
            self._size = motion_size(grey.shape[1], grey.shape[0], self.cfg.motion.width)
            self._flow_size = (max(8, self._size[0] // 2), max(8, self._size[1] // 2))
            self._for = grey.shape
        small = self.last_small = shrink(grey, self._size)
        result = self.motion.detect(small)
        if result.global_change:
            self.tracker.reset()
            flow_row = self._still(small)
        elif result.calibrating or result.blobs:
            # Flow is spent only where something moves; while calibrating we cannot yet tell.
            self._since_flow += 1
            if self._since_flow >= self.flow_every:
                self._since_flow = 0
                self.flow_calls += 1
                if self._still_ref is not None:
                    self.flow.skip(shrink(self._still_ref, self._flow_size))
                    self._still_ref = None
                self._flow_row = self.flow.update(shrink(small, self._flow_size))
            flow_row = self._flow_row
        else:
            flow_row = self._still(small)
        matches = self.tracker.match(result.blobs, small.shape[1])
        row = np.concatenate([frame_motion_stats(result, matches, self.fps), flow_row])
        return result, row


    def _still(self, small: np.ndarray) -> np.ndarray:
        """Nothing to measure: this frame becomes the next flow's reference, shrunk only if that flow comes.

        The next moving frame gets flow at once, so a still scene costs no flow-size resize per frame.
        """
        self._still_ref = small
        self._since_flow = self.flow_every - 1
        self._flow_row = NO_MOTION
        return NO_MOTION


class ClassicalStage:
    def __init__(self, cfg: Config, fps: float, fight_model: Any | None = None):
        self.cfg = cfg
        self.features = FrameFeatures(cfg, fps)
        self.crowding = CrowdingDetector(cfg.crowding, fps)
        self.fight_model = fight_model if fight_model is not None else BuiltinFightRule()
        self.fight = FightDetector(cfg.fight, fps, len(FRAME_FEATURES), self.fight_model)
        self.tamper = TamperDetector(cfg.tamper, fps) if cfg.tamper.enabled else None

    def is_calibrating(self) -> bool:
        return self.features.motion.is_calibrating()

    def process(self, image: np.ndarray) -> ClassicalResult:
        result, row = self.features(image)
        scale = image.shape[1] / result.mask.shape[1]
        out = ClassicalResult(result, row, motion_scale=scale)
        if self.tamper is not None:
            # Before the early returns: a covered lens usually trips the lighting guard, and a
            # camera must be watched while the motion detector relearns.
            out.flags.extend(self.tamper.detect(self.features.last_small, result))
        if result.global_change:
            self.crowding.reset()
            self.fight.reset()
            return out
        if result.calibrating:
            return out
        area = result.mask.size
        crowd = self.crowding.detect(result.blobs, area)
        if crowd:
            out.flags.append(crowd)
        fight = self.fight.detect(row, union_bbox(result.blobs))
        if fight:
            out.flags.append(fight)
        return out


def clip_rows(frames, cfg: Config, fps: float) -> np.ndarray:
    """FRAME_FEATURES rows of a whole clip, computed exactly as the live stage computes them."""
    ff = FrameFeatures(cfg, fps)
    rows = [ff(image)[1] for image in frames]
    return np.array(rows[1:] if len(rows) > 1 else rows, np.float32)
