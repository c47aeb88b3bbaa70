"""What the weapon classifier looks at: one person's region of the grey picture, made the same way
when training, evaluating and on the kiosk.

The person's box is widened by `MARGIN` of its size on every side, cut from the grey image at the
camera's own resolution, cleared of salt-and-pepper noise (3x3 median) and squeezed to WIDTH x HEIGHT
(a standing person's proportions). Two channels, 0..1 float32: the grey picture, and the person's
box within it (1 inside, 0 outside). Why both: a person is armed when a weapon lies mostly inside
their box, and the people hardest to tell are the unarmed ones beside an armed one (a robbery's
victims), whose crop shows the weapon.
The wider view shows where the weapon is held from; the box channel says where this person ends.
Grouped cross-validation (`evaluate --task weapon --cv 5`) on the development set measured it
against the tight crop (a tenth a side, grey alone); the closing note of the weapons issue gives the
figures.
"""

from __future__ import annotations

import cv2
import numpy as np

WIDTH, HEIGHT = 64, 128
MARGIN = 0.4
SHAPE = (HEIGHT, WIDTH, 2)


def widened(box: tuple[int, int, int, int], width: int, height: int, margin: float = MARGIN
            ) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of box (x, y, w, h) grown by `margin` per side, clipped to the picture."""
    x, y, w, h = box
    dx, dy = int(round(w * margin)), int(round(h * margin))
    return max(0, x - dx), max(0, y - dy), min(width, x + w + dx), min(height, y + h + dy)


def inside(box: tuple[float, float, float, float], crop: tuple[float, float, float, float]
           ) -> tuple[float, float, float, float]:
    """The person's `box` (x, y, w, h) as shares of the `crop` (x0, y0, x1, y1) it was cut with, both
    in the same pixels: (left, top, right, bottom), 0..1."""
    x, y, w, h = box
    x0, y0, x1, y1 = crop
    cw, ch = max(1e-9, x1 - x0), max(1e-9, y1 - y0)
    return (max(0.0, (x - x0) / cw), max(0.0, (y - y0) / ch), min(1.0, (x + w - x0) / cw),
            min(1.0, (y + h - y0) / ch))


def crop_input(grey: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray | None:
    """SHAPE float32 for the person in `box` (pixels of `grey`); None for a box under 4 px."""
    H, W = grey.shape[:2]
    crop = widened(box, W, H)
    x0, y0, x1, y1 = crop
    if x1 - x0 < 4 or y1 - y0 < 4:
        return None
    return region_input(grey[y0:y1, x0:x1], inside(box, crop))


def region_input(region: np.ndarray, person: tuple[float, float, float, float]) -> np.ndarray:
    """SHAPE float32 from an already cut region (grey or BGR) and the person's place in it (`inside`)."""
    if region.ndim == 3:
        region = cv2.cvtColor(region, cv2.COLOR_BGR2GRAY)
    # A 3x3 median at the camera's resolution first (the method's despeckling): salt-and-pepper noise
    # is a property of a camera or an export, not of a person, and in the development set it goes with
    # the label (the noisy images are more often armed). The border is mirrored, not zero-padded as for
    # a whole frame (the region was cut from a larger picture: beyond its edge is more of the same, not
    # black) nor replicated as medianBlur's own (a speck in a corner would fill most of its window).
    region = cv2.medianBlur(cv2.copyMakeBorder(region, 1, 1, 1, 1, cv2.BORDER_REFLECT_101), 3)[1:-1, 1:-1]
    out = np.zeros(SHAPE, np.float32)
    out[..., 0] = cv2.resize(region, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
    out[..., 0] *= 1.0 / 255.0
    left, top, right, bottom = person
    out[int(round(top * HEIGHT)):int(round(bottom * HEIGHT)), int(round(left * WIDTH)):int(round(right * WIDTH)), 1] = 1
    return out
