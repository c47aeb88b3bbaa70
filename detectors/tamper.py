"""Camera tampering: a covered, defocused or moved view (TamperDetector) and a silent one (OfflineWatchdog).

The detector works on a 160-px-wide grey frame (pipeline.classical.TAMPER_WIDTH) and a half-size
copy of it (80 px, cut into ~8x8-px cells), every k-th frame (about `check_hz` times a second). Every cell measure is
a variance, a ratio or a normalised correlation, so a light switched on or off (a gain and an
offset on the picture) leaves them alone:

- covered: a flat picture where the reference had structure (or far from its learnt brightness) over
  `cover_frac` of the cells; or most informative cells lost (no longer correlating with the reference
  view) and unchanged since that began - a cover is fixed to the lens, a person close to it keeps
  moving. Before such a textured "cover" is called, reference corners inside it are tracked into the
  frame: if enough of them follow one rigid motion, it is the scene seen from a drifting camera (PTZ,
  handheld, swaying mount), and the reference follows it instead.
- defocused: fine-band over next-band detail (two Laplacian-pyramid levels, a gain cancels) below
  `defocus_ratio` of the scene's own baseline. A blur that starts with a suspected cover is the cover's.
- moved: the view jumps between two checks - the cells that had been still lately change at once,
  and corners tracked from the previous check follow one rigid motion of at least `jump_frac` of the
  width - and `persist_s` later it has not come back and is still rigidly displaced the same way.
  Only a jump counts: a PTZ pan or a handheld camera drifts a little at every check, which is the
  camera's own motion, not a hand turning it (the limit of this design: a slow deliberate turn is
  followed, not reported).
  Re-aimed: a push too large to track (turned ten degrees or more, shifted by a fifth, zoomed, or
  looking at another scene altogether) is told from a cover by what the new view is. Most still cells
  change at once; `persist_s` later the old scene is still lost, the new view has stayed put (people
  may move in it), nothing of the old view is left in place (no border strip or textured cell still
  correlating where it was: a cover leaves the uncovered part of the scene where it was), and the new
  view is a scene - structure in most of its cells, as sharp as the old one. That is `camera_moved`
  ("view": "replaced" when no rigid motion relates the two views); a flat or blurred or partial new
  view stays for the cover and defocus checks.

Corner tracking (pyramidal LK + RANSAC similarity) is the only costly step; it runs only on a jump,
to confirm one, or to rule out a cover. Every condition must hold for `persist_s` before it is
flagged, and flags hold between checks. The reference view and the sharpness baseline are the mean
of the first `calibrate_s`, then follow the scene with time constant `adapt_s`, only while nothing
is suspected: they adapt to the scene, not to an attack. When the motion detector's lighting guard
fires and the scene's structure is intact, the reference is relearnt at once: it was the light.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

import cv2
import numpy as np
from pydantic import Field

from core.detector import Detector, Flag, register
from core.events import ATTACK, EventSpec
from core.settings import Section
from features.motion import MotionResult

COVERED, DEFOCUSED, MOVED, OFFLINE = "camera_covered", "camera_defocused", "camera_moved", "camera_offline"
class TamperConfig(Section):
    """Camera tampering (covered, defocused, moved, offline); see detectors/tamper.py."""

    enabled: bool = Field(True, description="watch for a covered, defocused, moved or silent camera")
    persist_s: float = Field(0.4, ge=0, description="a tamper condition must hold this long before it is an event")
    offline_s: float = Field(0.75, gt=0,
                             description="no frame for this long from a live source raises camera_offline "
                                         "(replaces source.offline_after_s while tamper is enabled)")
    check_hz: float = Field(12.0, gt=0, le=120,
                            description="tamper checks per second (every k-th frame); flags hold in between")
    calibrate_s: float = Field(0.3, gt=0, le=60, description="footage averaged into the reference view and sharpness baseline")
    adapt_s: float = Field(30.0, gt=0, description="time constant with which the baselines follow the scene "
                                                    "(only while nothing is suspected)")
    cover_frac: float = Field(0.6, gt=0, le=1,
                              description="covered: this fraction of the informative cells blind (flat, or lost "
                                          "and unchanging); a real cover hides 80 % or more")
    defocus_ratio: float = Field(0.7, gt=0, lt=1,
                                 description="defocused: fine-over-coarse detail below this fraction of the baseline")
    jump_frac: float = Field(0.03, gt=0, lt=1,
                             description="moved: the view must jump at least this fraction of the width between "
                                         "two checks (slower drift is a PTZ or handheld camera's own motion)")
    move_frac: float = Field(0.015, gt=0, lt=1,
                             description="moved: still displaced by this fraction of the width persist_s later")


TAMPER_TYPES = (COVERED, DEFOCUSED, MOVED, OFFLINE)
_FLAT = "flat"           # the other way to be covered: a flat picture (its own persistence timer)

# Cell-level constants. The working image is 80 px wide, so a cell is about 8x8 px; variances are
# in grey levels squared at that size, where sensor noise is already averaged down to ~1 level.
_GRID_COLS = 10
_TEXTURE_VAR = 16.0      # a reference cell with less variance (std 4) has no structure to compare
_FLAT_VAR = 6.0          # a cell with less variance (std 2.4) is flat: a cover, or a blank wall
_LOST_NCC = 0.5          # a textured cell correlating less with the reference has lost the scene
_SAME_NCC = 0.9          # a cell correlating more with an earlier frame has not changed since
_FLAT_SAME_MEAN = 3.0    # grey levels: a flat cell this close to its earlier mean has not changed
_LUMA_CHANGE = 25.0      # a flat cell this far from the learnt brightness is blind (very dark or bright)
_LIGHT_LOST = 0.3        # lighting guard fired and at most this fraction of the structure lost: a light
_JUMP_NCC = 0.8          # a cell correlating less with the previous check has changed since (a turn of
                         # a few degrees moves an 8-px cell's content by a pixel or two)
_JUMP_CELLS = 0.2        # this fraction of the still cells changing between two checks may be a jump
_QUIET = 0.25            # a cell that changed at fewer than this fraction of recent checks is still
_ACTIVITY_RATE = 0.25    # per check: "recent" is the last few checks (about 0.3 s)
_MIN_QUIET = 5           # with fewer still cells than this, all cells are judged; with fewer
                         # cells with structure, no jump can be seen
_BACK_CELLS = 0.6        # this fraction of the jumped cells matching the old view again: it came back
_ADAPT_MAX_CHANGED = 0.3 # baselines follow the scene only while less than this has changed
_ADAPT_MAX_SHARP = 0.2   # ... and the sharpness is within this of its baseline
_ADAPT_EVERY = 4         # quiet checks between two updates of the baselines
_CORNERS = 50            # corners tracked to measure a rigid motion
_MIN_POINTS = 6          # fewer trackable corners than this and no geometry is claimed
_MIN_INLIERS = 0.25      # fraction of the corners that must agree on one rigid motion
_CONFIRM_INLIERS = 0.15  # ... to confirm, persist_s later, a jump already seen (people may hide some)
_VETO_INLIERS = 0.25     # this fraction of the reference corners inside the "blind" cells found again
                         # by one rigid motion: the blind area shows the scene, moved; not a cover
_SAME_MOVE = 0.015       # a confirmed move puts the frame corners within this fraction of the width
                         # (or 3/4 of the jump) of where the jump put them: it stayed where it was turned
_MAX_SCALE_CHANGE = 0.05 # a drift that zooms is the camera's own doing (PTZ), not a hand turning it
_JUMP_MAX_SCALE = 0.25   # ... but a jump between two checks that zooms a little is a push
_REAIM_JUMP = 0.6        # this fraction of the still cells changing at once may be a re-aimed camera
_REAIM_STABLE = 0.5      # ... whose new view then stays put (cells correlating with it) in this fraction
_STABLE_NCC = 0.7
_IN_PLACE_NCC = 0.45     # a border strip of the old view still this correlated in place: the camera did
                         # not move, something covers the rest
_SCENE_TEX = 0.5         # a scene has structure in at least this fraction of its cells ...
_SCENE_EDGES = 0.06      # ... and strong edges (object boundaries in focus) on this fraction of its pixels,
_SCENE_EDGES_REL = 0.6   # or on at least this share of the old view's (a dim scene has few): a cover at
                         # the lens is out of focus, whatever its texture


@dataclass
class _View:
    """One checked frame: the 160-px grey (for corner tracking), the working-size crop with its
    cell means and variances, and its sharpness."""

    grey: np.ndarray       # 160 px wide, a copy
    small: np.ndarray      # working size (half), whole
    f32: np.ndarray        # working size, cropped to whole cells
    mean: np.ndarray
    var: np.ndarray
    sharp: float
    t: float


@dataclass
class _Rigid:
    """The similarity transform most tracked corners agree on (RANSAC), summarised."""

    inliers: float = 0.0           # fraction of the corners that agree
    shift: float = 0.0             # largest displacement of the frame's corners under it, fraction of the width
    scale: float = 1.0
    angle: float = 0.0             # degrees
    matrix: np.ndarray | None = None

    def holds(self, min_inliers: float, min_shift: float, max_scale: float = _JUMP_MAX_SCALE) -> bool:
        return self.inliers >= min_inliers and self.shift >= min_shift and abs(self.scale - 1.0) <= max_scale

    def differs(self, other: "_Rigid", w: int, h: int) -> float:
        """How far apart the two transforms put the frame's corners, fraction of the width."""
        corners = np.float32([[0, 0], [w, 0], [0, h], [w, h]])
        a = corners @ self.matrix[:, :2].T + self.matrix[:, 2]
        b = corners @ other.matrix[:, :2].T + other.matrix[:, 2]
        return float(np.max(np.linalg.norm(a - b, axis=1))) / w


@register
class TamperDetector(Detector):
    """`detect(grey_small, motion)` per frame -> camera_covered / camera_defocused / camera_moved flags."""

    name = "tamper"
    Settings = TamperConfig
    events = {
        COVERED: EventSpec(ATTACK, description="the lens is covered, or sees nothing"),
        DEFOCUSED: EventSpec(ATTACK, description="the view lost its fine detail (sprayed, smeared, turned out of focus)"),
        MOVED: EventSpec(ATTACK, description="the camera was turned or pushed to look elsewhere"),
        OFFLINE: EventSpec(ATTACK, description="no frame from the camera for tamper.offline_s"),
    }

    def __init__(self, cfg: TamperConfig | None = None, fps: float = 25.0, models: dict[str, Any] | None = None):
        super().__init__(cfg or TamperConfig(), fps)
        self.fps = float(fps) if fps and math.isfinite(fps) and fps > 0 else 25.0
        self.every = max(1, int(round(self.fps / self.cfg.check_hz)))
        self.dt = self.every / self.fps
        self.calibrate_checks = max(3, int(math.ceil(self.cfg.calibrate_s / self.dt)))
        self.adapt_alpha = min(1.0, _ADAPT_EVERY * self.dt / self.cfg.adapt_s)
        self.last: dict = {}     # the measures of the last check, for diagnostics and tests
        self.lk_calls = 0        # corner trackings run (the costly step), for the bench
        self.reset()

    # -- state -----------------------------------------------------------------------------------
    def reset(self) -> None:
        self._frame = -1
        self._shape: tuple[int, int] | None = None
        self._ref: np.ndarray | None = None        # reference view, working crop, float
        self._ref_grey: np.ndarray | None = None   # the same at 160 px, for corner tracking
        self._ref_mean = self._ref_var = None
        self._ref_corners: tuple | None = None    # (reference grey u8, corners local, corners in grey px)
        self._sharp_samples: list[float] = []
        self._sharp0 = 1.0
        self._n_calib = 0
        self._quiet = 0
        self._prev: _View | None = None
        self._snap: _View | None = None           # the view when "lost and unchanged" began
        self._blind_map: np.ndarray | None = None
        self._pre_move: _View | None = None       # the view just before a jump
        self._jump: _Rigid | None = None
        self._jump_map: np.ndarray | None = None
        self._move_t = 0.0
        self._move: _Rigid | None = None          # a confirmed move
        self._sudden: _View | None = None         # the first view after most still cells changed at once
        self._before: _View | None = None         # ... and the last one before it
        self._since: dict[str, float | None] = {_FLAT: None, COVERED: None, DEFOCUSED: None}
        self._flags: list[Flag] = []
        self._light = False
        self._activity: np.ndarray | None = None   # per cell: how often it changed lately

    def is_calibrating(self) -> bool:
        return self._n_calib < self.calibrate_checks

    # -- per frame -------------------------------------------------------------------------------
    def detect(self, ctx) -> list[Flag]:
        # Runs whatever the motion detector is doing: a covered lens usually trips the lighting
        # guard, and a camera must be watched while the motion detector relearns.
        return self.check(ctx.grey_tamper, ctx.motion)

    def check(self, grey_small: np.ndarray, motion: MotionResult | None = None) -> list[Flag]:
        """`grey_small`: the 160-px grey frame before any filtering; `motion`: that frame's
        MotionResult (only its lighting guard is used). Flags hold between checks."""
        self._frame += 1
        if motion is not None and motion.global_change:
            self._light = True      # remembered until the next check: the guard may fire in between
        if self._frame % self.every:
            return self._flags
        view = self._view(grey_small, self._frame / self.fps)
        if self.is_calibrating():
            self._calibrate(view)
        else:
            self._check(view)
        self._prev = view
        self._light = False
        return self._flags

    # -- measuring -------------------------------------------------------------------------------
    def _cells(self, img: np.ndarray) -> np.ndarray:
        return cv2.resize(img, self._grid, interpolation=cv2.INTER_AREA)

    def _layout(self, g: np.ndarray, d: np.ndarray) -> None:
        frame = self._frame
        self.reset()                 # a new size: the first frame, or a camera back at another resolution
        self._frame = frame
        self._shape = d.shape
        h, w = d.shape
        # Whole cells only: an integer shrink factor is OpenCV's fast path for INTER_AREA.
        cell = max(2, w // _GRID_COLS)
        self._cell = cell
        self._grid = (max(1, w // cell), max(1, h // cell))
        self._activity = np.zeros(self._grid[::-1], np.float32)
        y0, x0 = (h - self._grid[1] * cell) // 2, (w - self._grid[0] * cell) // 2
        self._origin = (x0, y0)
        self._crop = (slice(y0, y0 + self._grid[1] * cell), slice(x0, x0 + self._grid[0] * cell))

    def _view(self, g: np.ndarray, t: float) -> _View:
        d = cv2.pyrDown(g)
        if self._shape != d.shape:
            self._layout(g, d)
        # Sharpness: detail of the finest pyramid band over that of the next band. A gain change
        # cancels; defocus removes the fine band first.
        fine = cv2.norm(g, cv2.pyrUp(d, dstsize=(g.shape[1], g.shape[0])), cv2.NORM_L1) / g.size
        coarse = cv2.norm(d, cv2.pyrUp(cv2.pyrDown(d), dstsize=(d.shape[1], d.shape[0])), cv2.NORM_L1) / d.size
        f32 = np.float32(d[self._crop])
        mean = self._cells(f32)
        var = np.maximum(self._cells(cv2.multiply(f32, f32)) - mean * mean, 0.0)
        return _View(g.copy(), d, f32, mean, var, fine / (coarse + 0.5), t)

    def _ncc(self, a: _View, b: _View | None = None) -> np.ndarray:
        """Per-cell normalised correlation of view `a` with view `b` (default: the reference)."""
        if b is None:
            other, om, ov = self._ref, self._ref_mean, self._ref_var
        else:
            other, om, ov = b.f32, b.mean, b.var
        cov = self._cells(cv2.multiply(a.f32, other)) - a.mean * om
        return cov / np.sqrt(a.var * ov + 1.0)

    @staticmethod
    def _corners(small: np.ndarray) -> np.ndarray | None:
        """Corners found at working size: 8x cheaper than at 160 px, and as good to track."""
        return cv2.goodFeaturesToTrack(small, _CORNERS, 0.01, 3)

    @staticmethod
    def _to_grey(pts: np.ndarray | None, origin: tuple[int, int] = (0, 0)) -> np.ndarray | None:
        """Working-size points (relative to `origin`) in 160-px pixels."""
        return None if pts is None else (pts + np.float32(origin)) * 2.0 + 0.5

    def _rigid(self, a8: np.ndarray, b8: np.ndarray, pts: np.ndarray | None,
               guess: np.ndarray | None = None) -> _Rigid:
        """The rigid (similarity) motion that carries corners of `a8` onto `b8`, by LK tracking;
        `guess` (a 2x3 matrix) starts the search where an earlier measurement put the corners."""
        self.lk_calls += 1
        if pts is None or len(pts) < _MIN_POINTS:
            return _Rigid()
        if guess is None:
            p1, st, _ = cv2.calcOpticalFlowPyrLK(a8, b8, pts, None, winSize=(9, 9), maxLevel=3)
        else:
            start = (pts.reshape(-1, 2) @ guess[:, :2].T + guess[:, 2]).astype(np.float32).reshape(-1, 1, 2)
            p1, st, _ = cv2.calcOpticalFlowPyrLK(a8, b8, pts, start, winSize=(9, 9), maxLevel=1,
                                                 flags=cv2.OPTFLOW_USE_INITIAL_FLOW)
        ok = st.ravel() == 1
        if ok.sum() < _MIN_POINTS:
            return _Rigid()
        p0, q = pts[ok].reshape(-1, 2), p1[ok].reshape(-1, 2)
        m, inl = cv2.estimateAffinePartial2D(p0, q, method=cv2.RANSAC, ransacReprojThreshold=1.0)
        if m is None:
            return _Rigid()
        h, w = a8.shape
        corners = np.float32([[0, 0], [w, 0], [0, h], [w, h]])
        shift = float(np.max(np.linalg.norm(corners @ m[:, :2].T + m[:, 2] - corners, axis=1))) / w
        return _Rigid(float(inl.sum()) / len(pts), shift, math.hypot(m[0, 0], m[1, 0]),
                      math.degrees(math.atan2(m[1, 0], m[0, 0])), m)

    # -- learning --------------------------------------------------------------------------------
    def _calibrate(self, v: _View) -> None:
        if self._n_calib == 0:
            self._ref, self._ref_grey = v.f32.copy(), np.float32(v.grey)
        else:
            a = 1.0 / (self._n_calib + 1)    # a plain mean of the calibration frames
            cv2.accumulateWeighted(v.f32, self._ref, a)
            cv2.accumulateWeighted(v.grey, self._ref_grey, a)
        self._sharp_samples.append(v.sharp)
        self._n_calib += 1
        if not self.is_calibrating():
            self._ref_stats()
            self._sharp0 = float(np.median(self._sharp_samples))

    def _set_reference(self, v: _View) -> None:
        self._ref, self._ref_grey = v.f32.copy(), np.float32(v.grey)
        self._ref_stats()
        self._snap = None

    def _ref_stats(self) -> None:
        self._ref_mean = self._cells(self._ref)
        self._ref_var = np.maximum(self._cells(cv2.multiply(self._ref, self._ref)) - self._ref_mean ** 2, 0.0)
        self._tex = self._ref_var > _TEXTURE_VAR
        self._n_tex = max(1, np.count_nonzero(self._tex))
        # A cell without structure in the reference "changes" when structure appears in it.
        self._appear_var = np.where(self._tex, np.inf, np.maximum(_TEXTURE_VAR, 4.0 * self._ref_var))
        self._ref_corners = None

    def _adapt(self, v: _View) -> None:
        # Every few quiet checks, with a proportionally larger step: the same time constant for less work.
        self._quiet += 1
        if self._quiet % _ADAPT_EVERY:
            return
        a = self.adapt_alpha
        cv2.accumulateWeighted(v.f32, self._ref, a)
        cv2.accumulateWeighted(v.grey, self._ref_grey, a)
        self._ref_stats()
        self._sharp0 += a * (v.sharp - self._sharp0)

    # -- deciding --------------------------------------------------------------------------------
    def _check(self, v: _View) -> None:
        cfg = self.cfg
        tex = self._tex
        lost = tex & (self._ncc(v) < _LOST_NCC)
        flat = v.var < _FLAT_VAR
        informative = tex | (v.var > _TEXTURE_VAR)
        changed = lost | (v.var > self._appear_var)
        n_inf = max(1, np.count_nonzero(informative))
        changed_frac = np.count_nonzero(changed) / n_inf
        lost_frac = np.count_nonzero(lost) / self._n_tex
        # Flat where there was structure, or far from the learnt brightness: blind.
        flat_blind = np.count_nonzero(flat & (tex | (np.abs(v.mean - self._ref_mean) > _LUMA_CHANGE))) / flat.size
        sharp_rel = v.sharp / max(self._sharp0, 1e-6)
        info = {"t": v.t, "changed": changed_frac, "lost": lost_frac, "flat_blind": flat_blind,
                "sharp_rel": sharp_rel}

        if self._light and lost_frac <= _LIGHT_LOST and self._n_tex >= 3 and flat_blind < cfg.cover_frac:
            # The lighting guard fired and the scene's structure is all there: a light, not a cover.
            self._set_reference(v)

        # A flat picture cannot be seen to move: no new jump is looked for while it is flat.
        moved = self._moved(v, info, look=flat_blind < cfg.cover_frac)
        reaimed = not moved and self._reaimed(v, info, lost_frac, flat_blind)
        if reaimed:
            moved = True
            # The re-aim explains what was lost, and what looks blurred: no cover or blur is pending for it.
            self._snap = None
            self._since[COVERED] = self._since[_FLAT] = None
            sharp_rel = 1.0
        # While a jump is being watched the view is displaced from the reference: that is for the
        # move to explain. Once a move is confirmed the reference is the new view again.
        watching = self._pre_move is not None and self._move is None
        flat_cover = not watching and flat_blind >= cfg.cover_frac
        still_cover = not watching and self._covered(v, changed, changed_frac, flat, n_inf, info)
        # Its own timer: a cover suspected and then ruled out must not have held the blur back.
        defocused = not watching and sharp_rel < cfg.defocus_ratio
        for key, cond in ((_FLAT, flat_cover), (COVERED, still_cover), (DEFOCUSED, defocused)):
            if not cond:
                self._since[key] = None
        flat_held = flat_cover and self._held(_FLAT, v.t)
        if still_cover and self._held(COVERED, v.t) and not flat_held and not self._confirm_cover(v, info):
            still_cover = False
        covered_since = min((self._since[k] for k in (_FLAT, COVERED) if self._since[k] is not None), default=None)
        flags = []
        if flat_held or (still_cover and self._held(COVERED, v.t)):
            blind = max(flat_blind, info["blind"])
            flags.append(Flag(COVERED, float(min(1.0, blind)), None, {"blind_frac": round(blind, 3)}))
        if moved:
            m = self._move
            if m.matrix is None:   # another view altogether: no rigid motion relates it to the old one
                flags.append(Flag(MOVED, 1.0, None, {"view": "replaced"}))
            else:
                flags.append(Flag(MOVED, float(min(1.0, m.shift / (2.0 * cfg.jump_frac))), None,
                                  {"shift_px": round(m.shift * v.grey.shape[1], 1), "rotation_deg": round(m.angle, 1),
                                   "zoom": round(m.scale, 3)}))
        # A cover blurs the picture too, and a sliding one before it is seen to be a cover: while a
        # cover is reported, or suspected for less than twice persist_s, the blur is its doing. A
        # suspicion that stays unconfirmed longer does not hold a real blur back.
        cover_explains = covered_since is not None and (
            any(f.type == COVERED for f in flags) or v.t - covered_since <= 2 * cfg.persist_s)
        if defocused and self._held(DEFOCUSED, v.t) and not cover_explains:
            flags.append(Flag(DEFOCUSED, float(min(1.0, max(0.0, 1.0 - sharp_rel))), None,
                              {"sharpness_ratio": round(sharp_rel, 3)}))
        self._flags = flags
        info["flags"] = [f.type for f in flags]
        self.last = info
        if (not flags and self._pre_move is None and self._snap is None and changed_frac < _ADAPT_MAX_CHANGED
                and abs(sharp_rel - 1.0) < _ADAPT_MAX_SHARP):
            self._adapt(v)

    def _held(self, kind: str, t: float) -> bool:
        """The condition `kind` holds now; True once it has held for persist_s."""
        if self._since[kind] is None:
            self._since[kind] = t
        return t - self._since[kind] >= self.cfg.persist_s - 1e-9

    def _covered(self, v: _View, changed: np.ndarray, changed_frac: float, flat: np.ndarray, n_inf: int,
                 info: dict) -> bool:
        """Most informative cells lost, and flat or unchanged since this began: a cover, unless
        `_confirm_cover` finds the scene in them."""
        cover_frac = self.cfg.cover_frac
        info["blind"] = changed_frac
        if changed_frac < cover_frac:
            self._snap = None
            return False
        if self._snap is None:
            self._snap = v
        s = self._snap
        still_flat = flat & (s.var < _FLAT_VAR) & (np.abs(v.mean - s.mean) < _FLAT_SAME_MEAN)
        same = (self._ncc(v, s) > _SAME_NCC) | still_flat
        self._blind_map = changed & same
        blind = np.count_nonzero(self._blind_map) / n_inf
        if blind < cover_frac and s is not v:
            # Lost, but not the same picture as when this began: people, or a drifting view.
            # Start again from this frame.
            self._snap = v
            self._blind_map = changed
            self._since[COVERED] = None
            blind = changed_frac
        info["blind"] = blind
        return blind >= cover_frac

    def _confirm_cover(self, v: _View, info: dict) -> bool:
        """A flat picture is a cover. A 'blind' area whose reference corners are found again, most
        of them carried by one rigid motion, is the scene seen from a drifting camera: not a cover."""
        if info["flat_blind"] >= self.cfg.cover_frac:
            return True
        if self._ref_corners is None:
            local = self._corners(cv2.convertScaleAbs(self._ref))
            self._ref_corners = (cv2.convertScaleAbs(self._ref_grey), local, self._to_grey(local, self._origin))
        ref8, local, pts = self._ref_corners
        if pts is None:
            return True
        p = local.reshape(-1, 2)
        cx = np.clip((p[:, 0] // self._cell).astype(int), 0, self._grid[0] - 1)
        cy = np.clip((p[:, 1] // self._cell).astype(int), 0, self._grid[1] - 1)
        inside = pts[self._blind_map[cy, cx]]
        if len(inside) < _MIN_POINTS:
            return True
        r = self._rigid(ref8, v.grey, inside)
        info["cover_rigid"] = (round(r.inliers, 2), round(r.shift, 3), len(inside))
        if r.inliers >= _VETO_INLIERS and abs(r.scale - 1.0) <= _MAX_SCALE_CHANGE:
            # The camera drifted without a jump (PTZ, a swaying or handheld mount): its own slow
            # motion. Follow it, so that what it shows now is what a cover would have to hide.
            self._set_reference(v)
            self._since[COVERED] = None
            return False
        return True

    def _reaimed(self, v: _View, info: dict, lost_frac: float, flat_blind: float) -> bool:
        """A push too large for the jump's corner tracking, or a view of another scene: see the
        module's docstring. True once, when the re-aim is confirmed; from then on `_moved` holds it."""
        cfg = self.cfg
        if self._sudden is None:
            if info.get("jump", 0.0) >= _REAIM_JUMP and lost_frac >= cfg.cover_frac and flat_blind < cfg.cover_frac:
                self._sudden, self._sudden_jump, self._before = v, info["jump"], self._prev
            return False
        if self._pre_move is not None:
            # The jump's corner tracking is following it: judged here only if that fails to confirm.
            if self._move is not None:
                self._sudden = None
            return False
        first = self._sudden
        if lost_frac < cfg.cover_frac or flat_blind >= cfg.cover_frac:
            self._sudden = None    # the old view is back, or the picture went flat: not a re-aim
            return False
        if v.t - first.t < cfg.persist_s - 1e-9:
            return False
        self._sudden = None        # judged once
        # The new view stays put: most of it still correlates with the first view after the change, or
        # (a handheld camera that drifts on its own) with the last check's. A person close to the lens
        # moves, and changes it between checks.
        stable = max(self._stable(v, first), self._stable(v, self._prev) if self._prev is not None else 0.0)
        tex = np.count_nonzero(v.var > _TEXTURE_VAR) / v.var.size
        edges, ref_edges = _strong_edges(v.grey), _strong_edges(cv2.convertScaleAbs(self._ref_grey))
        strip = max(self._in_place_strip(v, self._ref_grey),
                    self._in_place_strip(v, np.float32(self._before.grey)) if self._before is not None else 0.0)
        sharp_rel = v.sharp / max(self._sharp0, 1e-6)
        info["reaim"] = {"stable": round(stable, 2), "tex": round(tex, 2), "edges": round(edges, 3),
                         "ref_edges": round(ref_edges, 3), "strip": round(strip, 2), "sharp_rel": round(sharp_rel, 2),
                         "jump": round(self._sudden_jump, 3)}
        scene = tex >= _SCENE_TEX and edges >= min(_SCENE_EDGES, _SCENE_EDGES_REL * ref_edges)
        if stable < _REAIM_STABLE or not scene or strip >= _IN_PLACE_NCC:
            return False           # a person close to the lens, a cover: the other checks decide
        old = _View(np.uint8(np.clip(self._ref_grey, 0, 255)), v.small, self._ref.copy(), self._ref_mean,
                    self._ref_var, self._sharp0, first.t)
        r = self._rigid(old.grey, v.grey, self._to_grey(self._corners(cv2.convertScaleAbs(self._ref)), self._origin))
        info["reaim_rigid"] = (round(r.inliers, 2), round(r.shift, 3), round(r.scale, 3))
        self._pre_move, self._jump_map, self._move_t = old, self._tex.copy(), first.t
        self._jump = self._move = r if r.holds(_MIN_INLIERS, cfg.move_frac) else _Rigid()
        # The camera now looks elsewhere: that is the scene to guard from here on, sharpness included
        # (another part of the scene, or another scene, has detail of its own).
        self._set_reference(v)
        self._sharp0 = v.sharp
        self._since[DEFOCUSED] = None
        return True

    def _stable(self, v: _View, other: _View) -> float:
        both = (v.var > _TEXTURE_VAR) | (other.var > _TEXTURE_VAR)
        return np.count_nonzero(both & (self._ncc(v, other) > _STABLE_NCC)) / max(1, np.count_nonzero(both))

    def _in_place_strip(self, v: _View, ref: np.ndarray) -> float:
        """The highest correlation, in place, of the old view's detail (`ref`: the reference, or the last
        view before the change) with the new one's along the four border strips (a tenth of the frame
        each): a cover slid over the lens leaves one of them."""
        g = v.grey.astype(np.float32)
        # Detail only (the picture less its blur): smooth gradients correlate under any small shift.
        hg = g - cv2.GaussianBlur(g, (0, 0), 2.0)
        hr = ref - cv2.GaussianBlur(ref, (0, 0), 2.0)
        h, w = g.shape
        sh, sw = max(4, h // 10), max(4, w // 10)
        best = 0.0
        for sl in ((slice(0, sh), slice(None)), (slice(h - sh, h), slice(None)),
                   (slice(None), slice(0, sw)), (slice(None), slice(w - sw, w))):
            a, b = hg[sl].ravel(), hr[sl].ravel()
            a, b = a - a.mean(), b - b.mean()
            nb = float(np.dot(b, b))
            if nb < 4.0 * b.size:   # the old view had no detail there (letterbox, sky): it cannot tell
                continue
            best = max(best, float(np.dot(a, b)) / math.sqrt(float(np.dot(a, a)) * nb + 1e-6))
        return best

    def _moved(self, v: _View, info: dict, look: bool = True) -> bool:
        cfg = self.cfg
        prev = self._prev
        if self._pre_move is None and prev is not None and look:
            # Only cells with structure in both frames can tell: a correlation of flat cells is noise.
            both = (v.var > _TEXTURE_VAR) & (prev.var > _TEXTURE_VAR)
            jump = both & (self._ncc(v, prev) < _JUMP_NCC)
            # Judged on the cells that have been still lately: where people move, cells change all
            # the time; a camera that moves changes the still ones too.
            quiet = both & (self._activity < _QUIET)
            n_quiet, n_both = np.count_nonzero(quiet), np.count_nonzero(both)
            info["jump"] = (np.count_nonzero(jump & quiet) / n_quiet if n_quiet >= _MIN_QUIET
                            else np.count_nonzero(jump) / n_both if n_both >= _MIN_QUIET else 0.0)
            self._activity += _ACTIVITY_RATE * (jump - self._activity)
            if info["jump"] >= _JUMP_CELLS:
                r = self._rigid(prev.grey, v.grey, self._to_grey(self._corners(prev.small)))
                info["jump_rigid"] = (round(r.inliers, 2), round(r.shift, 3))
                if r.holds(_MIN_INLIERS, cfg.jump_frac):
                    self._pre_move, self._jump_map, self._jump = prev, jump, r
                    self._move_t = v.t
                    self._move = None
        if self._pre_move is None:
            return False
        pre = self._pre_move
        returned = self._jump_map & (self._ncc(v, pre) >= _JUMP_NCC)
        back = np.count_nonzero(returned) / max(1, np.count_nonzero(self._jump_map))
        info["back"] = back
        if back >= _BACK_CELLS:
            # The view returned to where it was: a knock, a swaying mount, or someone passing close.
            self._pre_move = self._move = None
            return False
        if self._move is not None:
            return True
        if v.t - self._move_t < cfg.persist_s - 1e-9:
            return False
        r = self._rigid(pre.grey, v.grey, self._to_grey(self._corners(pre.small)), guess=self._jump.matrix)
        h, w = v.grey.shape
        agree = r.matrix is not None and r.differs(self._jump, w, h) <= max(_SAME_MOVE, 0.75 * self._jump.shift)
        info["move_rigid"] = (round(r.inliers, 2), round(r.shift, 3), agree)
        if agree and r.holds(_CONFIRM_INLIERS, cfg.move_frac):
            self._move = r
            # The camera now looks elsewhere: that is the scene to guard from here on.
            self._set_reference(v)
            return True
        self._pre_move = None
        return False


def _strong_edges(grey: np.ndarray) -> float:
    """Share of the pixels of a 160-px grey on strong edges (Canny 100/250): boundaries in focus."""
    return cv2.countNonZero(cv2.Canny(grey, 100, 250)) / grey.size


class OfflineWatchdog:
    """No frame for `offline_s` -> one camera_offline flag per outage; re-armed when frames return.

    `feed()` on every frame, `check()` as often as the caller likes (also while no frames come,
    e.g. from a timer). Times are the clock's seconds; tests pass a fake clock or explicit times.
    """

    def __init__(self, offline_s: float, clock: Callable[[], float] = time.monotonic):
        if offline_s <= 0:
            raise ValueError(f"offline_s must be positive, got {offline_s}")
        self.offline_s = float(offline_s)
        self.clock = clock
        self._last: float | None = None
        self._fired = False
        self._back: float | None = None

    def feed(self, now: float | None = None) -> None:
        now = self.clock() if now is None else float(now)
        if self._fired and self._last is not None:
            self._back = now - self._last   # the outage that was reported is over: its length
        self._last = now
        self._fired = False

    def back(self) -> float | None:
        """The length of a reported outage that has just ended (once), else None."""
        back, self._back = self._back, None
        return back

    def check(self, now: float | None = None) -> Flag | None:
        if self._last is None or self._fired:
            return None
        now = self.clock() if now is None else float(now)
        down = now - self._last
        if down < self.offline_s:
            return None
        self._fired = True
        return Flag(OFFLINE, 1.0, None, {"down_s": round(down, 3)})
