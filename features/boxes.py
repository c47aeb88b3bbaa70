"""Boxes (x, y, w, h) in pixels: the overlap and distance arithmetic the detectors and their
evaluations share."""

from __future__ import annotations

import math
from typing import Iterable


def union_bbox(blobs: Iterable) -> tuple[int, int, int, int] | None:
    """The box around every blob (anything with x, y, w, h); None for none."""
    return union_boxes((b.x, b.y, b.w, b.h) for b in blobs)


def union_boxes(boxes: Iterable[tuple[int, int, int, int]]) -> tuple[int, int, int, int] | None:
    """The box around every (x, y, w, h) box; None for none."""
    boxes = list(boxes)
    if not boxes:
        return None
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
    return (x0, y0, x1 - x0, y1 - y0)


def intersection(a, b) -> float:
    """Area the two boxes share."""
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy


def iou(a, b) -> float:
    inter = intersection(a, b)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def gap(a, b) -> float:
    """Distance between two boxes (0 when they touch or overlap)."""
    dx = max(0, max(a[0], b[0]) - min(a[0] + a[2], b[0] + b[2]))
    dy = max(0, max(a[1], b[1]) - min(a[1] + a[3], b[1] + b[3]))
    return math.hypot(dx, dy)
