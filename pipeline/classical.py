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


# Flow and tamper checks were validated at these widths whatever the motion width: flow features
# at 80 px (finer flow separated fights no better, coarser worse), the tamper thresholds at 160 px.
FLOW_WIDTH = 80
TAMPER_WIDTH = 160


def shrink_size(width: int, height: int, target: int) -> tuple[int, int]:
    """The size `shrink` gives for `target` width: halved while at least twice too wide, then scaled.

    Halving first keeps the sizes of a chain (160 -> 80) exact halves of each other, so each step
    takes OpenCV's fast 2x path.
    """
    while width >= 2 * target:
        width, height = width // 2, height // 2
    if width <= target:
        return width, height
    return target, max(2, int(round(height * target / width)))


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
        self._for: tuple[int, ...] | None = None
        self._plan: list[tuple[int, tuple[int, int]]] = []
        self._grey: list[np.ndarray | None] = [None, None, None]
        self.flow_calls = 0
        self.tamper_grey: np.ndarray | None = None  # the TAMPER_WIDTH grey of this frame, unfiltered

    def reset(self) -> None:
        self.motion.reset()
        self.tracker.reset()
        self.flow.reset()
        self._since_flow = self.flow_every - 1
        self._flow_row = NO_MOTION

    def _sizes(self, shape: tuple[int, ...]) -> None:
        h, w = shape[:2]
        sizes = [shrink_size(w, h, self.cfg.motion.width), shrink_size(w, h, FLOW_WIDTH),
                 shrink_size(w, h, TAMPER_WIDTH)]
        # Largest first, each shrunk from the one before: motion, flow and tamper sizes in one chain.
        self._plan = sorted(enumerate(sizes), key=lambda item: -item[1][0])
        self._for = shape

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`image` (BGR or grey, any size) -> (motion-size grey, flow-size grey); also sets tamper_grey.

        Grey first, then shrunk: shrinking grey is cheaper than shrinking colour.
        """
        img = to_grey(image)
        if self._for != img.shape:
            self._sizes(img.shape)
        grey = self._grey
        for i, size in self._plan:
            img = grey[i] = shrink(img, size)  # the same array when a size repeats: no copy
        self.tamper_grey = grey[2]
        return grey[0], grey[1]

    def __call__(self, image: np.ndarray) -> tuple[MotionResult, np.ndarray]:
        """`image`: BGR or grey at any size (the source's own frame)."""
        small, flow_in = self.prepare(image)
        result = self.motion.detect(small)
        if result.global_change:
            self.tracker.reset()
            flow_row = self._still(flow_in)
        elif result.calibrating or result.blobs:
            # Flow is spent only where something moves; while calibrating we cannot yet tell.
            self._since_flow += 1
            if self._since_flow >= self.flow_every:
                self._since_flow = 0
                self.flow_calls += 1
                self._flow_row = self.flow.update(flow_in)
            flow_row = self._flow_row
        else:
            flow_row = self._still(flow_in)
        matches = self.tracker.match(result.blobs, small.shape[1])
        row = np.concatenate([frame_motion_stats(result, matches, self.fps), flow_row])
        return result, row

    def _still(self, flow_in: np.ndarray) -> np.ndarray:
        """Nothing to measure: this frame becomes the next flow's reference, and the next moving frame
        gets flow at once."""
        self.flow.skip(flow_in)
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
            out.flags.extend(self.tamper.detect(self.features.tamper_grey, result))
        if result.global_change:
            self.crowding.reset()
            self.fight.reset()
            return out
        # The fight score reads flow, which needs no background: it runs while the background is
        # still being learnt (see detectors/fight.py); counting people needs the blobs.
        if not result.calibrating:
            crowd = self.crowding.detect(result.blobs, result.mask.size)
            if crowd:
                out.flags.append(crowd)
        fight = self.fight.detect(row, union_bbox(result.blobs))
        if fight:
            out.flags.append(fight)
        return out

