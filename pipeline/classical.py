"""The cheap stage, run on every frame: the features once (greys, motion, blobs, flow), then every
registered and enabled detector on them, in registration order.

Nothing here names a detector: the stage builds whatever `core.detector.detectors()` holds, each
with its own config section (`cfg.<name>`) and the trained models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

import detectors  # noqa: F401  (registers the built-in detectors)
from core.context import FrameContext
from core.detector import Detector, Flag
from core.detector import detectors as registered_detectors
from features.frame_features import FrameFeatures
from sources.frame_source import Frame, process_size


@dataclass
class ClassicalResult:
    """The flags of a frame and what they were computed from (the motion result, the feature row and
    the scale to source pixels are in `ctx`)."""

    ctx: FrameContext
    flags: list[Flag] = field(default_factory=list)


def build_detectors(cfg, fps: float, models: dict[str, Any] | None = None) -> list[Detector]:
    """Every registered detector whose section enables it, built from its own section."""
    models = models or {}
    built = []
    for cls in registered_detectors():
        section = getattr(cfg, cls.name)
        if cls.enabled(section):
            built.append(cls(section, fps, models))
    return built


class ClassicalStage:
    def __init__(self, cfg, fps: float, models: dict[str, Any] | None = None):
        self.cfg = cfg
        self.fps = fps
        self.features = FrameFeatures(cfg.motion, fps)
        self.detectors = build_detectors(cfg, fps, models)
        self._by_name = {d.name: d for d in self.detectors}
        self.last: ClassicalResult | None = None   # the latest frame's result (tools read counts from it)

    def detector(self, name: str) -> Detector | None:
        return self._by_name.get(name)

    def check_source(self, width: int, height: int) -> None:
        """Each detector's `check_source`: a config that cannot fit the source is refused before its first frame."""
        for d in self.detectors:
            d.check_source(width, height)

    def summaries(self) -> list[str]:
        """Each detector's line on what it could do so far (`Detector.summary`), for `run` and `demo`."""
        return [line for line in (d.summary() for d in self.detectors) if line]

    def process(self, image: np.ndarray, index: int = 0, time_s: float = 0.0, state: str = "unknown",
                frame: Any = None) -> ClassicalResult:
        if frame is None:  # a bare image (tests, tools): pixels at the processing size, as `run` has them
            h, w = image.shape[:2]
            frame = Frame(index, time_s, image, process_size(w, h, self.cfg.source.process_width))
        result, row = self.features(image)
        scale = image.shape[1] / result.mask.shape[1]
        ff = self.features
        ctx = FrameContext(index, time_s, self.fps, result.grey, ff.flow_grey, ff.tamper_grey, result, row,
                           scale, state, frame)
        out = ClassicalResult(ctx)
        for det in self.detectors:
            if result.global_change and det.reset_on_lighting:
                det.reset()
                continue
            out.flags.extend(det.detect(ctx))
        self.last = out
        return out
