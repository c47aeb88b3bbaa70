"""Generated examples for the left-object classifier: bags, parcels and boxes, and things that are
neither (a shadow, a patch of light, something moved on a wall), composited onto real background
frames.

Nothing here is real footage of a left bag: the objects are drawn. What varies is what a camera in a
booth varies: size, shape (holdall, backpack, suitcase upright or lying, parcel seen from above or
the side, plastic bag), grey level and texture, a light gradient across the object, a cast shadow,
and where on the floor it stands. Objects are drawn at four times their size and shrunk with area
averaging, so their edges blur as a real object's do at the cheap stage's 160-px width.

Every function takes a numpy Generator; the same seed gives the same examples.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

BAG_KINDS = ("holdall", "backpack", "suitcase", "parcel", "plastic_bag")
OTHER_KINDS = ("shadow", "light", "moved_patch")
_UP = 4  # drawn at this many times the final size, then area-averaged down


def _texture(rng: np.random.Generator, h: int, w: int, level: float) -> np.ndarray:
    """A grey surface: a base level, fine noise, sometimes stripes or checks, a light gradient."""
    img = np.full((h, w), level, np.float32)
    img += rng.normal(0, rng.uniform(0, 10), (h, w)).astype(np.float32)
    pattern = rng.random()
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if pattern < 0.2:
        period = rng.uniform(6, 24)
        angle = rng.uniform(0, math.pi)
        img += rng.uniform(8, 30) * np.sign(np.sin((xx * math.cos(angle) + yy * math.sin(angle)) / period * 2 * math.pi))
    elif pattern < 0.3:
        cell = rng.uniform(8, 24)
        img += rng.uniform(8, 25) * (((xx // cell + yy // cell) % 2) * 2 - 1)
    # light from one side: up to +-30 %
    angle = rng.uniform(0, 2 * math.pi)
    ramp = (xx * math.cos(angle) + yy * math.sin(angle)) / max(h, w)
    img *= 1.0 + rng.uniform(0, 0.3) * (ramp - ramp.mean())
    return img


def _level(rng: np.random.Generator) -> float:
    # Bags are mostly dark, parcels brown or white; any grey occurs.
    return float(rng.choice([rng.uniform(15, 70), rng.uniform(70, 170), rng.uniform(170, 240)], p=[0.5, 0.3, 0.2]))


def _holdall(rng, w, h):
    """Body (a rectangle, or a trapezoid wider at the bottom) with a handle loop above it."""
    alpha = np.zeros((h, w), np.float32)
    top = int(h * rng.uniform(0.2, 0.4))
    inset = int(w * rng.uniform(0, 0.15))
    body = np.array([[inset, top], [w - 1 - inset, top], [w - 1, h - 1], [0, h - 1]], np.int32)
    cv2.fillPoly(alpha, [body], 1.0, cv2.LINE_AA)
    thick = max(2, int(h * rng.uniform(0.04, 0.1)))
    cv2.ellipse(alpha, (w // 2, top), (max(3, int(w * rng.uniform(0.15, 0.3))), max(2, top - thick)),
                0, 180, 360, 1.0, thick, cv2.LINE_AA)
    return alpha


def _backpack(rng, w, h):
    alpha = np.zeros((h, w), np.float32)
    r = int(w * rng.uniform(0.25, 0.5))
    cv2.rectangle(alpha, (0, r), (w - 1, h - 1), 1.0, -1)
    cv2.ellipse(alpha, (w // 2, r), (w // 2, r), 0, 180, 360, 1.0, -1, cv2.LINE_AA)
    return alpha


def _suitcase(rng, w, h):
    alpha = np.zeros((h, w), np.float32)
    top = int(h * rng.uniform(0.06, 0.15))
    r = max(1, int(min(w, h - top) * 0.12))
    cv2.rectangle(alpha, (r, top), (w - 1 - r, h - 1), 1.0, -1)
    cv2.rectangle(alpha, (0, top + r), (w - 1, h - 1 - r), 1.0, -1)
    for cx, cy in ((r, top + r), (w - 1 - r, top + r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
        cv2.circle(alpha, (cx, cy), r, 1.0, -1, cv2.LINE_AA)
    hw = max(2, int(w * rng.uniform(0.15, 0.3)))
    cv2.rectangle(alpha, (w // 2 - hw, 0), (w // 2 + hw, top), 1.0, max(2, top // 3))
    return alpha


def _parcel(rng, w, h):
    """A box seen from above and in front: the front face and a lighter top face in perspective."""
    alpha = np.zeros((h, w), np.float32)
    depth = int(h * rng.uniform(0.0, 0.45))
    skew = int(w * rng.uniform(-0.2, 0.2))
    front = np.array([[0, depth], [w - 1 - abs(skew), depth], [w - 1 - abs(skew), h - 1], [0, h - 1]], np.int32)
    if skew < 0:
        front[:, 0] += abs(skew)
    cv2.fillPoly(alpha, [front], 1.0, cv2.LINE_AA)
    if depth > 0:
        x0, x1 = int(front[0, 0]), int(front[1, 0])
        top = np.array([[x0, depth], [x1, depth], [x1 + skew, 0], [x0 + skew, 0]], np.int32)
        cv2.fillPoly(alpha, [top], 1.0, cv2.LINE_AA)
    return alpha, depth


def _plastic_bag(rng, w, h):
    alpha = np.zeros((h, w), np.float32)
    n = int(rng.integers(9, 16))
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = rng.uniform(0.7, 1.0, n)
    pts = np.stack([w / 2 + (w / 2 - 1) * radii * np.cos(angles), h / 2 + (h / 2 - 1) * radii * np.sin(angles)], 1)
    cv2.fillPoly(alpha, [pts.astype(np.int32)], 1.0, cv2.LINE_AA)
    return alpha


def render_bag(rng: np.random.Generator, width: float, level: float | None = None
               ) -> tuple[np.ndarray, np.ndarray, str]:
    """One bag, parcel or box about `width` pixels wide (final size): (grey, alpha, kind), both float32;
    `level` its mean grey (None: drawn at random)."""
    kind = str(rng.choice(BAG_KINDS))
    aspect = {"holdall": (0.55, 1.0), "backpack": (1.0, 1.6), "suitcase": (0.55, 1.7),
              "parcel": (0.5, 1.3), "plastic_bag": (0.7, 1.3)}[kind]
    w = max(4, int(round(width))) * _UP
    h = max(4, int(round(width * rng.uniform(*aspect)))) * _UP
    level = _level(rng) if level is None else level
    grey = _texture(rng, h, w, level)
    if kind == "holdall":
        alpha = _holdall(rng, w, h)
    elif kind == "backpack":
        alpha = _backpack(rng, w, h)
        py = int(h * rng.uniform(0.5, 0.65))
        grey[py:, w // 5:4 * w // 5] *= rng.uniform(0.7, 1.2)              # a front pocket
    elif kind == "suitcase":
        alpha = _suitcase(rng, w, h)
        grey[:, int(w * rng.uniform(0.3, 0.7))] *= 0.7                      # a seam
    elif kind == "parcel":
        alpha, depth = _parcel(rng, w, h)
        grey[:depth] *= rng.uniform(1.1, 1.4)                               # the top catches the light
        if rng.random() < 0.5:                                              # tape across it
            tx = int(w * rng.uniform(0.4, 0.6))
            grey[:, tx - w // 20:tx + w // 20] = rng.uniform(120, 230)
    else:
        alpha = _plastic_bag(rng, w, h)
        grey += rng.normal(0, 15, grey.shape).astype(np.float32)           # crumpled: creases
    fw, fh = w // _UP, h // _UP
    grey = cv2.resize(grey, (fw, fh), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(alpha, (fw, fh), interpolation=cv2.INTER_AREA)
    return np.clip(grey, 0, 255), np.clip(alpha, 0, 1), kind


def paste(background: np.ndarray, grey: np.ndarray, alpha: np.ndarray, x: int, y: int,
          rng: np.random.Generator | None = None) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """`grey` over `background` (uint8) at (x, y) with its alpha, and a soft cast shadow on the floor
    beside it when `rng` is given. Returns the new frame (float32) and the object's box (x, y, w, h)
    clipped to the frame."""
    out = background.astype(np.float32)
    H, W = out.shape
    h, w = grey.shape
    if rng is not None and rng.random() < 0.7:
        # The shadow: the object's footprint, flattened, shifted and blurred, darkening the floor.
        shadow = np.zeros((H, W), np.float32)
        sx = x + int(w * rng.uniform(-0.4, 0.4))
        sy = y + h - max(1, int(h * rng.uniform(0.1, 0.3)))
        cv2.ellipse(shadow, (sx + w // 2, sy + h // 8), (max(1, int(w * rng.uniform(0.5, 0.8))), max(1, h // 5)),
                    0, 0, 360, 1.0, -1)
        shadow = cv2.GaussianBlur(shadow, (0, 0), max(0.8, w / 10))
        out *= 1.0 - rng.uniform(0.2, 0.55) * shadow
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        return out, (x0, y0, 0, 0)
    a = alpha[y0 - y:y1 - y, x0 - x:x1 - x]
    out[y0:y1, x0:x1] = out[y0:y1, x0:x1] * (1 - a) + grey[y0 - y:y1 - y, x0 - x:x1 - x] * a
    return out, (x0, y0, x1 - x0, y1 - y0)


def place_bag(background: np.ndarray, rng: np.random.Generator,
              width_frac: tuple[float, float] = (0.04, 0.16)) -> tuple[np.ndarray, tuple[int, int, int, int], str]:
    """A generated bag or parcel standing on the floor (the lower half) of `background` (uint8 grey).
    Returns (frame float32, its box, kind)."""
    H, W = background.shape
    width = W * rng.uniform(*width_frac)
    bottom = int(rng.uniform(0.5, 0.98) * H)
    x = int(rng.integers(0, max(1, W - int(width))))
    level = None
    if rng.random() < 0.5:
        # Low contrast: a dark bag on a dark floor. Parts of it as grey as the floor behind them drop
        # out of the static mask, which leaves the ragged outline real footage gives.
        under = background[max(0, bottom - int(width)):bottom, x:x + max(1, int(width))]
        level = float(np.clip(under.mean() + rng.choice([-1, 1]) * rng.uniform(10, 45), 5, 250))
    grey, alpha, kind = render_bag(rng, width, level)
    h, w = grey.shape
    if rng.random() < 0.4:
        # Patches of the object as grey as what is behind them: blotches of it let the floor through.
        blotch = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), max(0.7, w / 8))
        alpha = alpha * (blotch > np.quantile(blotch, rng.uniform(0.15, 0.45)))
    frame, box = paste(background, grey, alpha, x, bottom - h, rng)
    return frame, box, kind


def place_other(background: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, tuple[int, int, int, int], str]:
    """Something static that is neither a person nor a bag: a shadow or a patch of light falling
    somewhere, or a large part of the scene moved (a poster, a door, a screen switching)."""
    H, W = background.shape
    kind = str(rng.choice(OTHER_KINDS))
    out = background.astype(np.float32)
    w = max(6, int(W * rng.uniform(0.1, 0.45)))
    h = max(6, int(H * rng.uniform(0.1, 0.6)))
    x, y = int(rng.integers(0, max(1, W - w))), int(rng.integers(0, max(1, H - h)))
    if kind in ("shadow", "light"):
        region = np.zeros((H, W), np.float32)
        n = int(rng.integers(4, 9))
        angles = np.sort(rng.uniform(0, 2 * math.pi, n))
        pts = np.stack([x + w / 2 + w / 2 * np.cos(angles), y + h / 2 + h / 2 * np.sin(angles)], 1)
        cv2.fillPoly(region, [pts.astype(np.int32)], 1.0)
        region = cv2.GaussianBlur(region, (0, 0), rng.uniform(0.5, 3.0))
        gain = rng.uniform(0.45, 0.75) if kind == "shadow" else rng.uniform(1.35, 1.9)
        out *= 1.0 + (gain - 1.0) * region
    else:
        # Moved: the same texture from elsewhere in the picture, so only its edges and its content differ.
        sx, sy = int(rng.integers(0, max(1, W - w))), int(rng.integers(0, max(1, H - h)))
        out[y:y + h, x:x + w] = background[sy:sy + h, sx:sx + w].astype(np.float32) * rng.uniform(0.8, 1.2)
    return np.clip(out, 0, 255), (x, y, w, h), kind
