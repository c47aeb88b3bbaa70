"""Descriptors of one foreground blob, as the left-object classifier reads them: size and shape
(width, height, area, aspect ratio, extent, solidity, Hu moments), where it stands relative to the
floor, and a histogram of gradient orientations of its patch."""

from __future__ import annotations

import math

import cv2
import numpy as np

# What the left-object classifier tells a static blob to be, in its columns' order.
OBJECT_CLASSES = ("person", "bag_or_parcel", "other")
ORIENTATION_BINS = 9
DESCRIPTOR_NAMES = (("w_frac", "h_frac", "area_frac", "aspect", "extent", "solidity")
                    + tuple(f"hu{i}" for i in range(7)) + ("bottom_frac", "centre_x_frac")
                    + tuple(f"grad{i}" for i in range(ORIENTATION_BINS)))


def describe(mask: np.ndarray, grey: np.ndarray, bbox: tuple[int, int, int, int]) -> np.ndarray:
    """`mask` (uint8, 255 inside), `grey` the frame at the same size, `bbox` the blob's (x, y, w, h).

    Sizes are fractions of the frame, so the same object scores the same at any processing size.
    Hu moments are log-scaled (sign kept), as they span many orders of magnitude. The gradient
    histogram is of unsigned orientations inside the blob, weighted by magnitude and normalised.
    """
    x, y, w, h = (int(v) for v in bbox)
    fh, fw = mask.shape[:2]
    roi = mask[y:y + h, x:x + w]
    area = float(cv2.countNonZero(roi))
    contours, _ = cv2.findContours(roi, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull_area = 0.0
    if contours:
        hull_area = float(cv2.contourArea(cv2.convexHull(np.vstack(contours))))
    solidity = min(1.0, area / hull_area) if hull_area > 0 else 1.0
    hu = cv2.HuMoments(cv2.moments(roi, binaryImage=True)).ravel()
    hu = -np.sign(hu) * np.log10(np.abs(hu) + 1e-30)
    hu = np.where(np.abs(hu) > 29, 0.0, hu)  # a moment of exactly 0 (a symmetric shape): no information
    patch = grey[y:y + h, x:x + w].astype(np.float32)
    gx = cv2.Sobel(patch, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(patch, cv2.CV_32F, 0, 1, ksize=3)
    mag, ang = cv2.cartToPolar(gx, gy, angleInDegrees=True)
    inside = roi > 0
    bins = np.minimum((np.mod(ang[inside], 180.0) / (180.0 / ORIENTATION_BINS)).astype(int), ORIENTATION_BINS - 1)
    hist = np.bincount(bins, weights=mag[inside], minlength=ORIENTATION_BINS)
    hist = hist / hist.sum() if hist.sum() > 0 else hist
    return np.concatenate([
        [w / fw, h / fh, area / (fw * fh), w / max(h, 1), area / max(w * h, 1), solidity],
        hu, [(y + h) / fh, (x + w / 2) / fw], hist,
    ]).astype(np.float32)
