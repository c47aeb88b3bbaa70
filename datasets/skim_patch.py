"""A skimmer on real footage: a small textured patch pasted into a region from a chosen frame on, so the
skimming check can be scored on any clip (and a site can try it on its own camera).

    quiet = quiet_region(frames, step=3)               # [x, y, w, h]: the stillest part, a look every 3rd frame
    for img in Patcher(quiet, w, h, seed=3).apply(frames, onset=len(frames) // 2):
        ...
    python -m datasets.skim_patch --in clip.mp4 --out patched.avi [--roi x,y,w,h] [--onset-frame N]
                                  [--style block|faint|noise] [--size 0.4]

The patch is `size` of the region's sides (default 0.4), somewhere inside it (the seed says where).
Its `style`:
- `block` (the default): a plastic-looking block with a darker outline and a blocky texture of its
  own, its grey levels chosen to stand out from what it covers (a skimmer is not camouflaged for a
  camera: it is made to look like a card slot to a customer);
- `faint`: the hard case, a skimmer made to blend in: no outline, the mean colour of what it covers,
  and a blocky texture of only +-FAINT grey levels on it;
- `noise`: what a "small textured patch" most often is in someone else's test: every pixel of every
  channel drawn uniformly from 0-255. Texture finer than any camera's optics resolve; the check
  blurs a little before it takes gradients (its noise is a camera's), so it sees less of this
  patch than of a block's outline.
It is pasted into every frame from the onset on, in the same place: fitted, it stays.

`quiet_region` picks where a site would draw a fascia on a scene that has none: the window of
`share` of the picture's sides, with a margin of a quarter of its sides around it, where the fewest
of the skimming check's looks saw movement (ties: where the looks differ least in all), away from a
border of 5 % (letterbox bars and timestamps live there) and, when told where people were, from
them first.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Iterable, Iterator

import cv2
import numpy as np

SHARE = 0.15    # the quiet region's sides, as a share of the picture's
SIZE = 0.4      # the patch's sides, as a share of the region's
STYLES = ("block", "faint", "noise")
FAINT = 25.0    # the faint patch's texture: +- this many grey levels about what it covers
# The skimming check's defaults (detectors/skimming.py, SkimmingConfig: update_hz, motion_threshold,
# motion_share; this layer cannot import it, a test keeps them equal): what counts as a look that saw
# movement when the quiet region is chosen without a config.
LOOK_HZ, THRESHOLD, MOVING_SHARE = 10.0, 18.0, 0.01
# The check's noise rule (features/fascia.movement_threshold, same layer, so copied; a test keeps them
# equal): a noisy camera's threshold is NOISE_K standard deviations of its noise, if that is more.
NOISE_K = 4.0
_NOISE_MASK = np.float32([[1, -2, 1], [-2, 4, -2], [1, -2, 1]])


def _noise_threshold(grey: np.ndarray, least: float) -> float:
    response = np.abs(cv2.filter2D(grey.astype(np.float32), cv2.CV_32F, _NOISE_MASK))
    return max(float(least), NOISE_K * np.sqrt(2.0) * float(np.median(response[1:-1:2, 1:-1:2])) / (0.6745 * 6.0))


def quiet_region(frames: list[np.ndarray], share: float = SHARE, people: np.ndarray | None = None, step: int = 1,
                 threshold: float = THRESHOLD, moving_share: float = MOVING_SHARE) -> list[int]:
    """[x, y, w, h] in the frames' pixels: the `share`-sized window where the fewest looks saw movement.
    A look is every `step`-th frame; it saw movement in a window (grown by its margin) when over
    `moving_share` of its pixels changed by `threshold` grey levels since the previous look, the
    skimming check's own test (detectors/skimming.py), so the window is one it can learn and compare.
    Ties go to the window whose looks differ least in all. `people`: per pixel of the frame, in how
    many frames a person was there (people standing still do not change the picture, and are no static
    part of the scene): windows nobody came near come first, then those people came near least often."""
    if len(frames) < 2:
        raise ValueError("a quiet region needs at least two frames")
    H, W = frames[0].shape[:2]
    small = (max(16, W // 4), max(16, H // 4))
    ww, wh = max(2, int(round(share * small[0]))), max(2, int(round(share * small[1])))
    # Quiet around it too (the skimming check holds its comparison while something moves near the
    # region, and someone within a quarter of its sides is at the machine): counted over the window
    # grown by a quarter of each side, for every placement, from integral images.
    mx, my = max(1, ww // 4), max(1, wh // 4)
    gw, gh = ww + 2 * mx, wh + 2 * my

    def window_sums(a: np.ndarray) -> np.ndarray:
        ii = cv2.integral(a)
        return ii[gh:, gw:] - ii[:-gh, gw:] - ii[gh:, :-gw] + ii[:-gh, :-gw]

    prev, energy, held = None, np.zeros((small[1], small[0]), np.float32), None
    for f in frames[::max(1, int(step))]:
        g = cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) if f.ndim == 3 else f
        if prev is not None:
            # At the camera's resolution, as the check tests it: a codec's speckle that averaging to the
            # small size would hide still holds the check's looks.
            diff = cv2.absdiff(g, prev)
            energy += cv2.resize(diff, small, interpolation=cv2.INTER_AREA).astype(np.float32)
            moving = (diff > _noise_threshold(g, threshold)).astype(np.float32)   # as the check: not a camera's noise
            share_moving = cv2.resize(moving, small, interpolation=cv2.INTER_AREA)
            moved = window_sums(share_moving) > moving_share * gw * gh
            held = moved.astype(np.float64) if held is None else held + moved
        prev = g
    if held is None:    # too few frames for two looks: the difference of the first two
        return quiet_region(frames[:2], share, people, 1, threshold, moving_share)
    sums = window_sums(energy)
    # Looks with movement first; the total difference (below one look's worth) breaks ties.
    score = held + sums / (1.0 + float(sums.max()))
    if people is not None:
        # Far above any count of looks: a window nobody came near wins whenever there is one, and
        # where people came near every window, the one they were near least often. (A window's count
        # is the most frames any of its pixels had a person, a max filter over the grown window.)
        near = cv2.dilate(cv2.resize(people.astype(np.float32), small, interpolation=cv2.INTER_AREA),
                          np.ones((gh, gw), np.uint8), anchor=(gw // 2, gh // 2))
        score += (held.max() + 1.0) * near[gh // 2:gh // 2 + score.shape[0], gw // 2:gw // 2 + score.shape[1]]
    bx, by = int(round(0.05 * small[0])), int(round(0.05 * small[1]))
    allowed = np.full(score.shape, np.inf)
    allowed[by:score.shape[0] - by, bx:score.shape[1] - bx] = score[by:score.shape[0] - by, bx:score.shape[1] - bx]
    y, x = np.unravel_index(int(np.argmin(allowed)), allowed.shape)
    sx, sy = W / small[0], H / small[1]
    return [int(round((x + mx) * sx)), int(round((y + my) * sy)), int(round(ww * sx)), int(round(wh * sy))]


def check_patch(size: float, style: str) -> None:
    """ValueError, saying why, unless a patch of `size` (share of the region's sides) and `style` can be made."""
    if not 0 < size <= 1:
        raise ValueError(f"patch size {size} must be in (0, 1]")
    if style not in STYLES:
        raise ValueError(f"patch style {style!r} must be one of {', '.join(STYLES)}")


class Patcher:
    """Pastes one patch into `roi` ([x, y, w, h]) of frames of `width` x `height`."""

    def __init__(self, roi: list[int], width: int, height: int, seed: int = 0, size: float = SIZE,
                 style: str = "block"):
        check_patch(size, style)
        self.style = style
        x, y, w, h = (int(v) for v in roi)
        if w < 8 or h < 8 or x < 0 or y < 0 or x + w > width or y + h > height:
            raise ValueError(f"roi {list(roi)} must lie inside the {width}x{height} picture and be 8 px or more")
        rng = np.random.default_rng(seed)
        pw, ph = max(4, int(round(size * w))), max(4, int(round(size * h)))
        px = x + int(rng.integers(0, w - pw + 1))
        py = y + int(rng.integers(0, h - ph + 1))
        self.box = (px, py, pw, ph)
        self._rng_seed = seed
        self._patch: np.ndarray | None = None

    def _make(self, under: np.ndarray) -> np.ndarray:
        """The patch, drawn once against what it covers on the onset frame."""
        rng = np.random.default_rng([self._rng_seed, 1])
        if self.style == "noise":
            return rng.integers(0, 256, under.shape, dtype=np.uint8)
        ph, pw = under.shape[:2]
        block = max(2, min(pw, ph) // 5)
        amplitude = FAINT if self.style == "faint" else 45.0
        tex = rng.uniform(-amplitude, amplitude, (max(1, ph // block + 1), max(1, pw // block + 1)))
        tex = cv2.resize(tex.astype(np.float32), (pw, ph), interpolation=cv2.INTER_NEAREST)
        if self.style == "faint":
            mean = under.reshape(ph, pw, -1).mean(axis=(0, 1)).astype(np.float32)
            patch = np.clip(mean[None, None, :] + (tex - tex.mean())[..., None], 0, 255).astype(np.uint8)
            return patch if under.ndim == 3 else patch[..., 0]
        grey = float(cv2.cvtColor(under, cv2.COLOR_BGR2GRAY).mean()) if under.ndim == 3 else float(under.mean())
        base = 60.0 if grey > 128 else 190.0           # stands out from what it covers
        tint = rng.uniform(0.85, 1.15, 3).astype(np.float32)
        patch = np.clip((base + tex)[..., None] * tint, 0, 255).astype(np.uint8)
        edge = max(1, min(pw, ph) // 10)
        cv2.rectangle(patch, (0, 0), (pw - 1, ph - 1), (20, 20, 22) if base > 128 else (235, 235, 230), edge)
        return patch if under.ndim == 3 else cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY)

    def frame(self, index: int, image: np.ndarray, onset: int) -> np.ndarray:
        """Frame `index`, with the patch from frame `onset` on (a copy; `image` is not written to). The
        patch is drawn once, against what it covers on the first frame it is pasted into."""
        if index < onset:
            return image
        x, y, w, h = self.box
        if self._patch is None:
            self._patch = self._make(image[y:y + h, x:x + w])
        out = image.copy()
        out[y:y + h, x:x + w] = self._patch
        return out

    def apply(self, frames: Iterable[np.ndarray], onset: int) -> Iterator[np.ndarray]:
        """Each frame, with the patch from frame `onset` on."""
        for i, f in enumerate(frames):
            yield self.frame(i, f, onset)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m datasets.skim_patch", description=__doc__.split("\n\n")[0])
    ap.add_argument("--in", dest="src", required=True, help="a video file")
    ap.add_argument("--out", required=True, help="the patched video (.avi: MJPG, .mp4: mp4v)")
    ap.add_argument("--roi", help="x,y,w,h in source pixels (default: the clip's quiet region)")
    ap.add_argument("--onset-frame", type=int, help="first patched frame (default: the middle one)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=float, default=SIZE, help="the patch's sides as a share of the region's")
    ap.add_argument("--style", choices=STYLES, default="block", help="block: stands out, with an outline; faint: "
                                                                     "blends in; noise: random pixels (see the "
                                                                     "module's docstring)")
    args = ap.parse_args(argv)
    cap = cv2.VideoCapture(args.src)
    frames = []
    while cap.isOpened():
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    cap.release()
    if len(frames) < 2:
        print(f"{args.src}: not a video OpenCV can read (two frames or more)", file=sys.stderr)
        return 2
    H, W = frames[0].shape[:2]
    try:
        roi = ([int(v) for v in args.roi.split(",")] if args.roi
               else quiet_region(frames, step=max(1, int(round(fps / LOOK_HZ)))))
        if len(roi) != 4:
            raise ValueError("--roi needs four numbers: x,y,w,h")
        patcher = Patcher(roi, W, H, args.seed, args.size, args.style)
    except ValueError as exc:
        print(f"invalid input: {exc}", file=sys.stderr)
        return 2
    onset = len(frames) // 2 if args.onset_frame is None else args.onset_frame
    codec = "mp4v" if args.out.lower().endswith(".mp4") else "MJPG"
    writer = cv2.VideoWriter(args.out, cv2.VideoWriter_fourcc(*codec), fps, (W, H))
    if not writer.isOpened():
        print(f"{args.out}: cannot open a {codec} video writer", file=sys.stderr)
        return 2
    for f in patcher.apply(frames, onset):
        writer.write(f)
    writer.release()
    print(json.dumps({"roi": roi, "patch": list(patcher.box), "style": patcher.style, "onset_frame": onset,
                      "onset_s": round(onset / fps, 3), "fps": fps}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
