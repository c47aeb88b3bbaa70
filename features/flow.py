"""Per-frame optical-flow statistics of the moving region (DIS flow, ultrafast preset).

What separates a fight from people walking is not how much moves but how orderly it moves: a
walking person's pixels share one direction, flailing limbs do not. So besides magnitudes we
measure coherence (|mean flow vector| / mean |flow|) in cells of several sizes, the spread of
directions, and how often the flow turns around between frames.
"""

from __future__ import annotations

import cv2
import numpy as np

FLOW_FEATURES = (
    "flow_mag", "flow_active", "flow_active_mag", "flow_mag_cv", "flow_coherence", "flow_dir_entropy",
    "coh_c4", "act_c4", "coh_c8", "act_c8", "coh_c16", "act_c16",
    "flow_turn", "flow_reverse", "flow_mag_change",
)
_CELLS = (4, 8, 16)
_REF_WIDTH = 160.0  # magnitudes are expressed in pixels of a 160-wide frame, whatever the flow width


def _no_motion() -> np.ndarray:
    v = np.zeros(len(FLOW_FEATURES), np.float32)
    # Still frames count as perfectly orderly: a scene at rest is the opposite of a scuffle.
    for name in ("flow_coherence", "coh_c4", "coh_c8", "coh_c16", "flow_turn"):
        v[FLOW_FEATURES.index(name)] = 1.0
    return v


NO_MOTION = _no_motion()
NO_MOTION.setflags(write=False)


def _cell_coherence(fx: np.ndarray, fy: np.ndarray, mag: np.ndarray, active: np.ndarray, c: int) -> tuple[float, float]:
    h, w = mag.shape
    h, w = h // c * c, w // c * c
    if h == 0 or w == 0:
        return 1.0, 0.0

    def cellsum(a: np.ndarray) -> np.ndarray:
        return a[:h, :w].reshape(h // c, c, w // c, c).sum(axis=(1, 3))

    sx, sy, sm, na = cellsum(fx), cellsum(fy), cellsum(mag), cellsum(active)
    ok = na > 0.3 * c * c
    if not ok.any():
        return 1.0, 0.0
    weights = sm[ok]
    coh = np.hypot(sx[ok], sy[ok]) / (weights + 1e-6)
    return float((coh * weights).sum() / (weights.sum() + 1e-6)), float(ok.mean())


class FlowFeatures:
    """`update(grey)` with consecutive frames of one size -> a vector in FLOW_FEATURES order."""

    def __init__(self, active_px: float = 0.4):
        self.active_px = active_px
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._prev: np.ndarray | None = None
        self._prev_flow: np.ndarray | None = None
        self._prev_mag: np.ndarray | None = None

    def reset(self) -> None:
        self._prev = self._prev_flow = self._prev_mag = None

    def skip(self, grey: np.ndarray) -> np.ndarray:
        """A frame on which nothing moves: keep it as the reference, spend no flow on it."""
        self._prev = grey
        self._prev_flow = self._prev_mag = None
        return NO_MOTION

    def update(self, grey: np.ndarray) -> np.ndarray:
        grey = np.ascontiguousarray(grey)  # DIS needs contiguous memory; a no-op for whole frames
        prev, self._prev = self._prev, grey
        if prev is None or prev.shape != grey.shape:
            self._prev_flow = self._prev_mag = None
            return NO_MOTION
        flow = self._dis.calc(prev, grey, None)
        flow *= _REF_WIDTH / grey.shape[1]
        fx, fy = flow[..., 0], flow[..., 1]
        mag, ang = cv2.cartToPolar(fx, fy)
        active = mag > self.active_px
        n_active = int(np.count_nonzero(active))
        pflow, pmag = self._prev_flow, self._prev_mag
        self._prev_flow, self._prev_mag = flow, mag
        if n_active <= 10:
            v = NO_MOTION.copy()
            v[0] = float(mag.mean())
            return v

        ma = mag[active]
        ma_mean = float(ma.mean())
        coherence = float(np.hypot(fx[active].mean(), fy[active].mean()) / (ma_mean + 1e-6))
        # Bins centred on the axes and diagonals, so a straight move falls in one bin, not on an edge.
        bins = ((ang[active] + np.pi / 8) * (8 / (2 * np.pi))).astype(np.int32) % 8
        hist = np.bincount(bins, weights=ma, minlength=8)
        p = hist / (hist.sum() + 1e-9)
        entropy = float(-(p * np.log(p + 1e-9)).sum())
        act_f = active.astype(np.float32)
        afx, afy, amag = fx * act_f, fy * act_f, mag * act_f
        cells = []
        for c in _CELLS:
            cells.extend(_cell_coherence(afx, afy, amag, act_f, c))

        turn, reverse, mag_change = 1.0, 0.0, 0.0
        if pflow is not None:
            both = active & (pmag > self.active_px)
            if np.count_nonzero(both) > 10:
                dot = (fx * pflow[..., 0] + fy * pflow[..., 1])[both]
                norm = (mag * pmag)[both]
                turn = float(dot.sum() / (norm.sum() + 1e-6))
                reverse = float((dot < 0).mean())
                mag_change = float(np.abs(mag - pmag)[both].mean() / (mag[both].mean() + 1e-6))

        return np.array([mag.mean(), n_active / mag.size, ma_mean, float(ma.std()) / (ma_mean + 1e-6), coherence,
                         entropy, *cells, turn, reverse, mag_change], np.float32)
