"""What the weapon classifier looks at: one person's region of the grey picture, made the same way
when training, evaluating and on the kiosk.

The person's box is widened by `MARGIN` of its size on every side (a gun held out at arm's length
leaves a tight box), cut from the grey image at the camera's own resolution, and squeezed to
WIDTH x HEIGHT (a standing person's proportions), 0..1 float32 with one channel.
"""

from __future__ import annotations

import cv2
import numpy as np

WIDTH, HEIGHT = 64, 128
MARGIN = 0.1
SHAPE = (HEIGHT, WIDTH, 1)


def widened(box: tuple[int, int, int, int], width: int, height: int, margin: float = MARGIN
            ) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of box (x, y, w, h) grown by `margin` per side, clipped to the picture."""
    x, y, w, h = box
    dx, dy = int(round(w * margin)), int(round(h * margin))
    return max(0, x - dx), max(0, y - dy), min(width, x + w + dx), min(height, y + h + dy)


def crop_input(grey: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
    """SHAPE float32 in 0..1 for the person in `box` (pixels of `grey`); None for a box under 4 px."""
    H, W = grey.shape[:2]
    x0, y0, x1, y1 = widened(box, W, H)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    return region_input(grey[y0:y1, x0:x1])


def region_input(region: np.ndarray) -> np.ndarray:
    """SHAPE float32 in 0..1 from an already cut grey region."""
    if region.ndim == 3:
        region = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY)
    out = cv2.resize(region, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA).astype(np.float32)
    out *= 1.0 / 255.0
    return out[..., None]
