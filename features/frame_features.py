"""Frame -> the cheap stage's features: greyscale at three sizes, motion and blobs, blob statistics
and optical flow, as one FRAME_FEATURES row.

`FrameFeatures` is the single place where a frame becomes a row, used live and at training time
alike, so what a model learns from clips is what it sees on the kiosk.
"""

from __future__ import annotations

import numpy as np

from features.flow import FLOW_FEATURES, NO_MOTION, FlowFeatures
from features.motion import MotionConfig, MotionDetector, MotionResult
from features.motion_stats import MOTION_FEATURES, BlobTracker, frame_motion_stats
from features.preprocess import shrink, to_grey
from features.window import summary_names

FRAME_FEATURES = MOTION_FEATURES + FLOW_FEATURES
WINDOW_FEATURES = summary_names(FRAME_FEATURES)

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

    def __init__(self, cfg: MotionConfig, fps: float):
        self.cfg = cfg
        self.fps = fps
        self.motion = MotionDetector(cfg)
        self.tracker = BlobTracker()
        self.flow = FlowFeatures()
        # Flow over a k-frame gap: cheaper, and at 25-30 fps the larger displacement separated fights
        # from walking better than frame-to-frame flow did. Frames in between repeat the last row.
        self.flow_every = cfg.flow_every
        # The first moving frame after a still spell (or the start) gets flow at once: it becomes the
        # reference that the next flow is measured against.
        self._since_flow = self.flow_every - 1
        self._flow_row = NO_MOTION
        self._for: tuple[int, ...] | None = None
        self._plan: list[tuple[int, tuple[int, int]]] = []
        self._grey: list[np.ndarray | None] = [None, None, None]
        self.flow_calls = 0
        self.tamper_grey: np.ndarray | None = None  # the TAMPER_WIDTH grey of this frame, unfiltered
        self.flow_grey: np.ndarray | None = None    # the FLOW_WIDTH grey of this frame

    def reset(self) -> None:
        self.motion.reset()
        self.tracker.reset()
        self.flow.reset()
        self._since_flow = self.flow_every - 1
        self._flow_row = NO_MOTION

    def _sizes(self, shape: tuple[int, ...]) -> None:
        h, w = shape[:2]
        sizes = [shrink_size(w, h, self.cfg.width), shrink_size(w, h, FLOW_WIDTH),
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
        self.tamper_grey, self.flow_grey = grey[2], grey[1]
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
