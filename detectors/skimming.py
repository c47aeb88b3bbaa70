"""Skimming: something fitted to the ATM's fascia (a card-slot overlay, a fake keypad, a pinhole
camera) by someone who then left.

The fascia is a configured region (`skimming.roi`, source pixels). Its structure (features/fascia.py:
edges and texture of its reflectance, per cell of the region) is learnt while nothing moves in front
of it, then compared again, cell by cell, whenever nothing does:
- a cell is compared only when no pixel change covered it (or its neighbours) for `settle_s`, against
  the previous look once the camera's own shake is aligned out (phase correlation on the region's
  margin, or out to `shake_context` of its size, never on the fascia itself; what the alignment
  leaves within a pixel is not a change). A view that drifted beyond the margin since it was learnt
  (a pan, measured against the learnt view or summed look by look) is not compared, and changes seen
  before it start again; but a margin that no longer matches the learnt view while the surroundings
  beyond it (`surround`) still do was covered, not turned.
  Nothing is compared while a tracked person (`ctx.people`) is within `at_machine` of the region
  (unless only blobs on the fascia itself bring a moving person's box there: the occupancy stage
  joins a new blob on the fascia to someone passing near; nor a track seen moving in one frame only,
  once that frame has passed; a board fitted over the fascia and beyond it is a region of the motion
  mask too, until the occupancy stage finds it a thing: detectors/people.py, `people.thing_after_s`),
  or from a light switching (the motion detector's guard, seen on any frame) until the motion
  detector has learnt the scene again (it knows no person meanwhile). Something moving
  in its `margin` that reaches its edge holds the cells joined to where it came in (through cells
  that moved or differ from what was learnt): a customer's hand resting on the keypad while its arm
  moves is never compared, a skimmer elsewhere on the fascia is (movement in the margin away from
  the edge, a passer-by beyond it or a news ticker under it, holds only the cells it covers);
- a busy scene is learnt cell by cell (each cell from `learn_s` of views in which nothing had moved
  over it or its neighbours for `settle_s`: movement in the margin that reaches the edge holds the
  comparisons, not the learning of the cells it does not cover; a person at the machine or a light
  switching holds both);
- a cell that differs from what was learnt, on every comparison for `after_s`, is a change that
  stays (counted from when nothing had moved over it for `settle_s`, also while movement in the margin
  held the comparisons then, but from half of `after_s` before the first comparison that found it at
  most, and from that comparison when an earlier one found the cell as learnt since); a group of at
  least `min_cells` such cells (at least `settled_share` of the group of cells that differ around
  them: a change still spreading has not settled; and under `max_share` of the region, with at most
  `ring_share` of the margin changed: beyond either the view moved, zoomed or lost focus, which is
  tamper's, unless the surroundings out to `surround` of its size beyond the margin still look as
  learnt: then a fake fascia was fitted over all of the region), `min_cells` of them compared and
  found changed within the last half of `after_s` (and, with `min_strength` above 1, one of them by
  that many times its threshold; with `clear_under`, in a change of fewer cells, one of them by
  `clear_strength` times it), raises `skimmer_suspected` with the group's box and a before/after
  pair of the region for the evidence; so does a smaller group, down to `small_cells`, when that many
  of its cells differ clearly (by `clear_strength` times their threshold: a pinhole camera, a small
  patch; such a cell counts as changed whatever share of its own edges that is);
- the flag repeats while the change stays, also while someone stands in front of it (what was fitted
  is still there); comparisons that find those cells as learnt end it (the overlay was removed).

What was learnt is kept in `reference_file` (`run` puts it under `storage_dir`): a restart, or a power
cut by whoever fitted the skimmer, must not learn the skimmer as the fascia. An engineer who serviced
the machine re-learns it with `python run.py relearn` (the service notices within RECHECK_S) or by
changing the region (config reload).

`trace_file` makes the detector write a CSV row per look (TRACE_FIELDS): what it learnt, held, compared
and found, from its own state, so that a site reads why its camera's footage raised or did not.

The detector also publishes the region (`ctx.fascia`, motion pixels) for the detectors after it: the
shoulder-surfing check's "at the machine", and the left-object detector, which leaves what appears on
the fascia to this one (`ctx.claimed`).

A booth with more to watch (a second machine, a deposit slot) lists it under `more_rois`: each region
is watched by a detector of its own, as `roi` is (what it learnt, kept in its own file, its flag, a
before/after pair of its own), its flag keyed by its region so that it is an episode of its own
(pipeline/decision.py). Each is claimed from the left-object detector; `ctx.fascia` stays `roi`'s.
"""

from __future__ import annotations

import logging
import os
from typing import Any, NamedTuple

import cv2
import numpy as np
from pydantic import Field, field_validator, model_validator

from core.detector import Detector, Flag, register
from core.errors import UserError
from core.events import ATTACK, EventSpec
from core.settings import Section
from core.trace import CsvTrace
from features.boxes import intersection
from features.fascia import (CELL, FasciaModel, Surroundings, cell_structure, cells_within, grid_size, moved_pixels,
                             movement_threshold, settled_region, working_size)

log = logging.getLogger(__name__)
RECHECK_S = 5.0   # how often the kept fascia's file is looked for (`relearn` deletes it)
# Why a look compared nothing (SkimmingDetector.held): a light switched, a tracked person at the machine,
# movement in the margin, the view turned beyond it; or it was compared and set aside: the region's
# margin changed as well (`ring_share`: the view moved or zoomed), the whole fascia changed (`max_share`:
# tamper's), and, for both, the surroundings beyond (`surround`) too. A look is counted once, under the
# first reason found.
HELD = ("light", "person", "margin", "turned", "view", "whole")


class _Scaled(NamedTuple):
    """The region and its zones in the motion detector's pixels (x, y, w, h), for one scale."""

    scale: float              # source pixels per motion pixel
    box: tuple                # the fascia
    claimed: tuple            # (box,): what the left-object detector leaves to this one
    front: tuple              # within `at_machine` of the fascia: someone there is at the machine
    outer: tuple              # the fascia with its margin


# The columns of `trace_file`: the look's frame and time; the motion detector still calibrating (no
# person is known then); the share of the region learnt; why the look was held or its comparison set aside
# (HELD, empty: it was not); whether it compared some cell of the region; the people tracked; how far the
# view drifted from the learnt one (source px); the region's cells that differ since an earlier
# comparison, and for how long the oldest of them has; the cells the last views differ in and the
# strongest of them in times its threshold; whether skimmer_suspected is raised.
TRACE_FIELDS = ("frame", "time_s", "calibrating", "learnt", "held", "compared", "people", "drift_x", "drift_y",
                "differ", "held_for_s", "changed", "strongest", "raised")


class SkimmingConfig(Section):
    """Skimming: a change fitted to the ATM's fascia; see detectors/skimming.py."""

    enabled: bool = Field(True, description="watch the fascia for skimmers (only where roi is set)")
    roi: list[int] | None = Field(None, description="the ATM's fascia (card slot, keypad) as [x, y, w, h] in source "
                                                    "pixels; none: no skimming check")
    more_rois: list[list[int]] = Field([], description="more fascias, each [x, y, w, h] in source pixels, watched "
                                                       "as roi is (a second machine, a deposit slot, a separate "
                                                       "card reader), each learnt and kept on its own (the "
                                                       "learnt file's name with -x-y-w-h before its "
                                                       "extension); roi stays the machine whose PIN pad the "
                                                       "shoulder-surfing check watches")
    after_s: float = Field(0.3, gt=0, le=3600, description="a cell must differ from what was learnt on every "
                                                           "comparison for this long (counted from when it was "
                                                           "still for settle_s, half of it at most before the "
                                                           "first comparison that found it) to count towards "
                                                           "skimmer_suspected")
    settle_s: float = Field(0.2, ge=0, le=60, description="after something last moved over a cell, wait this long "
                                                          "before comparing or learning it")
    learn_s: float = Field(0.3, gt=0, le=600, description="each cell is learnt from this long of views in which "
                                                          "nothing moved over it (at least 3 views)")
    margin: float = Field(0.1, ge=0, le=5, description="movement within this share of the region's size around it "
                                                        "reaches the cells at its edge; a camera's shake up to it "
                                                        "is aligned out")
    at_machine: float = Field(0.25, ge=0, le=5, description="a tracked person within this share of the region's "
                                                            "size of it is at the machine: nothing is compared")
    motion_share: float = Field(0.01, gt=0, lt=1, description="this share of a cell's pixels (or of the margin's) "
                                                              "changing from one look to the next is movement")
    motion_threshold: float = Field(18.0, gt=0, le=255, description="grey levels a pixel must change by to count "
                                                                    "as movement (more on a noisy camera: 4 "
                                                                    "standard deviations of its noise)")
    min_cells: int = Field(3, ge=1, le=1000, description=f"the smallest change, in cells of {CELL}x{CELL} working "
                                                         f"pixels (the region's long side is 96)")
    small_cells: int = Field(2, ge=0, le=1000, description="a change of fewer than min_cells cells counts when at "
                                                           "least this many of them differ by clear_strength "
                                                           "times their threshold (a small skimmer, a pinhole "
                                                           "camera); 0: never")
    clear_strength: float = Field(3.0, ge=1, le=50, description="a cell that differs by this many times its "
                                                                "threshold (the one sensitivity and min_edge set) "
                                                                "is a clear change: it counts towards small_cells, "
                                                                "and as changed whatever share of its own edges "
                                                                "that is (a small patch over a busy keypad)")
    clear_under: int = Field(0, ge=0, le=1000, description="a change of fewer cells than this starts a flag only "
                                                           "when one of them differs clearly (clear_strength): a "
                                                           "few cells that differ a little can be a view that "
                                                           "moved, a stream's noise or someone who stood there "
                                                           "while the fascia was learnt; 0: any (6 for a camera "
                                                           "that raises such changes: fewer false alarms, fewer "
                                                           "faint or fine-textured skimmers found; score both with "
                                                           "evaluate --task skimming)")
    settled_share: float = Field(0.5, gt=0, le=1, description="a group of cells that differ is raised only once this "
                                                              "share of them has differed for after_s: a change "
                                                              "still spreading (someone leaning in too slowly to "
                                                              "count as movement) has not settled")
    hold_on_margin: bool = Field(False, description="any movement in the margin holds the whole fascia (else only "
                                                    "movement reaching its edge holds, and only the cells joined "
                                                    "to it): fewer comparisons, so fewer false alarms and fewer "
                                                    "skimmers found on a blocky or shaking stream")
    shake_context: float = Field(0.0, ge=0, le=5, description="0: the camera's shake between two looks is measured "
                                                             "on the margin alone; more: on the region's "
                                                             "surroundings out to this share of its size (the "
                                                             "fascia itself left out; 0.5 for a shaking mount: more "
                                                             "skimmers found there, more false alarms on a noisy "
                                                             "or blocky stream)")
    ring_share: float = Field(0.1, gt=0, le=1, description="a change over more than this share of the margin around "
                                                           "the region is the view moving or zooming, not something "
                                                           "fitted")
    surround: float = Field(0.5, ge=0, le=5, description="a change over more than ring_share of the margin or "
                                                        "max_share of the region is still compared when at "
                                                        "most half of ring_share of the surroundings out to "
                                                        "this share of the region's size around it (a cell "
                                                        "clear of the margin; the still cells with edges) "
                                                        "changed: a fake fascia fitted over all of it; 0 (or "
                                                        "under margin): always set aside")
    max_share: float = Field(0.7, gt=0, le=1, description="a change over more than this share of the region is "
                                                          "the whole view changing, not something fitted")
    sensitivity: float = Field(4.0, gt=0, le=50, description="a cell changed when it differs by this many times "
                                                             "its learnt spread, plus min_edge")
    min_strength: float = Field(1.0, ge=1, le=50, description="a flag starts only when some cell of the change "
                                                              "differs by at least this many times its threshold "
                                                              "(the one sensitivity and min_edge set); 1: any. A "
                                                              "heavily compressed, blurred or shaken stream makes "
                                                              "cells differ by a little more than it for a while, "
                                                              "an overlay that stands out by several times it, "
                                                              "one made to blend in by little more: raise it only "
                                                              "for such a camera, and score what it costs with "
                                                              "evaluate --task skimming --perturb and "
                                                              "--patch-style faint")
    min_edge: float = Field(0.4, gt=0, le=10, description="the least change of a cell's edges that counts (mean "
                                                          "reflectance gradient summed over 4 orientations; an "
                                                          "overlay's outline gives 1 to 4, a flat wall's noise 0.1)")
    update_hz: float = Field(10.0, gt=0, le=120, description="the fascia is looked at this many times a second at "
                                                             "most")
    reference_file: str | None = Field(None, description="where the learnt fascia is kept across restarts (run: "
                                                         "storage_dir/fascia.npz when empty)")
    trace_file: str | None = Field(None, description="a CSV file to write a row to at each look at the fascia: "
                                                     "what was learnt, what held the look, the cells that differ "
                                                     "and by how much, whether it raised (a region of more_rois: "
                                                     "its box before the extension); to see why a site's footage "
                                                     "raised or did not")

    @field_validator("roi")
    @classmethod
    def _box(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and not _is_box(v):
            raise ValueError("roi must be [x, y, w, h] in source pixels, x and y >= 0, w and h >= 8")
        return v

    @field_validator("more_rois")
    @classmethod
    def _boxes(cls, v: list[list[int]]) -> list[list[int]]:
        for i, box in enumerate(v):
            if not _is_box(box):
                raise ValueError(f"more_rois[{i}] must be [x, y, w, h] in source pixels, x and y >= 0, w and h >= 8")
        return v

    @model_validator(mode="after")
    def _more_needs_roi(self) -> "SkimmingConfig":
        if self.more_rois and not self.roi:
            raise ValueError("more_rois needs roi (the machine the shoulder-surfing check watches) set first")
        return self


def _is_box(v: list[int]) -> bool:
    return len(v) == 4 and v[0] >= 0 and v[1] >= 0 and v[2] >= 8 and v[3] >= 8


def region_path(path: str | None, box: list[int]) -> str | None:
    """Where a region of more_rois keeps its learnt fascia: `path` (roi's) with the box before its
    extension, so that adding, removing or reordering regions never gives one region another's file;
    None for None (a video file learns its own)."""
    if path is None:
        return None
    root, ext = os.path.splitext(path)
    return f"{root}-{'-'.join(str(v) for v in box)}{ext}"


def region_configs(cfg: SkimmingConfig) -> list[SkimmingConfig]:
    """One config per region of `more_rois`: the same settings, its own box, learnt file and trace."""
    return [cfg.model_copy(update={"roi": list(box), "more_rois": [],
                                   "reference_file": region_path(cfg.reference_file, box),
                                   "trace_file": region_path(cfg.trace_file, box)})
            for box in cfg.more_rois]


def reference_path(cfg: SkimmingConfig, storage_dir: str) -> str:
    """Where `run` keeps the learnt fascia of `roi`: `reference_file`, or storage_dir/fascia.npz."""
    return cfg.reference_file or os.path.join(storage_dir, "fascia.npz")


def reference_paths(cfg: SkimmingConfig, storage_dir: str) -> dict[tuple[int, ...], str]:
    """Where `run` keeps each region's learnt fascia, by region (box -> path): roi's, then those of
    more_rois in their order; none without roi."""
    if not cfg.roi:
        return {}
    path = reference_path(cfg, storage_dir)
    return {tuple(cfg.roi): path, **{tuple(box): region_path(path, box) for box in cfg.more_rois}}


@register
class SkimmingDetector(Detector):
    name = "skimming"
    Settings = SkimmingConfig
    events = {"skimmer_suspected": EventSpec(ATTACK, repeat=False, description="something fitted to the ATM's "
                                                                               "fascia (card slot, keypad) stayed")}

    @classmethod
    def enabled(cls, cfg: SkimmingConfig) -> bool:
        return bool(cfg.enabled and cfg.roi)

    def __init__(self, cfg: SkimmingConfig, fps: float, models: dict[str, Any] | None = None):
        super().__init__(cfg, fps)
        self._every = max(1, int(round(fps / cfg.update_hz)))
        self.model = FasciaModel(max(3, int(round(cfg.learn_s * min(fps, cfg.update_hz)))), k=cfg.sensitivity,
                                 floor=cfg.min_edge, clear=cfg.clear_strength)
        self.far_model = FasciaModel(self.model.learn_views, k=cfg.sensitivity, floor=cfg.min_edge)   # `surround`
        self.before: np.ndarray | None = None   # the region (BGR, with its margin) when it was learnt
        self.learnt_from = "none"
        self._frames = 0
        self._roi: tuple[int, int, int, int] | None = None       # clipped to the picture, source px
        self._outer: tuple[int, int, int, int] | None = None     # with the margin: x0, y0, x1, y1
        self._front: tuple[float, ...] | None = None             # where a person is at the machine: x, y, w, h
                                                                 # (source px)
        self._window: np.ndarray | None = None
        self._prev: np.ndarray | None = None
        self._context: tuple[int, int, int, int] | None = None   # where the shake between looks is measured:
                                                                 # x0, y0, x1, y1 (source px)
        self._context_window: np.ndarray | None = None
        self._prev_context: np.ndarray | None = None
        self._ref: np.ndarray | None = None      # the region with its margin in grey, to align the views to
        self._shaken = False                     # the last view needed aligning to it
        # How far the view moved from the learnt one: measured against it, plus the shifts between
        # looks since (a slow pan is seen look by look even where the learnt view no longer matches).
        self._drift = [0.0, 0.0]
        self._last_shift = (0.0, 0.0)            # the last shift _align measured
        self._fascia: _Scaled | None = None      # the region and its zones in motion pixels, per scale
        self._surround: Surroundings | None = None   # beyond the margin (`surround`): a fake fascia or the view
        self._threshold = cfg.motion_threshold       # the last look's movement threshold (grey levels)
        self._saved = False                      # what was learnt is in reference_file
        self._checked_s = -1e9
        self.looks = 0        # looks at the fascia so far, and those in which some cell was compared
        self.compared = 0
        # Looks in which nothing could be compared, or whose comparison was set aside, by why (HELD): how
        # a site sees what blinds the check on its camera.
        self.held = dict.fromkeys(HELD, 0)
        self.reached = 0      # looks in which movement in the margin reached the region's edge (`_joined`)
        # Looks in which that movement held cells of the region that differ from what was learnt without
        # moving themselves: a hand resting on the keypad, or something fitted beside someone at the edge.
        self.joined = 0
        self._why: str | None = None   # why this look was held, once counted
        self._key = "roi"   # the config's key for this region
        self._trace = CsvTrace(cfg.trace_file, TRACE_FIELDS, "skimming.trace_file") if cfg.trace_file else None
        self._forget()
        self._load()
        # The regions of `more_rois`, each watched as this one is, by a detector of its own (what it learnt,
        # its file, its flag); only this one's region is `ctx.fascia`.
        self.others = [self._other(c) for c in region_configs(cfg)]

    def _forget(self) -> None:
        """What the comparisons found so far (not what was learnt)."""
        self._moved_s: np.ndarray | None = None   # per cell: when something last moved over it, or was held
        self._own_s: np.ndarray | None = None     # per cell: when something last moved over it (_moved's own)
        self._since: np.ndarray | None = None     # per cell: since when it differs (nan: it does not)
        self._same_s: np.ndarray | None = None    # per cell: the last look that found it as learnt
        self._seen_s: np.ndarray | None = None    # per cell: the last look that found it changed
        self._view: np.ndarray | None = None      # the last looks, averaged per cell
        self._alerted = False
        self._box: tuple[int, int, int, int] | None = None

    def _other(self, cfg: SkimmingConfig) -> "SkimmingDetector":
        """The detector that watches one region of `more_rois`."""
        other = SkimmingDetector(cfg, self.fps)
        other._key = "more_rois"
        return other

    def learnt(self, box: tuple[int, int, int, int] | None = None) -> float:
        """The share of the region's own cells learnt (its margin's left out): under half, nothing is
        compared yet. `box` (x, y, w, h, source px): of those whose centre lies in it (the cell under
        its centre when none does): a change there made before they were learnt is learnt with them."""
        if self._roi is None:
            return 0.0
        cells = self._in_roi
        if box is not None:
            x, y, w, h = box
            inner = cells_within(self._outer, self._size, (x, y, x + w, y + h)) & cells
            if not inner.any():
                ox, oy, ox1, oy1 = self._outer
                rows, cols = inner.shape
                r = min(rows - 1, max(0, int((y + h / 2 - oy) * rows / (oy1 - oy))))
                c = min(cols - 1, max(0, int((x + w / 2 - ox) * cols / (ox1 - ox))))
                inner[r, c] = True
            cells = inner
        return self.model.share_ready(cells)

    def is_calibrating(self) -> bool:
        return self.learnt() < 0.5 or any(o.is_calibrating() for o in self.others)

    def summary(self) -> str | None:
        if self._roi is None:
            return None
        # With more regions, a line for each, saying which.
        return "\n".join([self._line(bool(self.others)), *(o._line(True) for o in self.others if o._roi is not None)])

    def _line(self, named: bool) -> str:
        looks = max(1, self.looks)
        held = ", ".join(f"{why} {100 * n / looks:.0f} %" if n >= 0.01 * looks else f"{why} under 1 %"
                         for why, n in self.held.items() if n)
        return (f"skimming{f' {self.cfg.roi}' if named else ''}: {self.looks} looks at the fascia, "
                f"{100 * self.learnt():.0f} % of it learnt ({self.learnt_from}); compared on "
                f"{100 * self.compared / looks:.0f} % of looks" + (f"; held or set aside: {held}" if held else ""))

    def reset(self) -> None:
        # Only the previous look is forgotten: what the fascia looks like does not depend on the motion
        # detector's state, and forgetting it on a reset would let a skimmer be learnt.
        self._prev = self._prev_context = None
        for o in self.others:
            o.reset()

    def reload(self, cfg: SkimmingConfig) -> str:
        """A config reload: a new region, or a learnt fascia deleted by `python run.py relearn`, is
        learnt again, each of `more_rois` too; what happened, in words."""
        said = [self._reload_region(cfg, bool(cfg.more_rois or self.others))]
        kept = {tuple(o.cfg.roi): o for o in self.others}
        others = []
        for c in region_configs(cfg):
            o = kept.pop(tuple(c.roi), None)
            if o is None:   # a region added: the file kept for it, if any, is read (else it is learnt)
                o = self._other(c)
                said.append(f"skimming: new region {c.roi}, " + ("its learnt fascia read from its file"
                                                                 if o.model.n is not None else "learning its fascia"))
            else:
                said.append(o._reload_region(c, True))
            others.append(o)
        said += [f"skimming: region {list(r)} no longer watched" for r in kept]
        self.others = others
        return "; ".join(said)

    def _reload_region(self, cfg: SkimmingConfig, named: bool) -> str:
        new_roi = list(cfg.roi or []) != list(self.cfg.roi or [])
        path = self.cfg.reference_file
        deleted = bool(path) and not os.path.exists(path) and self.model.n is not None
        self.cfg = cfg
        which = f" {cfg.roi}" if named else ""
        if new_roi:
            self._roi = self._window = self._prev = self._fascia = None
            self._context = self._context_window = self._prev_context = None
            self.relearn()
            return f"skimming: new region {cfg.roi}, learning the fascia again"
        if deleted:
            self.relearn()
            return f"skimming{which}: the learnt fascia was deleted, learning it again"
        return f"skimming{which}: fascia kept"

    def relearn(self) -> None:
        """Forget the fascia (an engineer serviced the machine): learnt again while nothing moves."""
        self._saved = False
        self.model.reset()
        self.far_model.reset()
        self._ref = None
        self._shaken = False
        self._drift = [0.0, 0.0]
        self.before = None
        self.learnt_from = "none"
        self._forget()
        path = self.cfg.reference_file
        if path and os.path.exists(path):
            os.remove(path)

    # -- per frame ------------------------------------------------------------------------------------

    def detect(self, ctx) -> list[Flag]:
        flags = self._detect_region(ctx, publish=True)
        for other in self.others:
            flags += other._detect_region(ctx, publish=False)
        return flags

    def _detect_region(self, ctx, publish: bool) -> list[Flag]:
        """This region's flag; `publish`: it is `ctx.fascia` (roi's), else it is only claimed."""
        raw = ctx.frame.raw if ctx.frame is not None else None
        if raw is None:
            return []
        if self._roi is None:
            self._place(raw.shape[1], raw.shape[0])
        s = ctx.to_source
        if self._fascia is None or self._fascia.scale != s:   # made once (per scale), not per frame
            x, y, w, h = self._roi
            box = (x / s, y / s, w / s, h / s)
            ox, oy, ox1, oy1 = self._outer
            self._fascia = _Scaled(s, box, (box,), tuple(v / s for v in self._front),
                                   (ox / s, oy / s, (ox1 - ox) / s, (oy1 - oy) / s))
        if publish:
            ctx.fascia = self._fascia.box
        ctx.claimed = self._fascia.claimed if not ctx.claimed else (*ctx.claimed, self._fascia.box)
        self._frames += 1
        if (self._frames - 1) % self._every == 0:
            compared = self.compared
            self._look(ctx, raw)
            if self._trace is not None:
                self._trace.write(self._trace_row(ctx, self.compared > compared))
        if not self._alerted:
            return []
        bx, by, bw, bh = self._box
        # A region of more_rois is its own episode (its own event, evidence and end), roi's the type's own.
        return [Flag("skimmer_suspected", 1.0, (bx / s, by / s, bw / s, bh / s),
                     {"roi": list(self._roi), "learnt_from": self.learnt_from},
                     key=None if publish else str(self.cfg.roi), images=lambda: self._images(raw))]

    def _trace_row(self, ctx, compared: bool) -> dict:
        """What this look did (TRACE_FIELDS), from the detector's own state after it: the rows a site
        reads are what the live check did, not a summary computed beside it."""
        row = {"frame": ctx.index, "time_s": round(ctx.time_s, 3), "calibrating": int(bool(ctx.motion.calibrating)),
               "learnt": round(self.learnt(), 3), "held": self._why or "", "compared": int(compared),
               "people": len(ctx.people or ()), "drift_x": round(self._drift[0], 1),
               "drift_y": round(self._drift[1], 1), "raised": int(self._alerted)}
        if self._since is not None:
            differs = ~np.isnan(self._since) & self._in_roi
            row["differ"] = int(differs.sum())
            row["held_for_s"] = round(float(np.max(ctx.time_s - self._since[differs])), 3) if differs.any() else ""
        if self._view is not None and self.model.n is not None:
            changed = self.model.changed(self._view) & self._in_roi
            strength = self.model.strength(self._view)[changed]
            row["changed"] = int(changed.sum())
            row["strongest"] = round(float(strength.max()), 2) if strength.size else ""
        return row

    def check_source(self, width: int, height: int) -> None:
        self._fitted(width, height)
        for o in self.others:
            o._fitted(width, height)

    def _fitted(self, W: int, H: int) -> tuple[int, int, int, int]:
        """The region clipped to a W x H picture (x, y, x1, y1); refused when under 8 px of it is left."""
        x, y, w, h = self.cfg.roi
        x1, y1 = min(W, x + w), min(H, y + h)
        if x1 - x < 8 or y1 - y < 8:
            raise UserError(f"invalid config: skimming.{self._key} {self.cfg.roi} lies outside the {W}x{H} picture")
        return x, y, x1, y1

    def _place(self, W: int, H: int) -> None:
        x, y, x1, y1 = self._fitted(W, H)
        self._roi = (x, y, x1 - x, y1 - y)
        m = self.cfg.margin
        dx, dy = int(round(m * (x1 - x))), int(round(m * (y1 - y)))
        self._outer = (max(0, x - dx), max(0, y - dy), min(W, x1 + dx), min(H, y1 + dy))
        fx, fy = self.cfg.at_machine * (x1 - x), self.cfg.at_machine * (y1 - y)
        self._front = (x - fx, y - fy, x1 - x + 2 * fx, y1 - y + 2 * fy)   # x, y, w, h; source px
        # Cells over the region with its margin, at the resolution the region alone would get: the
        # margin's cells tell a skimmer (the fascia changed, its surroundings did not) from a camera that
        # was moved or zoomed (both changed).
        scale = working_size(x1 - x, y1 - y)[0] / (x1 - x)
        self._size = grid_size(self._outer[2] - self._outer[0], self._outer[3] - self._outer[1], scale)
        self._in_roi = cells_within(self._outer, self._size, (x, y, x1, y1))
        # The shake that can be aligned: up to the margin (at least 2 px); the border a shift uncovers
        # is left out of the movement test.
        self._slack = (max(2, dx), max(2, dy))
        self._slack_px = (max(2, dx // 2), max(2, dy // 2))
        # With shake_context, the shake between two looks is measured on wider surroundings than the
        # margin: a tenth of the region's size around it holds too little texture (fight_surv under a
        # shake of 2 px a frame: shifts of 1 to 3 px came out at about half their size, and the fascia's
        # own edges then moved at every look, so a skimmer's cells were never still and never compared).
        # Not the default: on noisy, low-contrast or blurred footage more looks are then aligned and
        # compared, and more clips raised (evaluate --perturb).
        g = self.cfg.shake_context
        gx, gy = int(round(g * (x1 - x))), int(round(g * (y1 - y)))
        self._context = (max(0, x - gx), max(0, y - gy), min(W, x1 + gx), min(H, y1 + gy))
        # The pixels of the margin that touch the region (what reaches into it crosses them).
        self._edge = np.zeros((self._outer[3] - self._outer[1], self._outer[2] - self._outer[0]), bool)
        ex, ey = x - self._outer[0], y - self._outer[1]
        self._edge[max(0, ey - 1):ey + (y1 - y) + 1, max(0, ex - 1):ex + (x1 - x) + 1] = True
        self._edge[ey:ey + (y1 - y), ex:ex + (x1 - x)] = False
        # The surroundings beyond the margin, at the fascia's cell size: a board over all of the fascia and
        # its margin leaves them as learnt, a view moved, zoomed or out of focus does not.
        self._surround = None
        f = self.cfg.surround
        if f > m:
            fx, fy = int(round(f * (x1 - x))), int(round(f * (y1 - y)))
            box = (max(0, x - fx), max(0, y - fy), min(W, x1 + fx), min(H, y1 + fy))
            self._surround = Surroundings(box, self._outer, grid_size(box[2] - box[0], box[3] - box[1], scale),
                                          self.far_model)

    def _look(self, ctx, raw: np.ndarray) -> None:
        now = ctx.time_s
        if self._saved and now - self._checked_s >= RECHECK_S:
            # `python run.py relearn` deleted it (an engineer serviced the machine): learnt again.
            self._checked_s = now
            if not os.path.exists(self.cfg.reference_file):
                log.warning("skimming: %s was deleted: learning the fascia again", self.cfg.reference_file)
                self.relearn()
        self._why = None
        # The region with its margin lies within the surroundings: cut and converted once, when they are watched.
        wide = _grey(raw, self._surround.box) if self._surround is not None else None
        grey = _grey(raw, self._outer) if wide is None else _within(wide, self._surround.box, self._outer)
        if self._ref is not None and self._ref.shape != grey.shape:
            log.warning("skimming: the fascia was learnt at another camera resolution: learning it again")
            self.relearn()
        if self._ref is None:
            self._ref = grey
        rows, cols = self._size[1] // CELL, self._size[0] // CELL
        if self._moved_s is None:
            self._moved_s = np.full((rows, cols), now)
            self._own_s = np.full((rows, cols), now)
            self._since = np.full((rows, cols), np.nan)
            self._same_s = np.full((rows, cols), -np.inf)
            self._seen_s = np.full((rows, cols), -np.inf)
        prev, self._prev = self._prev, grey
        context = _grey(raw, self._context) if self.cfg.shake_context else None
        prev_context, self._prev_context = self._prev_context, context
        if self._surround is not None:   # which of their cells something moved over (they learn the still ones)
            self._surround.watch(wide, now, self._threshold, self.cfg.motion_share)
        moved, own = self._moved(ctx, prev, grey, (rows, cols), prev_context, context)
        if (self._surround is not None
                and self._surround.learn(now, self.cfg.settle_s, held=self._why in ("light", "person", "turned"))
                and self._saved):
            self._save()   # the surroundings' last cells, learnt after the fascia was kept
        self._moved_s[moved] = now
        self._own_s[own] = now
        still = now - self._moved_s >= self.cfg.settle_s - 1e-9
        # A cell is learnt once nothing moved over it (or its neighbours) for settle_s, also while
        # movement in the margin reaches the region's edge: that rule keeps a hand resting on the keypad
        # from being compared while its arm moves, but the arm's own cells are not learnt either, and in
        # a busy scene (a passer-by brushing the margin every other look) the fascia would otherwise not
        # be learnt for minutes. Nothing is learnt while someone is at the machine or a light switches.
        learn = now - self._own_s >= self.cfg.settle_s - 1e-9
        self.looks += 1
        if not learn.any():
            return
        # The camera's own shake (a mount in the wind, a door slammed) moves the whole region: the view
        # is aligned to what was learnt before it is compared, so only what moved against the scene
        # counts. A fixed camera needs none: the view is aligned only when the last one needed it or
        # this one, unaligned, shows a change.
        roi = self._in_roi
        was_ready = self.model.share_ready(roi)
        aligned = grey
        if self._shaken:
            aligned, self._shaken = self._align_learnt(grey)
            if aligned is None:
                self._hold("turned")
                self._turned(now)
                return
        view = cell_structure(aligned, self._size)
        if not self._shaken and was_ready >= 0.5 and (self.model.changed(view) & still).any():
            realigned, self._shaken = self._align_learnt(grey)
            if realigned is None:
                self._hold("turned")
                self._turned(now)
                return
            if self._shaken:
                aligned = realigned
                view = cell_structure(aligned, self._size)
        if still.any():   # the views compared (a look that only learns leaves them as they were)
            self._view = view if self._view is None else np.where(moved[..., None], view, 0.5 * (self._view + view))
        self.model.add(view, learn)
        now_ready = self.model.share_ready(roi)
        if was_ready < 0.5 <= now_ready:
            self._ref = aligned   # the surroundings as they were when the fascia was learnt
            self._drift = [0.0, 0.0]
            ox0, oy0, ox1, oy1 = self._outer
            self.before = raw[oy0:oy1, ox0:ox1].copy()
            self.learnt_from = f"frame {ctx.index}"
            self._save()
        elif was_ready < 1.0 <= now_ready:
            self._save()          # the last cells learnt (a busy scene is learnt cell by cell)
        if now_ready < 0.5 or not still.any():
            return
        ready = self.model.ready
        # Some cell of the fascia is compared at this look (else movement held all of it, and `held` said
        # why already): what the counts below are of.
        compares = bool((ready & still & roi).any())
        changed = self.model.changed(self._view) & still
        ring = ready & still & ~roi
        why = ("view" if ring.sum() >= 4 and changed[ring].mean() > self.cfg.ring_share
               else "whole" if changed[roi].sum() > self.cfg.max_share * max(1, (ready & roi).sum()) else None)
        if why and not self._surroundings_as_learnt():
            # The margin changed as well (the view moved or zoomed), or the whole fascia did (covered,
            # defocused: tamper's), and so did the surroundings beyond: nothing was fitted.
            if compares:
                self._hold(why)
            return
        self.compared += compares
        changed &= roi
        since = self._since
        fresh = changed & np.isnan(since)
        # A change is counted from when its cell was first still after something last moved over it, not
        # from the first look that could compare it: movement in the margin that reaches the region's
        # edge holds the comparisons of what it is joined to (a hand resting on the keypad must not be
        # compared while its arm moves), and in a busy scene a skimmer fitted and left while people brush
        # past was raised only once the margin had been quiet for settle_s + after_s, if ever. But by half
        # of after_s at most: the other half must be seen, on every comparison (a customer's hand resting
        # on the keypad while the arm moved is not raised the moment they stand still; a single look
        # aligned a pixel off, a camera shaking by more than its margin, differs wherever it has edges).
        # And not at all when a comparison found the cell as learnt since: the change arrived without
        # moving over it (a view creeping) and is counted from now.
        still_from = self._own_s[fresh] + self.cfg.settle_s
        since[fresh] = np.where(self._same_s[fresh] >= still_from - 1e-9, now,
                                np.clip(still_from, now - 0.5 * self.cfg.after_s, now))
        same = still & ready & roi & ~changed
        since[same] = np.nan
        self._same_s[same] = now
        self._seen_s[changed] = now
        differs = ~np.isnan(since)
        mature = differs & (now - since >= self.cfg.after_s - 1e-9)
        # A flag starts only once at least min_cells of its cells were compared and found changed within
        # the last half of after_s: cells that reached after_s on looks that held them (something moving
        # beside them, joined to them) are no evidence until they are seen again (fight_surv fi076: a dark
        # scene's flicker, its cells held over the looks after a light switched, was raised on a look that
        # compared 5 of its 20 cells, the strongest at 1.4 times its threshold). Not at this look alone: a
        # shaking camera compares each cell at every other look or so (the synthetic shake of the tests
        # was raised 2.5 s later); not over all of after_s: fight_surv fi009's shaking camera then raised.
        seen = None if self._alerted else now - self._seen_s <= 0.5 * self.cfg.after_s + 1e-9
        cells, box = settled_region(differs, mature, self.cfg.settled_share, seen=seen,
                                    least=self.cfg.min_cells)
        ok = cells >= self.cfg.min_cells
        if not ok and 0 < self.cfg.small_cells < self.cfg.min_cells and mature.any():
            # A smaller change counts when its cells differ clearly: on fight_surv's still cameras a patch
            # a fifth of the region's sides changes a few cells, most by 3 to 8 times their threshold;
            # with this and the clear cells counted as changed (FasciaModel's `clear`), evaluate --task
            # skimming --patch-size 0.2 found 164 of 200 where min_cells alone found 158, and no recorded
            # clip raised. Asked, as a larger group is, of cells that held their change for after_s and
            # were compared lately.
            clear = mature & (self.model.strength(self._view) >= self.cfg.clear_strength)
            small, small_box = settled_region(differs, clear, self.cfg.settled_share, seen=seen,
                                              least=self.cfg.small_cells)
            if small >= self.cfg.small_cells:
                cells, box, ok = small, small_box, True
        if ok and (self._alerted or self._strong(box, cells)):
            ox, oy, ox1, oy1 = self._outer
            sx, sy = (ox1 - ox) / cols, (oy1 - oy) / rows
            self._box = (ox + int(box[0] * sx), oy + int(box[1] * sy), int(np.ceil(box[2] * sx)),
                         int(np.ceil(box[3] * sy)))
            self._alerted = True
        else:
            self._alerted = False

    def _strong(self, box: tuple[int, int, int, int], cells: int) -> bool:
        """Some cell of the change found (`box`, in cells; `cells` of them held it) differs by `min_strength`
        times its threshold, and, in a change of fewer than `clear_under` cells, by `clear_strength`: asked
        only when a flag would start. Of the box, not of the group's own cells: a stream's noise or
        blur splits one change into several groups, and the box takes in their strong cells (asked of
        each group alone, fewer perturbed patches were found by evaluate --perturb, and the same
        recorded replays raised).

        Why a site may want a small change to be clear: with the region chosen in each clip at 10 or 25 %
        of the picture's sides instead of 15 % (evaluate --task skimming --roi-share), 4 and 3 of
        fight_surv's 200 recorded clips raised, each by 3 to 5 cells that differed by 1.2 to 2.8 times
        their threshold (a panning camera, an animated logo, someone who stood on the region while it
        was learnt and left). With `clear_under` 6, 1 and none did. Why it is off by default: a pasted
        patch of random pixels, too fine for the check's blur, changes as few cells as weakly; at the
        default region 160 of 200 such patches were found with it, 164 without (faint ones: 139, 147)."""
        least = max(self.cfg.min_strength, self.cfg.clear_strength if cells < self.cfg.clear_under else 1.0)
        if least <= 1.0:
            return True
        x, y, w, h = box
        differ = ~np.isnan(self._since[y:y + h, x:x + w])
        return bool((self.model.strength(self._view)[y:y + h, x:x + w][differ] >= least).any())

    def _hold(self, why: str) -> None:
        """Counts this look in `held` under `why`, once: movement in the margin may hold it before the
        alignment finds the view turned."""
        if self._why is None:
            self._why = why
            self.held[why] += 1

    def _turned(self, now: float) -> None:
        """The view is not the one the fascia was learnt in: changes seen before it are no evidence of
        one that stays (a pan seen half-way, then seen again once it fits the margin, is not a change
        held for `after_s`), so those not yet held long enough start again. A flag already raised stays."""
        since = self._since
        since[~np.isnan(since) & (now - since < self.cfg.after_s - 1e-9)] = np.nan

    def _moved(self, ctx, prev: np.ndarray | None, grey: np.ndarray, cells: tuple[int, int],
               prev_context: np.ndarray | None = None, context: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """(moved, own), bool (rows, cols) each. `own`: the cells something moved over since the previous
        look (and their neighbours: an arm reaching in moves the cells beside it next); everything when a
        light switched, a tracked person is at the machine, or the camera was turned. `moved`: the same,
        and what is joined to something moving in the margin that reaches the region's edge. `held`
        counts why everything was. `prev_context`, `context`: the two looks' wider surroundings
        (`shake_context`), on which the shake between them is measured."""
        everything = np.ones(cells, bool)
        if prev is None or prev.shape != grey.shape:
            return everything, everything
        if self.cfg.shake_context and (prev_context is None or prev_context.shape != context.shape):
            return everything, everything
        # A light switched, at this look or since the last one (at 10 looks a second of a 30 fps camera, two
        # switches in three fall between looks), and the motion detector is learning the scene again: no
        # person is known then (_person_in_front), so someone standing at the machine would be compared
        # (fight_surv fi075 with --roi-share 0.1: a change seen while a person stood on the region, held as
        # `person`, was raised by the comparisons of the recalibration that followed a switch).
        held = ("light" if ctx.motion.relearning else "person" if self._person_in_front(ctx) else None)
        if held:
            self._hold(held)
            return everything, everything
        threshold = movement_threshold(grey, self.cfg.motion_threshold)   # a noisy camera's own noise is not movement
        self._threshold = threshold
        moving = (cv2.absdiff(grey, prev) > threshold).astype(np.float32)
        if moving.mean() >= self.cfg.motion_share:
            # Something moved, or the camera shook: aligned first (only then: most looks at a still
            # booth need no phase correlation), what the shake uncovered at the border left out. Once
            # a shake was aligned, what stays within a pixel of where it was is the alignment's own
            # error, not movement (features/fascia.moved_pixels): else a shaking camera's fascia is
            # never learnt nor compared. And what stays put in the picture while the scene shakes (a
            # timestamp, a sticker on the camera's window, a skimmer pasted in by the evaluation) moves
            # against the aligned view only: movement is what moved against both views, as a hand does.
            aligned, shook = (self._align_looks(prev_context, context, grey) if self.cfg.shake_context
                              else self._align(prev, grey))
            if aligned is None:
                self._hold("turned")
                self._turned(ctx.time_s)
                return everything, everything
            if shook:
                self._drift[0] += self._last_shift[0]
                self._drift[1] += self._last_shift[1]
            bx, by = self._slack_px
            if shook:   # else `aligned` is `grey` itself, and `moving` says already what moved
                moving *= moved_pixels(prev, aligned, threshold)   # moved against the scene and the picture
            moving[:by], moving[-by:], moving[:, :bx], moving[:, -bx:] = 0, 0, 0, 0
        share = cv2.resize(moving, (cells[1], cells[0]), interpolation=cv2.INTER_AREA)
        own = cv2.dilate((share >= self.cfg.motion_share).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        entry = self._reaching(moving)
        if entry is None:
            return own, own
        self.reached += 1
        hold = self._joined(entry, own, grey, cells)
        if (hold | ~self._in_roi).all():
            self._hold("margin")
        return own | hold, own

    def _joined(self, entry: np.ndarray, own: np.ndarray, grey: np.ndarray, cells: tuple[int, int]) -> np.ndarray:
        """bool (rows, cols): what movement reaching the region's edge holds. A customer's hand resting on
        the keypad is still while its arm moves, and it is joined to the arm: the cells joined to where
        the movement came in, through cells that moved at this look or differ from what was learnt, are
        held; the rest of the fascia is compared. Held whole, a news ticker scrolling against one edge or
        a crowd brushing past another hid a skimmer fitted anywhere on it (fight_surv: fi111 under a
        ticker). The whole fascia before half of it is learnt (nothing yet says what differs), or with
        `hold_on_margin`."""
        if self.cfg.hold_on_margin or self.model.share_ready(self._in_roi) < 0.5:
            return np.ones(cells, bool)
        came_in = cv2.resize(entry.astype(np.float32), (cells[1], cells[0]), interpolation=cv2.INTER_AREA) > 0
        differs = self.model.changed(cell_structure(grey, self._size))
        path = own | came_in | differs
        _, labels = cv2.connectedComponents(path.astype(np.uint8), connectivity=8)
        joined = np.unique(labels[came_in])
        held = np.isin(labels, joined[joined > 0])
        if (held & differs & ~own & self._in_roi).any():
            self.joined += 1
        return held

    def _reaching(self, moving: np.ndarray) -> np.ndarray | None:
        """bool, the region with its margin: the movement in the margin that reaches the region's edge
        (someone at the machine: an arm reaching in, a body against it), or None where there is too
        little of it. What it is joined to is not compared until it settles (`_joined`), or a hand
        resting on the keypad would be compared while its arm moves. Movement in the margin that does
        not reach the edge (a passer-by beyond it, a news ticker under it) holds only the cells it
        covers (`_moved`); with `hold_on_margin`, any movement in the margin is returned."""
        w, h = self._roi[2:]
        least = self.cfg.motion_share * (moving.size - w * h)
        if float(moving.sum() - self._crop_roi(moving).sum()) < least:
            return None   # too little movement in all the margin (most looks: no labelling)
        ring = moving.astype(np.uint8)
        self._crop_roi(ring)[:] = 0
        if self.cfg.hold_on_margin:
            return ring.astype(bool)
        _, labels, stats, _ = cv2.connectedComponentsWithStats(ring, connectivity=8)
        touching = np.unique(labels[self._edge])
        touching = touching[touching > 0]
        if float(stats[touching, cv2.CC_STAT_AREA].sum()) < least:
            return None
        return np.isin(labels, touching)

    def _person_in_front(self, ctx) -> bool:
        """A tracked person within `at_machine` of the region: someone at the machine."""
        if ctx.motion.calibrating or not ctx.people:
            return False
        front, outer = self._fascia.front, self._fascia.outer   # made with the region's (detect)
        mh, mw = ctx.motion.mask.shape[:2]
        for p in ctx.people:
            # A region the size of the picture is the occupancy stage's many blobs joined (a crowd, a
            # shaking camera), not someone at the machine, unless the people detector saw a person.
            if not p.confirmed and (p.box[2] > 0.5 * mw or p.box[3] > 0.9 * mh):
                continue
            # A track born of one frame that has not moved since is no one (features/people.py looks
            # again only for people seen moving for a while): the people detector once split a "person"
            # off a crowd's region around a skimmer just pasted in (fight_surv nofi143), and that track
            # held the check for the occupancy stage's hold_s, past the evaluation's window.
            if p.moved <= 1 and p.moved_s < ctx.time_s:
                continue
            # Reaching into the zone, not only touching its edge: a box ending where the zone begins
            # shares none of its pixels (as the evaluation's choice of a quiet region counts them).
            if intersection(p.box, front) > 0 and not _reaches_only_through_the_fascia(p, ctx, front, outer):
                return True
        return False

    def _crop_roi(self, outer: np.ndarray) -> np.ndarray:
        x, y, w, h = self._roi
        ox, oy = self._outer[:2]
        return outer[y - oy:y - oy + h, x - ox:x - ox + w]

    def _shift(self, a: np.ndarray, b: np.ndarray, learnt: bool = False,
               window: np.ndarray | None = None) -> tuple[float, float] | None:
        """How far `b` is moved against `a` (phase correlation); None beyond the margin (the camera was
        turned: tamper's, not a comparison). `learnt`: `a` is the view the fascia was learnt in.
        `window`: given, `a` and `b` are the looks' wider surroundings, and each is centred on its
        mean first (the window's hole over the fascia is the same in both: with the grey level left in,
        its edges pull the shift towards none)."""
        if window is not None:
            weight = float(window.sum())
            a = (a - float((a * window).sum()) / weight) * window
            b = (b - float((b * window).sum()) / weight) * window
        else:
            if self._window is None or self._window.shape != a.shape:
                self._window = self._ring_window(a.shape, self._outer[:2])
            # Windowed copies: given a window, cv2.phaseCorrelate multiplies its inputs by it in place.
            a, b = a * self._window, b * self._window
        (dx, dy), response = cv2.phaseCorrelate(a, b)
        if response < 0.05:
            # Nothing to align on (a plain wall, or a view no longer like the learnt one): no shift can
            # be measured, none assumed, unless the looks since the last measured one drifted beyond
            # the margin (a camera panning slowly moves every edge a little at each look).
            if learnt and (abs(self._drift[0]) > self._slack[0] or abs(self._drift[1]) > self._slack[1]):
                return None
            return 0.0, 0.0
        if abs(dx) > self._slack[0] or abs(dy) > self._slack[1]:
            return None
        if learnt:
            self._drift = [dx, dy]
        return dx, dy

    def _ring_window(self, shape: tuple[int, int], origin: tuple[int, int]) -> np.ndarray:
        """A Hanning window over a crop of the picture (its top left at `origin`, source px) with the
        fascia itself left out (softly): the camera's shake is measured on the surroundings, never on
        what may have been fitted."""
        window = cv2.createHanningWindow((shape[1], shape[0]), cv2.CV_32F)
        ring = np.ones(shape, np.float32)
        x, y, w, h = self._roi
        ring[max(0, y - origin[1]):y - origin[1] + h, max(0, x - origin[0]):x - origin[0] + w] = 0.0
        ring = cv2.GaussianBlur(ring, (0, 0), 2.0)
        if float((window * ring).sum()) > 0.05 * float(window.sum()):   # a margin to measure on
            window *= ring
        return window

    def _align(self, ref: np.ndarray, grey: np.ndarray, learnt: bool = False) -> tuple[np.ndarray | None, bool]:
        """`grey` moved back onto `ref` (None: turned beyond the margin), and whether it had moved;
        `learnt` as for `_shift`."""
        return self._warp(grey, self._shift(ref, grey, learnt))

    def _align_learnt(self, grey: np.ndarray) -> tuple[np.ndarray | None, bool]:
        """`grey` aligned to the view the fascia was learnt in, as `_align`. Where the margin no longer
        matches it but the surroundings beyond still look as learnt, the view did not turn: something was
        fitted over the margin too (a fake fascia larger than the region), and the view is taken as it is."""
        aligned, shook = self._align(self._ref, grey, learnt=True)
        if aligned is None and self._surroundings_as_learnt():
            return grey, False
        return aligned, shook

    def _surroundings_as_learnt(self) -> bool:
        """The surroundings beyond the margin (`surround`) look as learnt at this look: at most half of
        `ring_share` of them changed. Half: a dark, flickering scene's surroundings differ by about
        `ring_share` from what was learnt with no board anywhere (fight_surv fi076 blurred or darkened by
        `evaluate --perturb` was raised at ring_share itself)."""
        return self._surround is not None and self._surround.as_learnt(0.5 * self.cfg.ring_share)

    def _align_looks(self, prev_context: np.ndarray, context: np.ndarray, grey: np.ndarray
                     ) -> tuple[np.ndarray | None, bool]:
        """`grey` (the region with its margin) moved back by the shift between two looks, measured on
        their wider surroundings; as `_align`."""
        if self._context_window is None or self._context_window.shape != context.shape:
            self._context_window = self._ring_window(context.shape, self._context[:2])
        return self._warp(grey, self._shift(prev_context, context, window=self._context_window))

    def _warp(self, grey: np.ndarray, shift: tuple[float, float] | None) -> tuple[np.ndarray | None, bool]:
        """`grey` moved back by `shift` (None: turned beyond the margin), and whether it had moved."""
        if shift is None:
            return None, True
        self._last_shift = shift
        if abs(shift[0]) < 0.5 and abs(shift[1]) < 0.5:   # under half a pixel: noise, and a warp would blur
            return grey, False
        m = np.float32([[1, 0, -shift[0]], [0, 1, -shift[1]]])
        return cv2.warpAffine(grey, m, (grey.shape[1], grey.shape[0]), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE), True

    def _images(self, raw: np.ndarray) -> dict[str, np.ndarray]:
        """The region with its margin as learnt and as now, the change outlined on both."""
        x0, y0, x1, y1 = self._outer
        bx, by, bw, bh = self._box
        out = {}
        for name, img in (("before", self.before), ("after", raw[y0:y1, x0:x1])):
            if img is None:
                continue
            img = img.copy() if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
            cv2.rectangle(img, (bx - x0, by - y0), (bx - x0 + bw - 1, by - y0 + bh - 1), (0, 0, 255), 1)
            out[name] = img
        return out

    # -- what was learnt, across restarts ----------------------------------------------------------------

    def _save(self) -> None:
        path = self.cfg.reference_file
        if not path:
            return
        ok, png = cv2.imencode(".png", self.before)
        try:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            tmp = path + ".tmp"
            with open(tmp, "wb") as fh:
                np.savez(fh, roi=np.array(self.cfg.roi), before=np.frombuffer(png.tobytes(), np.uint8),
                         learnt_from=np.array(self.learnt_from), ref=self._ref, **self.model.to_arrays(),
                         **{f"far_{k}": v for k, v in self.far_model.to_arrays().items() if v is not None})
            os.replace(tmp, path)
            self._saved = True
        except OSError as exc:   # the watch goes on; only a restart would learn it again
            log.error("skimming: the learnt fascia could not be kept in %s: %s", path, exc)

    def _load(self) -> None:
        path = self.cfg.reference_file
        if not path or not os.path.exists(path):
            return
        try:
            with np.load(path, allow_pickle=False) as z:
                if list(z["roi"]) != list(self.cfg.roi):
                    log.warning("skimming: %s was learnt for roi %s, not %s: learning the fascia again",
                                path, list(z["roi"]), self.cfg.roi)
                    return
                self.model.from_arrays(z)
                if "far_n" in z:   # the surroundings (a file kept before they were learnt has none)
                    self.far_model.from_arrays({k: z[f"far_{k}"] for k in ("sum", "sq", "n")})
                self._ref = np.asarray(z["ref"], np.float32)
                self.before = cv2.imdecode(z["before"], cv2.IMREAD_COLOR)
                self.learnt_from = f"{path} ({z['learnt_from']})"
                self._saved = True
        except (OSError, ValueError, KeyError) as exc:
            raise UserError(f"{path}: not a learnt fascia this version can read ({exc}); "
                            f"python run.py relearn deletes it") from None


def _grey(raw: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """The crop `box` (x0, y0, x1, y1) of a frame, in grey, float32."""
    crop = raw[box[1]:box[3], box[0]:box[2]]
    return (cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY) if crop.ndim == 3 else crop).astype(np.float32)


def _within(crop: np.ndarray, box: tuple[int, int, int, int], inner: tuple[int, int, int, int]) -> np.ndarray:
    """The part of `crop` (the frame's pixels in `box`, x0, y0, x1, y1) that is `inner`, which lies within it."""
    return crop[inner[1] - box[1]:inner[3] - box[1], inner[0] - box[0]:inner[2] - box[0]]


def _reaches_only_through_the_fascia(person, ctx, front, outer) -> bool:
    """True when a person's box reaches the machine only through blobs on the fascia itself: the
    occupancy stage joins blobs near each other into one person, so something just fitted to the
    fascia (a new blob that stays) can stretch the box of someone passing nearby to it, and holding the
    comparison for them would hide the very change to be found. Only for a box made of this frame's
    moving blobs: someone standing still at the machine has left the motion mask and is held as before."""
    if person.moved_s != ctx.time_s:
        return False
    near = [b for b in ((b.x, b.y, b.w, b.h) for b in ctx.motion.blobs)
            if intersection(b, person.box) > 0 and intersection(b, front) > 0]
    return bool(near) and all(intersection(b, outer) >= b[2] * b[3] for b in near)
