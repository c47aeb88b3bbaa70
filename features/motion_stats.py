"""Statistics of moving objects: blobs matched frame to frame, and their summary per frame.

Per frame we record the foreground ratio, the number of blobs, the mean and standard deviation of
blob area, and the speed and direction of blobs matched to the previous frame (nearest centroid).
The sliding-window mean and standard deviation of these are what the method's fight and crowding
rules look at; `features/window.py` keeps the window.
"""

from __future__ import annotations

import math

import numpy as np

from features.motion import Blob, MotionResult

MOTION_FEATURES = ("fg_ratio", "blob_count", "blob_area_mean", "blob_area_std", "blob_speed", "blob_dir_spread")


class BlobTracker:
    """Greedy nearest-centroid matching; enough for a booth with one to three people in it."""

    def __init__(self, max_jump: float = 0.25):
        self.max_jump = max_jump  # fraction of the frame width a blob may move between frames
        self._prev: list[Blob] = []

    def reset(self) -> None:
        self._prev = []

    def match(self, blobs: list[Blob], width: int) -> list[tuple[Blob, float, float]]:
        """Return (blob, dx, dy) for each blob matched to one in the previous frame."""
        prev, self._prev = self._prev, blobs
        if not prev or not blobs:
            return []
        limit = (self.max_jump * width) ** 2
        pairs = []
        for i, b in enumerate(blobs):
            bx, by = b.cx, b.cy
            for j, p in enumerate(prev):
                dx, dy = bx - p.cx, by - p.cy
                d2 = dx * dx + dy * dy
                if d2 <= limit:
                    pairs.append((d2, i, j))
        pairs.sort()
        used_b, used_p, out = set(), set(), []
        for d2, i, j in pairs:
            if i in used_b or j in used_p:
                continue
            used_b.add(i)
            used_p.add(j)
            out.append((blobs[i], blobs[i].cx - prev[j].cx, blobs[i].cy - prev[j].cy))
        return out


def frame_motion_stats(result: MotionResult, matches: list[tuple[Blob, float, float]], fps: float) -> np.ndarray:
    """One row in MOTION_FEATURES order; areas as fractions of the frame, speed in frame widths per second."""
    h, w = result.mask.shape
    size = float(h * w)
    # Plain Python: a booth has a handful of blobs, and numpy's per-call overhead would dominate.
    n = len(result.blobs)
    if n:
        areas = [b.area / size for b in result.blobs]
        a_mean = sum(areas) / n
        a_std = math.sqrt(max(sum(a * a for a in areas) / n - a_mean * a_mean, 0.0))
    else:
        a_mean = a_std = 0.0
    speed = spread = 0.0
    if matches:
        moves = [(dx, dy) for _, dx, dy in matches]
        speed = sum(math.hypot(dx, dy) for dx, dy in moves) / len(moves) * fps / w
        # 1 - mean resultant length of the unit direction vectors: 0 all one way, 1 all ways.
        units = [(dx / n, dy / n) for dx, dy in moves if (n := math.hypot(dx, dy)) > 1e-6]
        if units:
            spread = 1.0 - math.hypot(sum(u[0] for u in units), sum(u[1] for u in units)) / len(units)
    return np.array([result.fg_ratio, len(result.blobs), a_mean, a_std, speed, spread], np.float32)
