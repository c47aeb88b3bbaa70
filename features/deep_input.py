"""What the deep stage looks at: one escalated frame as a 64x64x2 array, made the same way when
training, evaluating and on the kiosk (`tasks/deep.py`, `pipeline/deep_refiner.py`).

- channel 0, the picture: the cheap stage's 160-px grey (unfiltered), squeezed to 64x64. Variant
  `method`: the method's preprocessing chain on it first (3x3 zero-padded median, then high-pass
  sharpening added back); `grey`: as it is. `train --task deep` measures both and keeps the winner.
- channel 1, the motion: the cheap stage's foreground mask (rolling-average background, closed
  with a disk), squeezed to 64x64: what moves, which a single frame cannot show.
Both are 0..1 float32. Nothing else is kept between frames, so the deep stage costs nothing on a
frame it is not asked about.
"""

from __future__ import annotations

import cv2
import numpy as np

from features.preprocess import median3_zero, sharpened

SIZE = 64
CHANNELS = 2
VARIANTS = ("grey", "method")


def deep_input(grey160: np.ndarray, mask: np.ndarray, variant: str = "grey") -> np.ndarray:
    """(SIZE, SIZE, CHANNELS) float32 in 0..1 from the 160-px grey and the motion mask."""
    if variant == "method":
        grey160 = sharpened(median3_zero(grey160))
    elif variant != "grey":
        raise ValueError(f"unknown deep input variant {variant!r}; one of {VARIANTS}")
    out = np.empty((SIZE, SIZE, CHANNELS), np.float32)
    out[..., 0] = cv2.resize(grey160, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    out[..., 1] = cv2.resize(mask, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    out *= 1.0 / 255.0
    return out


def from_context(ctx, variant: str = "grey") -> np.ndarray:
    """This frame's input, made once however many refiners ask for it (kept in `ctx.cache`)."""
    cache = getattr(ctx, "cache", None)
    if cache is None:
        cache = ctx.cache = {}
    key = ("deep_input", variant)
    if key not in cache:
        cache[key] = deep_input(ctx.grey_tamper, ctx.motion.mask, variant)
    return cache[key]
