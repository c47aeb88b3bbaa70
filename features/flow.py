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


def _cell_coherence(cells: np.ndarray) -> tuple[float, float]:
    """cells[..., 0:4] = mean active fx, fy, |flow| and active share per cell -> (coherence, share of cells in motion)."""
    ok = cells[..., 3] > 0.3
    n = int(np.count_nonzero(ok))
    if n == 0:
        return 1.0, 0.0
    c = cells[ok]
    weights = c[:, 2]
    coh = np.hypot(c[:, 0], c[:, 1]) / (weights + 1e-6)
    return float((coh * weights).sum() / (weights.sum() + 1e-6)), n / ok.size


class FlowFeatures:
    """`update(grey)` with consecutive frames of one size -> a vector in FLOW_FEATURES order.

    The caller passes half the 160-px motion frame (80 px) and DIS works at that full resolution
    (`finest_scale` 0). In grouped cross-validation that resolution of flow separated fights from
    other motion far better than DIS's default (finest scale 2 of a 160-px frame, i.e. 40 px), and
    measuring it on the 80-px frame directly costs less than asking DIS to upsample it. Cells are
    given in pixels of a 160-px-wide frame whatever the flow's own width. Every statistic is an
    OpenCV reduction over the whole field (masked means, a histogram, area-averaged cells), because
    a dozen numpy reductions cost more than the flow itself.
    """

    def __init__(self, active_px: float = 0.4, finest_scale: int = 0, patch_stride: int = 6):
        self.active_px = active_px
        self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self._dis.setFinestScale(finest_scale)
        self._dis.setPatchStride(patch_stride)
        self._prev: np.ndarray | None = None
        self._prev_flow: np.ndarray | None = None
        self._prev_mag: np.ndarray | None = None
        self._prev_active: np.ndarray | None = None
        self._q: np.ndarray | None = None

    def reset(self) -> None:
        self._prev = self._prev_flow = self._prev_mag = self._prev_active = None

    def skip(self, grey: np.ndarray) -> np.ndarray:
        """A frame on which nothing moves: keep it as the reference, spend no flow on it."""
        self._prev = grey
        self._prev_flow = self._prev_mag = self._prev_active = None
        return NO_MOTION

    def update(self, grey: np.ndarray) -> np.ndarray:
        grey = np.ascontiguousarray(grey)  # DIS needs contiguous memory; a no-op for whole frames
        prev, self._prev = self._prev, grey
        if prev is None or prev.shape != grey.shape:
            self._prev_flow = self._prev_mag = self._prev_active = None
            return NO_MOTION
        flow = self._dis.calc(prev, grey, None)
        flow *= _REF_WIDTH / grey.shape[1]
        mag, ang = cv2.cartToPolar(flow[..., 0], flow[..., 1])
        active = cv2.compare(mag, self.active_px, cv2.CMP_GT)
        n_active = cv2.countNonZero(active)
        pflow, pmag, pactive = self._prev_flow, self._prev_mag, self._prev_active
        self._prev_flow, self._prev_mag, self._prev_active = flow, mag, active
        mag_mean = cv2.mean(mag)[0]
        if n_active <= 10:
            v = NO_MOTION.copy()
            v[0] = mag_mean
            return v

        m, sd = cv2.meanStdDev(mag, mask=active)
        ma_mean, ma_std = float(m[0, 0]), float(sd[0, 0])
        mfx, mfy = cv2.mean(flow, mask=active)[:2]
        coherence = float(np.hypot(mfx, mfy) / (ma_mean + 1e-6))
        # Bins centred on the axes and diagonals, so a straight move falls in one bin, not on an edge;
        # rounding puts angles near 2*pi in bin 8, which is bin 0 again.
        cells = self._cells(flow, mag, active)
        bins = cv2.convertScaleAbs(ang[:self._q.shape[0], :self._q.shape[1]], alpha=8.0 / (2.0 * np.pi))
        # Weighted by magnitude (q[..., 2] is |flow| on moving pixels, 0 elsewhere): a few fast limbs
        # say more about a scuffle than many slowly drifting pixels.
        hist = np.bincount(bins.ravel(), weights=self._q[..., 2].ravel(), minlength=9)
        hist[0] += hist[8]
        p = hist[:8] / (hist[:8].sum() + 1e-9)
        entropy = float(-(p * np.log(p + 1e-9)).sum())

        turn, reverse, mag_change = 1.0, 0.0, 0.0
        if pflow is not None:
            both = cv2.bitwise_and(active, pactive)
            n_both = cv2.countNonZero(both)
            if n_both > 10:
                prod = cv2.multiply(flow, pflow)
                dot = cv2.add(prod[..., 0], prod[..., 1])
                turn = float(cv2.mean(dot, mask=both)[0] / (cv2.mean(cv2.multiply(mag, pmag), mask=both)[0] + 1e-6))
                neg = cv2.compare(dot, 0.0, cv2.CMP_LT)
                reverse = cv2.countNonZero(cv2.bitwise_and(neg, both)) / n_both
                mag_change = float(cv2.mean(cv2.absdiff(mag, pmag), mask=both)[0]
                                   / (cv2.mean(mag, mask=both)[0] + 1e-6))

        return np.array([mag_mean, n_active / mag.size, ma_mean, ma_std / (ma_mean + 1e-6), coherence,
                         entropy, *cells, turn, reverse, mag_change], np.float32)

    def _cells(self, flow: np.ndarray, mag: np.ndarray, active: np.ndarray) -> list[float]:
        """Coherence and motion share in 4-, 8- and 16-pixel cells, by repeated 2x area averaging."""
        h, w = mag.shape
        first = max(1, int(round(_CELLS[0] * w / _REF_WIDTH)))  # the smallest cell, in flow pixels
        h4, w4 = h // first * first, w // first * first
        if self._q is None or self._q.shape[:2] != (h4, w4):
            self._q = np.empty((h4, w4, 4), np.float32)
        q = self._q
        act = active[:h4, :w4] * np.float32(1.0 / 255.0)
        q[..., 0] = flow[:h4, :w4, 0] * act
        q[..., 1] = flow[:h4, :w4, 1] * act
        q[..., 2] = mag[:h4, :w4] * act
        q[..., 3] = act
        out: list[float] = []
        cells = q
        for c in _CELLS:
            step = first if c == _CELLS[0] else 2
            ch, cw = cells.shape[0] // step, cells.shape[1] // step
            if ch == 0 or cw == 0:
                out.extend((1.0, 0.0))
                continue
            cells = cv2.resize(cells[:ch * step, :cw * step], (cw, ch), interpolation=cv2.INTER_AREA)
            out.extend(_cell_coherence(cells))
        return out
