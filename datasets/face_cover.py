"""Real face coverings drawn onto uncovered faces: training examples of `covered` that are not a
surgical-mask picture pasted on.

Most `covered` images in face_mask are faces with the same light-blue mask picture pasted on; a model
that learns only those learns "a light-blue shape below the eyes". Robbers wear other things. From an
uncovered face and its box (the cascade's), `cover` draws one of:

- `scarf`: a band over nose, mouth and chin, plain, striped or knitted, any colour;
- `balaclava`: the whole head in cloth with an eye slit;
- `helmet`: a full-face helmet: a glossy shell and a dark tinted visor over the eyes;
- `hand`: a hand over mouth and nose, in the person's own skin tone, fingers marked;
- `cloth_mask`: a mask of the surgical shape in a random colour (black, patterned), with a hood.

Each is drawn with random colour, texture, shading, size and a slight tilt, so no one look is learnt.
These are generated examples, and the card and README say so.
"""

from __future__ import annotations

import cv2
import numpy as np

KINDS = ("scarf", "balaclava", "helmet", "hand", "cloth_mask")


def _colour(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.45:  # dark cloth is the commonest
        v = rng.uniform(10, 70)
        return np.clip(np.array([v, v, v]) + rng.normal(0, 8, 3), 0, 255)
    return rng.uniform(20, 235, 3)


def _texture(h: int, w: int, base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An (h, w, 3) float patch of cloth: plain, stripes or a knit, with a light gradient."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    kind = rng.integers(3)
    if kind == 1:  # stripes at some angle
        ang, period = rng.uniform(0, np.pi), rng.uniform(4, 14)
        wave = (np.sin((xx * np.cos(ang) + yy * np.sin(ang)) * 2 * np.pi / period) > 0).astype(np.float32)
        other = _colour(rng)
        tex = base[None, None] * (1 - wave[..., None]) + other[None, None] * wave[..., None]
    elif kind == 2:  # knit: small periodic bumps
        period = rng.uniform(3, 6)
        bumps = np.sin(xx * 2 * np.pi / period) * np.sin(yy * 2 * np.pi / (period * 1.5))
        tex = base[None, None] + 25 * bumps[..., None]
    else:
        tex = np.broadcast_to(base[None, None], (h, w, 3)).astype(np.float32)
    grad = 1.0 + rng.uniform(-0.25, 0.25) * (xx / max(1, w) - 0.5) + rng.uniform(-0.25, 0.25) * (yy / max(1, h) - 0.5)
    tex = tex * grad[..., None] + rng.normal(0, 4, (h, w, 1))
    return np.clip(tex, 0, 255).astype(np.float32)


def _paint(img: np.ndarray, mask: np.ndarray, patch: np.ndarray, feather: float = 1.5) -> None:
    """Blend `patch` into `img` where `mask` (uint8 0/255) is set, edges softened."""
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), feather)[..., None]
    img[:] = np.clip(img * (1 - alpha) + patch * alpha, 0, 255)


def _tilted(pts: np.ndarray, centre: tuple[float, float], deg: float) -> np.ndarray:
    m = cv2.getRotationMatrix2D(centre, deg, 1.0)
    return (np.hstack([pts, np.ones((len(pts), 1))]) @ m.T).astype(np.int32)


def cover(bgr: np.ndarray, box: tuple[int, int, int, int], kind: str, rng: np.random.Generator) -> np.ndarray:
    """A copy of `bgr` with the face in `box` (x, y, w, h) covered by `kind` (one of KINDS)."""
    if kind not in KINDS:
        raise ValueError(f"unknown covering {kind!r}; one of {KINDS}")
    img = bgr.astype(np.float32).copy()
    H, W = img.shape[:2]
    x, y, w, h = (float(v) for v in box)
    cx, tilt = x + w / 2, rng.uniform(-10, 10)
    mask = np.zeros((H, W), np.uint8)
    tex = _texture(H, W, _colour(rng), rng)

    if kind == "scarf":
        top = y + h * rng.uniform(0.48, 0.62)
        xs = np.linspace(x - 0.35 * w, x + 1.35 * w, 12)
        wavy = top + rng.normal(0, 0.03 * h, len(xs))
        pts = np.array([*zip(xs, wavy), (x + 1.35 * w, H + 5), (x - 0.35 * w, H + 5)], np.float64)
        cv2.fillPoly(mask, [_tilted(pts, (cx, top), tilt)], 255)
        _paint(img, mask, tex)
    elif kind == "balaclava":
        cv2.ellipse(mask, (int(cx), int(y + 0.5 * h)), (int(0.72 * w), int(0.8 * h)), tilt, 0, 360, 255, -1)
        cv2.rectangle(mask, (int(x + 0.05 * w), int(y + h)), (int(x + 0.95 * w), H), 255, -1)
        slit = np.zeros_like(mask)
        s0, s1 = y + h * rng.uniform(0.22, 0.3), y + h * rng.uniform(0.45, 0.52)
        cv2.ellipse(slit, (int(cx), int((s0 + s1) / 2)), (int(0.36 * w), max(2, int((s1 - s0) / 2))), tilt,
                    0, 360, 255, -1)
        mask[slit > 0] = 0
        _paint(img, mask, tex)
    elif kind == "helmet":
        shell = _colour(rng)
        yy = np.arange(H, dtype=np.float32)[:, None]
        gloss = np.clip(1.35 - 0.9 * (yy - (y - 0.3 * h)) / (1.6 * h), 0.6, 1.35)  # light from above
        patch = np.clip(shell[None, None] * gloss[..., None] + rng.normal(0, 3, (H, W, 1)), 0, 255)
        cv2.ellipse(mask, (int(cx), int(y + 0.45 * h)), (int(0.85 * w), int(0.95 * h)), tilt, 0, 360, 255, -1)
        _paint(img, mask, patch.astype(np.float32))
        visor = np.zeros_like(mask)
        cv2.ellipse(visor, (int(cx), int(y + h * rng.uniform(0.42, 0.5))), (int(0.6 * w), int(0.24 * h)), tilt,
                    0, 360, 255, -1)
        tint = rng.uniform(0.15, 0.5)
        dark = img * tint + rng.uniform(0, 25)
        _paint(img, visor, dark, feather=1.0)
    elif kind == "hand":
        cheek = bgr[int(y + 0.5 * h):int(y + 0.7 * h), int(x + 0.15 * w):int(x + 0.35 * w)]
        skin = np.median(cheek.reshape(-1, 3), axis=0) if cheek.size else np.array([120, 150, 190.0])
        patch = np.clip(skin * rng.uniform(0.85, 1.05) + rng.normal(0, 3, (H, W, 1)), 0, 255)
        c = (int(cx + rng.uniform(-0.08, 0.08) * w), int(y + h * rng.uniform(0.68, 0.8)))
        axes = (int(0.5 * w), int(0.24 * h))
        cv2.ellipse(mask, c, axes, tilt, 0, 360, 255, -1)
        _paint(img, mask, patch.astype(np.float32))
        for k in range(1, 4):  # the gaps between fingers: darker lines across the hand
            fy = c[1] - axes[1] + k * 2 * axes[1] / 4
            p = _tilted(np.array([[c[0] - axes[0] * 0.9, fy], [c[0] + axes[0] * 0.9, fy]]), c, tilt)
            cv2.line(img, tuple(int(v) for v in p[0]), tuple(int(v) for v in p[1]), (skin * 0.6).tolist(),
                     max(1, int(0.02 * h)))
    else:  # cloth_mask with a hood
        top = y + h * rng.uniform(0.45, 0.55)
        pts = np.array([(x + 0.02 * w, top), (cx, top - 0.06 * h), (x + 0.98 * w, top), (x + 0.9 * w, y + 1.1 * h),
                        (cx, y + 1.22 * h), (x + 0.1 * w, y + 1.1 * h)], np.float64)
        cv2.fillPoly(mask, [_tilted(pts, (cx, top), tilt)], 255)
        _paint(img, mask, tex)
        hood = np.zeros_like(mask)
        cv2.ellipse(hood, (int(cx), int(y + 0.55 * h)), (int(0.95 * w), int(1.1 * h)), tilt, 0, 360, 255, -1)
        cv2.ellipse(hood, (int(cx), int(y + 0.55 * h)), (int(0.62 * w), int(0.8 * h)), tilt, 0, 360, 0, -1)
        hood[: max(0, int(y - 0.6 * h))] = 0
        _paint(img, hood, _texture(H, W, _colour(rng), rng))
    return img.astype(np.uint8)


def clutter(bgr: np.ndarray, box: tuple[int, int, int, int], rng: np.random.Generator) -> np.ndarray:
    """A copy of `bgr` whose surroundings of the face in `box` change and the face does not: a dark
    jacket up to the chin, a machine's edge or a wall beside the head. The face crop includes some of
    both; without such examples the model learns the portraits' backgrounds as part of "uncovered"."""
    img = bgr.astype(np.float32).copy()
    H, W = img.shape[:2]
    x, y, w, h = (float(v) for v in box)
    keep = np.zeros((H, W), np.uint8)
    cv2.ellipse(keep, (int(x + w / 2), int(y + 0.5 * h)), (int(0.5 * w), int(0.62 * h)), 0, 0, 360, 255, -1)
    mask = np.zeros((H, W), np.uint8)
    if rng.random() < 0.7:   # clothes from just below the chin
        top = int(y + h * rng.uniform(1.02, 1.15))
        cv2.ellipse(mask, (int(x + w / 2), top + int(0.9 * h)), (int(rng.uniform(0.9, 1.4) * w), int(h)), 0, 180, 360,
                    255, -1)
        mask[top + int(0.9 * h):] = 255
    for side in (-1, 1):     # something beside the head
        if rng.random() < 0.5:
            edge = x + w / 2 + side * w * rng.uniform(0.55, 0.9)
            x0, x1 = (int(edge), W) if side > 0 else (0, int(edge))
            mask[:, max(0, x0):max(0, x1)] = 255
    mask[keep > 0] = 0
    _paint(img, mask, _texture(H, W, _colour(rng), rng), feather=1.0)
    return img.astype(np.uint8)
