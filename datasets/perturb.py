"""What kiosk cameras do to a picture, at three strengths each: for `evaluate --perturb`, which replays
footage through the live path with every decoded frame changed this way (datasets/tamper.py does
the same for tampering).

Kinds: brightness (a darker or brighter scene), contrast (flatter), noise (sensor noise at night),
blur (focus drift, a smeared lens), jpeg (a stream's compression), shake (the camera moving a few
pixels from frame to frame). Strength 1 is mild, 3 is what a bad camera or a bad night does.
"""

from __future__ import annotations

import cv2
import numpy as np

KINDS = ("brightness", "contrast", "noise", "blur", "jpeg", "shake")
LEVELS = (1, 2, 3)

# Per kind, the parameter at strengths 1, 2, 3 (in frame pixels where a size is meant, at 640 px
# wide; scaled with the frame).
_PARAMS = {"brightness": (-25, -50, -80), "contrast": (0.75, 0.5, 0.3), "noise": (4.0, 8.0, 16.0),
           "blur": (1.0, 2.0, 3.5), "jpeg": (40, 20, 8), "shake": (2, 5, 10)}


def describe(kind: str, level: int) -> str:
    value = _PARAMS[kind][level - 1]
    unit = {"brightness": " grey levels", "contrast": "x", "noise": " sigma", "blur": " px sigma",
            "jpeg": " quality", "shake": " px"}[kind]
    return f"{kind} {level}: {value}{unit}"


def apply(img: np.ndarray, kind: str, level: int, rng: np.random.Generator) -> np.ndarray:
    """A new frame: `img` (BGR or grey uint8) as the camera would have given it under `kind`."""
    if kind not in KINDS or level not in LEVELS:
        raise ValueError(f"unknown perturbation {kind} {level}; kinds {KINDS}, levels {LEVELS}")
    v = _PARAMS[kind][level - 1]
    scale = img.shape[1] / 640.0
    if kind == "brightness":
        return cv2.convertScaleAbs(img, alpha=1.0, beta=v)
    if kind == "contrast":
        mean = float(img.mean())
        return cv2.convertScaleAbs(img, alpha=v, beta=mean * (1 - v))
    if kind == "noise":
        noisy = img.astype(np.float32) + rng.normal(0.0, v, img.shape).astype(np.float32)
        return np.clip(noisy, 0, 255).astype(np.uint8)
    if kind == "blur":
        return cv2.GaussianBlur(img, (0, 0), v * scale)
    if kind == "jpeg":
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(v)])
        return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else img.copy()
    dx, dy = (float(d) for d in rng.uniform(-v * scale, v * scale, 2))
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(img, m, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REFLECT)
