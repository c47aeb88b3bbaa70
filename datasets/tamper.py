"""Synthetic camera tampering applied to real footage from a chosen frame on, so the tamper detector
can be scored on any clip.

    for img in apply_tamper(frames, "blur", onset_frame=30):   # None for a dropped frame
        ...
    python -m datasets.tamper --in clip.mp4 --kind blur --onset-frame 30 --out tampered.avi

Kinds (EXPECTED_EVENT says which event each should raise):
- cover_flat      a nearly uniform patch (tape, a hand, paper) over `cover_fraction` of the picture,
                  slid in from one side, with a little shading and sensor noise;
- cover_textured  the same band filled with a multi-scale texture (cloth, spray, a sticker): it has
                  fine detail of its own, so "the picture went flat" is not enough to catch it;
- blur            Gaussian defocus, sigma `blur_sigma` px (default 1 % of the width: at 640x360 a
                  6 px blur, which anyone would call out of focus);
- shift           the view translated by `shift_px` (default 8 % of the width, a camera panned by
                  about 5 degrees), the uncovered edge filled by reflection rather than black;
- rotate          the view rotated by `rotate_deg` (default 6 degrees) about the centre;
- reaim_small     the camera pushed to look a little elsewhere: turned 5 degrees, shifted by a tenth of
                  the view and zoomed 5 % together (sign and direction chosen by the seed);
- reaim_large     pushed hard: turned 12 degrees, shifted by a fifth of the view, zoomed 12 %;
- reaim_view      a complete change of view: another scene's footage (`other`, e.g. the next clip)
                  spliced in from the onset, resized to this frame size;
- drop            no frames at all from the onset on (`None` from the generator, the file ends).

A re-aimed view keeps all its texture, only shows something else: the edges a warp uncovers are
filled by reflection, never black, so "the picture lost structure" cannot give it away.

Sizes default to fractions of the frame, so a tampering looks the same whether it is applied to the
source frame or to the processing-size frame. Everything random comes from `seed` and the frame
index, so a run is reproducible frame by frame.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from dataclasses import dataclass
from typing import Iterable, Iterator

import cv2
import numpy as np

__all__ = ["TAMPER_KINDS", "EXPECTED_EVENT", "TamperParams", "Tamperer", "apply_tamper", "main"]

TAMPER_KINDS = ("cover_flat", "cover_textured", "blur", "shift", "rotate", "reaim_small", "reaim_large",
                "reaim_view", "drop")
EXPECTED_EVENT = {
    "cover_flat": "camera_covered",
    "cover_textured": "camera_covered",
    "blur": "camera_defocused",
    "shift": "camera_moved",
    "rotate": "camera_moved",
    "reaim_small": "camera_moved",
    "reaim_large": "camera_moved",
    "reaim_view": "camera_moved",
    "drop": "camera_offline",
}
SIDES = ("top", "bottom", "left", "right")
# Re-aims: (degrees turned, shift as a fraction of the width, zoom), applied together.
REAIMS = {"reaim_small": (5.0, 0.10, 1.05), "reaim_large": (12.0, 0.20, 1.12)}

# What people put over a lens, BGR: black tape, a hand (dark, light leaking red), grey card, paper.
_COVER_COLOURS = ((18, 18, 20), (40, 55, 85), (95, 100, 105), (215, 220, 222))


@dataclass(frozen=True)
class TamperParams:
    cover_fraction: float = 0.85          # of the picture's area, as a band from `cover_side`
    cover_side: str | None = None         # top/bottom/left/right; None: chosen by the seed
    colour: tuple[int, int, int] | None = None  # BGR of the cover; None: chosen by the seed
    blur_sigma: float | None = None       # px; None: 1 % of the frame width
    shift_px: float | None = None         # px; None: 8 % of the frame width
    shift_angle_deg: float | None = None  # direction of the shift; None: chosen by the seed
    rotate_deg: float | None = None       # degrees; None: 6, sign chosen by the seed
    noise_sigma: float = 2.0              # sensor noise drawn on a cover, grey levels
    seed: int = 0

    def check(self) -> "TamperParams":
        if not 0.0 < self.cover_fraction <= 1.0:
            raise ValueError(f"cover fraction {self.cover_fraction} outside (0, 1]")
        if self.cover_side is not None and self.cover_side not in SIDES:
            raise ValueError(f"cover side {self.cover_side!r} is not one of {', '.join(SIDES)}")
        if self.blur_sigma is not None and self.blur_sigma <= 0:
            raise ValueError(f"blur sigma {self.blur_sigma} must be positive")
        if self.noise_sigma < 0:
            raise ValueError(f"noise sigma {self.noise_sigma} must not be negative")
        if self.colour is not None and (len(self.colour) != 3 or not all(0 <= c <= 255 for c in self.colour)):
            raise ValueError(f"colour {self.colour} is not three values in 0..255")
        return self


class Tamperer:
    """One kind of tampering for frames of one size; `__call__(image, index)` returns the tampered copy."""

    def __init__(self, kind: str, width: int, height: int, params: TamperParams | None = None,
                 other: list[np.ndarray] | None = None):
        """`other`: for `reaim_view`, the footage of the scene the camera now shows (any size)."""
        if kind not in TAMPER_KINDS:
            raise ValueError(f"unknown tamper kind {kind!r}; one of {', '.join(TAMPER_KINDS)}")
        self.kind = kind
        self.w, self.h = int(width), int(height)
        self.p = (params or TamperParams()).check()
        rng = np.random.default_rng([self.p.seed, 7])
        self.side = self.p.cover_side or SIDES[int(rng.integers(len(SIDES)))]
        self._alpha: np.ndarray | None = None
        self._patch: np.ndarray | None = None
        self._matrix: np.ndarray | None = None
        self.sigma = self.p.blur_sigma if self.p.blur_sigma is not None else 0.01 * self.w
        if kind in ("cover_flat", "cover_textured"):
            self._alpha = self._band()
            colour = self.p.colour or _COVER_COLOURS[int(rng.integers(len(_COVER_COLOURS)))]
            self._patch = (self._flat(colour, rng) if kind == "cover_flat" else self._textured(colour, rng))
        elif kind == "shift":
            d = self.p.shift_px if self.p.shift_px is not None else 0.08 * self.w
            ang = self.p.shift_angle_deg
            if ang is None:
                ang = float(rng.uniform(0.0, 360.0))
            a = math.radians(ang)
            self.shift = (d * math.cos(a), d * math.sin(a))
            self._matrix = np.float32([[1, 0, self.shift[0]], [0, 1, self.shift[1]]])
        elif kind == "rotate":
            deg = self.p.rotate_deg if self.p.rotate_deg is not None else 6.0 * (1 if rng.random() < 0.5 else -1)
            self.angle = deg
            self._matrix = cv2.getRotationMatrix2D(((self.w - 1) / 2.0, (self.h - 1) / 2.0), deg, 1.0)
        elif kind in REAIMS:
            deg, frac, zoom = REAIMS[kind]
            deg *= 1 if rng.random() < 0.5 else -1
            a = math.radians(float(rng.uniform(0.0, 360.0)))
            self.angle, self.zoom = deg, zoom
            self.shift = (frac * self.w * math.cos(a), frac * self.w * math.sin(a))
            m = cv2.getRotationMatrix2D(((self.w - 1) / 2.0, (self.h - 1) / 2.0), deg, zoom)
            m[:, 2] += self.shift
            self._matrix = m
        elif kind == "reaim_view":
            if not other:
                raise ValueError("reaim_view needs the other scene's frames")
            self._other = other
    # -- the cover -------------------------------------------------------------------------------
    def _band(self) -> np.ndarray:
        """Weights 0..1 of a band covering `cover_fraction` of the area from `side`, with a soft edge
        (a cover near the lens is far out of focus)."""
        horizontal = self.side in ("top", "bottom")
        n = self.h if horizontal else self.w
        edge = self.p.cover_fraction * n
        ramp = max(1.0, 0.03 * n)
        pos = np.arange(n, dtype=np.float32) + 0.5
        if self.side in ("bottom", "right"):
            pos = n - pos
        a = np.clip((edge - pos) / ramp + 0.5, 0.0, 1.0)
        if horizontal:
            a = a[:, None] * np.ones((1, self.w), np.float32)
        else:
            a = np.ones((self.h, 1), np.float32) * a[None, :]
        return a[..., None]

    def _flat(self, colour, rng: np.random.Generator) -> np.ndarray:
        yy = np.linspace(-1, 1, self.h, dtype=np.float32)[:, None]
        xx = np.linspace(-1, 1, self.w, dtype=np.float32)[None, :]
        g = rng.uniform(-1, 1, 2).astype(np.float32)
        shade = 1.0 + 0.06 * (g[0] * xx + g[1] * yy)         # light leaking in from one side
        return np.float32(colour)[None, None, :] * shade[..., None]

    def _textured(self, colour, rng: np.random.Generator) -> np.ndarray:
        tex = np.zeros((self.h, self.w), np.float32)
        # Octaves from blotches a third of the frame across down to two-pixel grain.
        for cells, amp in ((3, 28.0), (8, 20.0), (24, 14.0), (max(8, self.w // 6), 10.0), (max(8, self.w // 2), 6.0)):
            ch = max(2, int(round(cells * self.h / self.w)))
            noise = rng.normal(0, 1, (ch, cells)).astype(np.float32)
            tex += amp * cv2.resize(noise, (self.w, self.h), interpolation=cv2.INTER_CUBIC)
        tint = rng.uniform(0.8, 1.2, 3).astype(np.float32)
        base = np.float32(colour)
        if base.mean() < 60:      # texture needs room around a dark colour to show
            base = base + 50.0
        return base[None, None, :] + tex[..., None] * tint[None, None, :]

    def _noise(self, index: int) -> np.ndarray:
        if self.p.noise_sigma <= 0:
            return np.zeros((self.h, self.w, 1), np.float32)
        rng = np.random.default_rng([self.p.seed, 11, index])
        return rng.normal(0, self.p.noise_sigma, (self.h, self.w, 1)).astype(np.float32)

    # -- applying --------------------------------------------------------------------------------
    def __call__(self, image: np.ndarray, index: int = 0) -> np.ndarray | None:
        if self.kind == "drop":
            return None
        if image.shape[0] != self.h or image.shape[1] != self.w:
            raise ValueError(f"frame is {image.shape[1]}x{image.shape[0]}, tamperer made for {self.w}x{self.h}")
        if self.kind == "blur":
            return cv2.GaussianBlur(image, (0, 0), self.sigma)
        if self.kind == "reaim_view":
            other = self._other[index % len(self._other)]
            if other.ndim != image.ndim:
                other = cv2.cvtColor(other, cv2.COLOR_BGR2GRAY) if other.ndim == 3 else cv2.cvtColor(
                    other, cv2.COLOR_GRAY2BGR)
            return cv2.resize(other, (self.w, self.h), interpolation=cv2.INTER_AREA)
        if self._matrix is not None:
            return cv2.warpAffine(image, self._matrix, (self.w, self.h), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REFLECT_101)
        img = image.astype(np.float32)
        if img.ndim == 2:
            img = img[..., None]
        patch = self._patch if img.shape[2] == 3 else self._patch.mean(axis=2, keepdims=True)
        out = img * (1.0 - self._alpha) + (patch + self._noise(index)) * self._alpha
        out = np.clip(out, 0, 255).astype(np.uint8)
        return out if image.ndim == 3 else out[..., 0]


def apply_tamper(frames: Iterable[np.ndarray], kind: str, onset_frame: int,
                 params: TamperParams | None = None, other: list[np.ndarray] | None = None
                 ) -> Iterator[np.ndarray | None]:
    """Frames before `onset_frame` unchanged, from it on tampered; `drop` yields None from the onset
    on (the caller decides whether to stop or to keep a clock running)."""
    if onset_frame < 0:
        raise ValueError(f"onset frame {onset_frame} is negative")
    tamperer: Tamperer | None = None
    for i, image in enumerate(frames):
        if i < onset_frame:
            yield image
            continue
        if tamperer is None:
            tamperer = Tamperer(kind, image.shape[1], image.shape[0], params, other)
        yield tamperer(image, i)


# -- command line ----------------------------------------------------------------------------------

_FOURCC = {".avi": "MJPG", ".mp4": "mp4v"}


class _BadInput(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise _BadInput(f"{self.prog}: {message}")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m datasets.tamper",
                description="Apply synthetic camera tampering to a video from a chosen frame on.")
    p.add_argument("--in", dest="src", required=True, help="input video file")
    p.add_argument("--kind", required=True, choices=TAMPER_KINDS)
    p.add_argument("--onset-frame", type=int, required=True, help="first tampered frame (0-based)")
    p.add_argument("--out", required=True, help="output .avi (MJPG) or .mp4 (mp4v)")
    p.add_argument("--cover-fraction", type=float, default=TamperParams.cover_fraction)
    p.add_argument("--cover-side", choices=SIDES)
    p.add_argument("--colour", help="cover colour as B,G,R (0..255 each)")
    p.add_argument("--blur-sigma", type=float, help="px at the input size (default: 1%% of the width)")
    p.add_argument("--shift-px", type=float, help="px at the input size (default: 8%% of the width)")
    p.add_argument("--shift-angle", type=float, help="direction of the shift in degrees (default: by seed)")
    p.add_argument("--rotate-deg", type=float, help="degrees (default: 6, sign by seed)")
    p.add_argument("--other", help="with --kind reaim_view: the video the camera is turned to")
    p.add_argument("--seed", type=int, default=0)
    return p


def _params(args) -> TamperParams:
    colour = None
    if args.colour:
        try:
            colour = tuple(int(v) for v in args.colour.split(","))
        except ValueError:
            raise _BadInput(f"--colour {args.colour!r}: expected B,G,R integers") from None
    try:
        return TamperParams(cover_fraction=args.cover_fraction, cover_side=args.cover_side, colour=colour,
                            blur_sigma=args.blur_sigma, shift_px=args.shift_px, shift_angle_deg=args.shift_angle,
                            rotate_deg=args.rotate_deg, seed=args.seed).check()
    except ValueError as exc:
        raise _BadInput(str(exc)) from None


def _read_other(path: str | None, limit: int = 900) -> list[np.ndarray]:
    """The first `limit` frames of the scene a re-aimed camera shows (looped when the clip is longer)."""
    if not path:
        raise _BadInput("--kind reaim_view needs --other VIDEO (the scene the camera is turned to)")
    if not os.path.isfile(path):
        raise _BadInput(f"video file not found: {path}")
    cap = cv2.VideoCapture(path)
    out = []
    while len(out) < limit:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img)
    cap.release()
    if not out:
        raise _BadInput(f"cannot read video: {path} (not a video, or corrupt)")
    return out


def _run(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    params = _params(args)
    if args.onset_frame < 0:
        raise _BadInput(f"--onset-frame {args.onset_frame} is negative")
    ext = os.path.splitext(args.out)[1].lower()
    if ext not in _FOURCC:
        raise _BadInput(f"--out {args.out}: use .avi (MJPG) or .mp4 (mp4v)")
    if not os.path.isfile(args.src):
        raise _BadInput(f"video file not found: {args.src}")
    cap = cv2.VideoCapture(args.src)
    ok, first = cap.read() if cap.isOpened() else (False, None)
    if not ok or first is None:
        cap.release()
        raise _BadInput(f"cannot read video: {args.src} (not a video, or corrupt)")
    fps = cap.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and math.isfinite(fps) and 0 < fps <= 240 else 25.0

    def frames():
        yield first
        while True:
            ok, img = cap.read()
            if not ok:
                return
            yield img

    other = _read_other(args.other) if args.kind == "reaim_view" else None

    parent = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(parent, exist_ok=True)
    h, w = first.shape[:2]
    writer = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*_FOURCC[ext]), fps, (w, h))
    if not writer.isOpened():
        cap.release()
        raise _BadInput(f"cannot write video: {args.out}")
    written = 0
    try:
        for img in apply_tamper(frames(), args.kind, args.onset_frame, params, other):
            if img is None:
                break  # dropped: the stream goes silent, the file ends here
            writer.write(img)
            written += 1
    finally:
        writer.release()
        cap.release()
    if args.onset_frame >= written and args.kind != "drop":
        print(f"warning: the clip has {written} frames, none at or after onset {args.onset_frame}", file=sys.stderr)
    print(f"{args.kind} from frame {args.onset_frame}: {written} frames written to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except _BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
