"""The ATM fascia's structure: what a skimmer, a fake keypad or a pinhole camera changes, and what a
light change, a reflection or the camera's noise does not.

The region is cut from the source frame at the camera's own resolution and resized to a working size
(`WORK` px on its long side), then:
1. divided by a heavily blurred copy of itself: what is left is reflectance, not illumination, so a
   light switched on or dimmed, the sun on the glass or a soft reflection (smooth over the region)
   changes it little;
2. its gradients at a fine scale, in four orientations (horizontal, vertical, both diagonals), are
   averaged over cells of `CELL` px: an overlay adds edges (its outline, its mouth, its texture) or
   removes them (the keypad's keys under a fake keypad), in a few cells.

`FasciaModel` learns each cell's mean and its frame-to-frame spread while nothing moves over it, then
says which cells differ by more than the spread explains (`changed`). A region where
almost every cell changed is the whole view changing (the camera moved, was covered or lost focus):
that is the tamper detector's, not a skimmer.
"""

from __future__ import annotations

import cv2
import numpy as np

WORK = 96          # the region's long side in working pixels
CELL = 6           # working pixels per cell side
NOISE_K = 4.0      # movement is this many standard deviations of the camera's noise, at least (movement_threshold)
ORIENTATIONS = 4
_ILLUM_SIGMA = 6.0
_NEIGHBOURS = np.ones((3, 3), np.uint8)
_NOISE_MASK = np.float32([[1, -2, 1], [-2, 4, -2], [1, -2, 1]])


def working_size(w: int, h: int) -> tuple[int, int]:
    """(width, height) of the working image for a region of w x h source pixels: long side WORK, both
    multiples of CELL."""
    return grid_size(w, h, WORK / max(w, h))


def grid_size(w: float, h: float, scale: float) -> tuple[int, int]:
    """(width, height) of the working image for w x h source pixels at `scale` working pixels each:
    both multiples of CELL."""
    return (max(CELL, int(round(w * scale / CELL)) * CELL), max(CELL, int(round(h * scale / CELL)) * CELL))


def cells_within(box: tuple[int, int, int, int], size: tuple[int, int], inner: tuple[int, int, int, int]
                 ) -> np.ndarray:
    """bool (rows, cols): the cells of `box` (x0, y0, x1, y1, source px, at working `size`) whose centre
    lies within `inner` (x0, y0, x1, y1)."""
    rows, cols = size[1] // CELL, size[0] // CELL
    cx = (np.arange(cols) + 0.5) * (box[2] - box[0]) / cols + box[0]
    cy = (np.arange(rows) + 0.5) * (box[3] - box[1]) / rows + box[1]
    return (((cy[:, None] >= inner[1]) & (cy[:, None] < inner[3]))
            & ((cx[None, :] >= inner[0]) & (cx[None, :] < inner[2])))


def cell_structure(grey: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(rows, cols, ORIENTATIONS) float32: the mean gradient per cell and orientation of the region's
    reflectance (see the module docstring). `grey`: the region in uint8 grey at any size."""
    f = cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32)
    illum = cv2.GaussianBlur(f, (0, 0), _ILLUM_SIGMA)
    # The constant keeps a dark region's noise from being amplified into edges.
    r = cv2.GaussianBlur(f / (illum + 24.0), (0, 0), 0.8)
    gx = cv2.Sobel(r, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(r, cv2.CV_32F, 0, 1, ksize=3)
    d1, d2 = (gx + gy) * np.float32(0.7071), (gx - gy) * np.float32(0.7071)
    w, h = size
    rows, cols = h // CELL, w // CELL
    out = np.empty((rows, cols, ORIENTATIONS), np.float32)
    for k, g in enumerate((gx, gy, d1, d2)):
        # A cell's mean by area resize: the mean of |g| over each CELL x CELL block (four single-channel
        # resizes cost half of one four-channel merge and resize).
        out[..., k] = cv2.resize(np.abs(g), (cols, rows), interpolation=cv2.INTER_AREA)
    return out


class FasciaModel:
    """What each cell of the fascia looks like while nothing moves in front of it.

    `add(view, cells)` adds a view to the cells marked (those nothing moved over); a cell is `ready`
    once `learn_views` views were added to it: a busy scene is learnt cell by cell. `changed(view)`
    -> bool (rows, cols): a cell changed when, summed over orientations, it differs from its mean by
    more than `k` times its spread plus `floor` (a compressed camera's blocks flicker: the spread says
    how much; many cameras repeat a still picture exactly, so the floor is what is left), and by more
    than `rel` of the two together (an edge that grew a little is the light, not a new edge) unless by
    `clear` times that threshold or more (a small patch over a busy cell, a keypad's, changes a little
    of a lot of edges, but by far more than the camera's noise)."""

    def __init__(self, learn_views: int = 5, k: float = 4.0, floor: float = 0.4, rel: float = 0.35,
                 clear: float = np.inf):
        self.learn_views, self.k, self.floor, self.rel = int(learn_views), float(k), float(floor), float(rel)
        self.clear = float(clear)
        self.reset()

    def reset(self) -> None:
        self.n: np.ndarray | None = None
        self._sum: np.ndarray | None = None
        self._sq: np.ndarray | None = None
        self._limits = None   # (mean, the least difference that counts, ready): made again only on learning

    @property
    def ready(self) -> np.ndarray | None:
        """bool (rows, cols): the cells learnt; None before the first view."""
        return None if self.n is None else self.n >= self.learn_views

    def share_ready(self, cells: np.ndarray | None = None) -> float:
        """The share of the cells (of those marked) learnt."""
        if self.n is None:
            return 0.0
        ready = self.n >= self.learn_views
        return float(np.mean(ready if cells is None else ready[cells]))

    def add(self, view: np.ndarray, cells: np.ndarray | None = None) -> None:
        v = view.astype(np.float64)
        if self._sum is None or self._sum.shape != v.shape:
            self._sum, self._sq = np.zeros_like(v), np.zeros_like(v)
            self.n = np.zeros(v.shape[:2], np.int32)
        take = np.ones(v.shape[:2], bool) if cells is None else cells & (self.n < self.learn_views)
        if take.any():
            self._sum[take] += v[take]
            self._sq[take] += v[take] * v[take]
            self.n[take] += 1
            self._limits = None

    @property
    def mean(self) -> np.ndarray:
        return (self._sum / np.maximum(1, self.n)[..., None]).astype(np.float32)

    @property
    def spread(self) -> np.ndarray:
        """Per cell: the standard deviation over the learnt views, summed over orientations."""
        n = np.maximum(1, self.n)[..., None]
        m = self._sum / n
        var = np.maximum(self._sq / n - m * m, 0.0)
        return np.sqrt(var).sum(axis=-1).astype(np.float32)

    def _thresholds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(mean, the least difference that counts, ready) per cell: once learnt, every comparison reuses them."""
        if self._limits is None:
            self._limits = (self.mean, self.k * self.spread + self.floor, self.ready)
        return self._limits

    def changed(self, view: np.ndarray) -> np.ndarray:
        mean, least, ready = self._thresholds()
        diff = np.abs(view - mean).sum(axis=-1)
        both = (view + mean).sum(axis=-1) + 1e-6
        return (diff > least) & ((diff > self.rel * both) | (diff >= self.clear * least)) & ready

    def strength(self, view: np.ndarray) -> np.ndarray:
        """float (rows, cols): how many times its threshold (`k` times its spread plus `floor`) each cell
        differs from what was learnt."""
        mean, least, _ = self._thresholds()
        return np.abs(view - mean).sum(axis=-1) / least

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"sum": self._sum, "sq": self._sq, "n": self.n}

    def from_arrays(self, arrays) -> "FasciaModel":
        self._sum, self._sq = np.asarray(arrays["sum"], np.float64), np.asarray(arrays["sq"], np.float64)
        self.n = np.asarray(arrays["n"], np.int32)
        self._limits = None
        return self


def movement_threshold(view: np.ndarray, least: float) -> float:
    """The grey levels a pixel must change by between two views to count as movement: `least`, or
    NOISE_K standard deviations of the difference two views of the camera's own noise would show, where
    that is more. Why: a fixed threshold that a sharp day picture never reaches is crossed by a tenth of
    the pixels of a noisy night picture on every look, and then nothing is ever still enough to be
    learnt or compared. The noise is estimated from one view (`view`, float32), not from the difference
    of two, which a camera's shake or a pan would fill: the median of the picture's response to a
    second-difference mask that cancels smooth shading and linear ramps (after Immerkaer, "Fast noise
    variance estimation", 1996; the median, not the mean, leaves edges and texture out)."""
    response = np.abs(cv2.filter2D(view, cv2.CV_32F, _NOISE_MASK))
    sigma = float(np.median(response[1:-1:2, 1:-1:2])) / (0.6745 * 6.0)   # the mask's gain on white noise is 6
    return max(float(least), NOISE_K * np.sqrt(2.0) * sigma)


def moved_pixels(prev: np.ndarray, grey: np.ndarray, threshold: float) -> np.ndarray:
    """float32 (0 or 1) per pixel: what moved between two views of the same size. A pixel moved when it
    lies `threshold` grey levels beyond every pixel around it (3x3) in the other view, either way.
    For views of a shaking camera (a mount in the wind, a re-filmed screen) once one is aligned onto the
    other: the alignment is a fraction of a pixel off and its warp resamples every edge, and in the
    plain difference at the camera's resolution that is movement over most of a textured region; a
    hand, an arm or a new object differs from everything around where it appears. Both ways round, so
    what vanished (a thin dark line taken away) counts as well as what appeared."""
    lo, hi = cv2.erode(prev, _NEIGHBOURS), cv2.dilate(prev, _NEIGHBOURS)
    appeared = (grey > hi + threshold) | (grey < lo - threshold)
    lo, hi = cv2.erode(grey, _NEIGHBOURS), cv2.dilate(grey, _NEIGHBOURS)
    vanished = (prev > hi + threshold) | (prev < lo - threshold)
    return (appeared | vanished).astype(np.float32)


def settled_region(differs: np.ndarray, held: np.ndarray, share: float = 1.0, seen: np.ndarray | None = None,
                   least: int = 1) -> tuple[int, tuple[int, int, int, int] | None]:
    """(number of cells, (x, y, w, h) in cells) of the largest group of cells that `held` their change,
    counting only groups (8-connected, of the cells that `differs`) of which at least `share` held it:
    a change still spreading to new cells (someone leaning in too slowly to count as movement) has
    not settled yet, while a fitted overlay's cells all began to differ when its fitter left. With
    `seen` (the cells compared and found changed lately), only groups with at least `least` cells both
    held and seen."""
    if not held.any():
        return 0, None
    n, labels, stats, _ = cv2.connectedComponentsWithStats(differs.astype(np.uint8), connectivity=8)
    held_per = np.bincount(labels[held], minlength=n)
    seen_per = np.bincount(labels[held & seen], minlength=n) if seen is not None else held_per
    ok = [k for k in range(1, n) if held_per[k] >= share * stats[k, cv2.CC_STAT_AREA] and seen_per[k] >= least]
    if not ok:
        return 0, None
    best = max(ok, key=lambda k: held_per[k])
    x, y, w, h = (int(v) for v in stats[best, :4])
    return int(held_per[best]), (x, y, w, h)


class Surroundings:
    """The fascia's wider surroundings, beyond its margin: whether they still look as learnt tells a board
    fitted over all of the fascia (a fake fascia; it changes the margin too) from the view itself
    changing (moved, zoomed, out of focus, covered: the surroundings change with it).

    `box`: the surroundings (x0, y0, x1, y1, source px); `inner`: the fascia with its margin, left out
    (and, when asked, the cells touching it); `size`: the working size, cells as large as the fascia's.
    Only cells with edges are asked (a plain
    wall looks the same zoomed or blurred), and only those nothing moved over for `settle_s`: someone
    walking by is not the view changing, nor is the view unchanged where they stand."""

    def __init__(self, box: tuple[int, int, int, int], inner: tuple[int, int, int, int], size: tuple[int, int],
                 model: FasciaModel):
        self.box, self.size, self.model = box, size, model
        rows, cols = size[1] // CELL, size[0] // CELL
        self.outside = ~cells_within(box, size, inner)
        if model.n is not None and model.n.shape != (rows, cols):
            model.reset()   # kept for another region or camera resolution
        # The cells asked: one cell clear of the margin, which a board a little larger than it overlaps.
        self.beyond = ~cv2.dilate((~self.outside).astype(np.uint8), _NEIGHBOURS).astype(bool)
        self._moved_s = np.full((rows, cols), np.nan)   # per cell: when something last moved over it
        self._held_s = -np.inf                           # when everything was last held
        self._prev: np.ndarray | None = None
        self._grey: np.ndarray | None = None
        self._still: np.ndarray | None = None
        self._verdict: tuple[float, bool] | None = None   # as_learnt's (share, answer) for this look

    def watch(self, grey: np.ndarray, now: float, threshold: float, motion_share: float) -> None:
        """What moved since the last look (`grey`: the surroundings, float32; `threshold`: grey levels)."""
        prev, self._prev, self._grey = self._prev, grey, grey
        self._verdict = None
        if prev is None or prev.shape != grey.shape:
            self._moved_s[:] = now
            return
        moving = (cv2.absdiff(grey, prev) > threshold).astype(np.float32)
        share = cv2.resize(moving, (self.size[0] // CELL, self.size[1] // CELL), interpolation=cv2.INTER_AREA)
        self._moved_s[cv2.dilate((share >= motion_share).astype(np.uint8), _NEIGHBOURS).astype(bool)] = now

    def learn(self, now: float, settle_s: float, held: bool) -> bool:
        """The cells nothing moved over for `settle_s` learnt. `held`: none is (a light switched, someone
        at the machine, the view turned). True when the last of them was learnt at this look."""
        if held:
            self._held_s = now
        self._still = now - np.maximum(self._moved_s, self._held_s) >= settle_s - 1e-9
        learn = self._still & self.outside
        if self.model.n is None or (learn & (self.model.n < self.model.learn_views)).any():
            self.model.add(cell_structure(self._grey, self.size), learn)
            return self.model.share_ready(self.outside) == 1.0
        return False

    def as_learnt(self, share: float, least: int = 8) -> bool:
        """At the last look, at most `share` of the still, learnt cells with edges (`beyond`) differ from
        what was learnt, and at least `least` of them were asked."""
        if self._verdict is None or self._verdict[0] != share:
            self._verdict = (share, self._as_learnt(share, least))
        return self._verdict[1]

    def _as_learnt(self, share: float, least: int) -> bool:
        if self._grey is None or self._still is None or self.model.n is None:
            return False
        # A cell with edges: twice the least change that counts, so losing them (a blur) is a change.
        mean = self.model.mean.sum(axis=-1)
        asked = self._still & self.beyond & self.model.ready & (mean >= 2.0 * self.model.floor)
        if int(asked.sum()) < least:
            return False
        changed = self.model.changed(cell_structure(self._grey, self.size))
        return float(changed[asked].mean()) <= share
