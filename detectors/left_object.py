"""Left objects: a bag or parcel that stays in the booth after its owner has gone.

Per frame, the static foreground (features/static_foreground.py: two backgrounds learning at
different rates) is updated on the cheap stage's 160-px grey; it costs a few array operations and
finds nothing on almost every frame. Only when something has been static for `after_s` seconds does
more happen:

- each static blob is tracked (by overlap) and described (features/blob_descriptors.py), and the
  classifier (`models["objects"]`, an SVM trained by `train --task objects`; without one, a built-in
  rule on size and shape) says person, bag_or_parcel or other, again every `classify_every_s` while
  it stays (a blob grows as more of the object becomes static; the probabilities are averaged);
- a person is near when enough pixels within `owner_radius` of it change from one frame to the next,
  or a static blob the classifier calls a person is that close: a customer standing still at the
  machine still moves a little, and the one who put the bag down is near it until they walk away;
- a bag_or_parcel blob with nobody near for `owner_gone_s` raises `left_object` with its box, once
  per object. The flag is repeated each frame while the object stays, so its episode lasts as long
  as the object; it ends when the object has not been static for `lost_s` (picked up, or merged into
  the background), and an object found again where one was already reported is not reported again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field

from core.detector import Detector, Flag, register
from core.events import WARNING, EventSpec
from features.blob_descriptors import DESCRIPTOR_NAMES
from features.blob_descriptors import OBJECT_CLASSES as CLASSES
from features.blob_descriptors import describe
from features.boxes import gap, intersection, iou
from features.people import changed_pixels
from features.static_foreground import StaticForeground, StaticForegroundConfig

_BAG, _PERSON = CLASSES.index("bag_or_parcel"), CLASSES.index("person")
_COL = {name: i for i, name in enumerate(DESCRIPTOR_NAMES)}


class LeftObjectConfig(StaticForegroundConfig):
    """Left objects: a bag or parcel static after its owner left; see detectors/left_object.py.
    The static-foreground fields (time constants, threshold) are features/static_foreground.py's."""

    enabled: bool = Field(True, description="look for left objects")
    after_s: float = Field(4.0, gt=0, le=600, description="an object must have been static this long before it "
                                                          "is classified (and can raise left_object)")
    owner_radius: float = Field(0.2, gt=0, le=2, description="a person closer than this share of the frame width "
                                                             "to the object attends it")
    owner_gone_s: float = Field(2.0, ge=0, le=600, description="nobody near the object for this long: it is left")
    owner_motion_frac: float = Field(0.002, gt=0, lt=1, description="this many pixels (share of the frame) changing "
                                                                    "from one frame to the next within owner_radius "
                                                                    "of an object: someone is with it")
    lost_s: float = Field(2.0, gt=0, le=600, description="an object not static for this long is gone (picked up or "
                                                         "merged into the background): its episode ends")
    update_hz: float = Field(10.0, gt=0, le=120, description="the static foreground is updated this many times a "
                                                             "second at most (it measures seconds of stillness: a "
                                                             "30 fps camera needs no more than a third of its frames)")
    classify_every_s: float = Field(1.0, gt=0, le=60, description="a static blob is classified again this often")
    min_bag_prob: float | None = Field(None, ge=0, le=1, description="override the bag_or_parcel probability saved "
                                                                     "with the model (None: the model's)")


class BuiltinObjectRule:
    """Without a trained classifier: a person is tall (taller than half its width again, or over a
    quarter of the picture); a bag or parcel is low, squat, compact and small; anything else is other.
    Probabilities are 0.8 for the chosen class and 0.1 for the others."""

    classes_ = CLASSES
    threshold_ = 0.5

    def predict_proba(self, X) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, np.float64))
        out = np.full((len(X), len(CLASSES)), 0.1)
        for row, x in zip(out, X):
            h, aspect, area, solidity = x[_COL["h_frac"]], x[_COL["aspect"]], x[_COL["area_frac"]], x[_COL["solidity"]]
            if h >= 0.25 or aspect < 0.5:
                row[_PERSON] = 0.8
            elif 0.5 <= aspect <= 3.0 and area <= 0.04 and solidity >= 0.5:
                row[_BAG] = 0.8
            else:
                row[CLASSES.index("other")] = 0.8
        return out


@dataclass
class _Track:
    id: int
    bbox: tuple[int, int, int, int]      # static-foreground (160-px) pixels
    first_s: float
    last_seen_s: float
    attended_s: float                    # last time a person was near it
    next_classify_s: float
    proba: np.ndarray                    # running average of the classifier's probabilities
    n_classified: int = 0
    alerted: bool = False
    silent: bool = False                 # an object already reported, found again: never flags

    def classified(self, p: np.ndarray) -> None:
        # Recent looks weigh more: the blob grows as more of the object becomes static, and its
        # first, partial outline is the least like the object.
        self.proba = p if self.n_classified == 0 else 0.5 * self.proba + 0.5 * p
        self.n_classified += 1


@register
class LeftObjectDetector(Detector):
    """Scores static blobs with `models["objects"]` (predict_proba() over CLASSES and threshold_), or
    with the built-in rule when none was trained."""

    name = "left_object"
    reset_on_lighting = True  # what it learnt before a light switched was the light's
    Settings = LeftObjectConfig
    events = {"left_object": EventSpec(WARNING, repeat=False,
                                       description="a bag or parcel left in the booth after its owner went")}

    def __init__(self, cfg: LeftObjectConfig, fps: float, models: dict[str, Any] | None = None):
        super().__init__(cfg, fps)
        model = (models or {}).get("objects")
        self.model = model if model is not None else BuiltinObjectRule()
        self.threshold = cfg.min_bag_prob if cfg.min_bag_prob is not None else float(self.model.threshold_)
        self._every = max(1, int(round(fps / cfg.update_hz)))
        self.static = StaticForeground(cfg, fps / self._every)
        self.reset()

    def reset(self) -> None:
        self.static.reset()
        self.tracks: list[_Track] = []
        self._reported: list[tuple[int, int, int, int]] = []   # boxes of objects already reported
        self._next_id = 0
        self._frames = 0
        self._prev: np.ndarray | None = None
        self._flags: list[Flag] = []

    def is_calibrating(self) -> bool:
        return self._frames == 0

    def detect(self, ctx) -> list[Flag]:
        self._frames += 1
        if (self._frames - 1) % self._every:
            return self._flags  # between updates: the objects already reported are still there
        self._flags = self._update(ctx)
        return self._flags

    def _update(self, ctx) -> list[Flag]:
        grey = ctx.grey_tamper
        blobs = self.static.update(grey)
        if blobs and ctx.claimed:
            blobs = self._unclaimed(blobs, ctx.claimed, grey.shape[1] / ctx.motion.mask.shape[1])
        now = ctx.time_s
        seen = self._match(blobs, now) if blobs else []
        if self.tracks:
            lost = [t for t in self.tracks if now - t.last_seen_s > self.cfg.lost_s]
            self._reported += [t.bbox for t in lost if t.alerted]
            self.tracks = [t for t in self.tracks if t not in lost]
        if not self.tracks:
            self._keep(grey)
            return []
        for t in seen:
            if now >= t.next_classify_s:
                x = describe(self.static.static_mask, grey, t.bbox)
                t.classified(self.model.predict_proba(x[None, :])[0])
                t.next_classify_s = now + self.cfg.classify_every_s
        people = [t for t in self.tracks if t.n_classified and int(np.argmax(t.proba)) == _PERSON]
        radius = self.cfg.owner_radius * grey.shape[1]
        flags = []
        to_motion = ctx.motion.mask.shape[1] / grey.shape[1]
        for t in self.tracks:
            if self._moving_near(grey, t.bbox, radius) or any(
                    gap(t.bbox, p.bbox) <= radius for p in people if p is not t):
                t.attended_s = now
            if t.silent:
                continue
            p_bag = float(t.proba[_BAG])
            if not t.alerted and t.n_classified and p_bag >= self.threshold \
                    and now - t.attended_s >= self.cfg.owner_gone_s:
                t.alerted = True
            if t.alerted:
                flags.append(Flag("left_object", p_bag, tuple(v * to_motion for v in t.bbox),
                                  {"object_id": t.id, "static_s": round(now - t.first_s + self.cfg.after_s, 1)}))
        self._keep(grey)
        return flags

    @staticmethod
    def _unclaimed(blobs, claimed, scale: float) -> list:
        """The blobs not mostly (half their box or more) inside a region another detector answers for:
        something that stays on the ATM's fascia is a skimmer for the skimming check, not a left bag."""
        regions = [tuple(v * scale for v in c) for c in claimed]
        return [b for b in blobs
                if max(intersection(b.bbox, r) for r in regions) < 0.5 * max(1, b.w * b.h)]

    def _keep(self, grey: np.ndarray) -> None:
        """This frame, for the next one's frame difference (copied into one buffer: no allocation)."""
        if self._prev is None or self._prev.shape != grey.shape:
            self._prev = grey.copy()
        else:
            np.copyto(self._prev, grey)

    def _match(self, blobs, now: float) -> list[_Track]:
        """Each static blob onto the track it overlaps most (IoU 0.3 at least) or a new one; returns
        the tracks seen now."""
        free, seen = list(self.tracks), []
        for b in sorted(blobs, key=lambda b: -b.area):
            best = max(free, key=lambda t: iou(t.bbox, b.bbox), default=None)
            if best is not None and iou(best.bbox, b.bbox) >= 0.3:
                free.remove(best)
                best.bbox, best.last_seen_s = b.bbox, now
            else:
                silent = any(iou(r, b.bbox) >= 0.3 for r in self._reported)
                best = _Track(self._next_id, b.bbox, now, now, now, now, np.zeros(len(CLASSES)), silent=silent)
                self.tracks.append(best)
                self._next_id += 1
            seen.append(best)
        return seen

    def _moving_near(self, grey: np.ndarray, bbox, radius: float) -> bool:
        """Whether enough pixels changed since the previous frame within `radius` of the object. A
        frame difference, not the motion detector's blobs: those also hold a bag put down a moment
        ago (its rolling background has not absorbed it yet), and a bag does not change from one
        frame to the next, while a person beside it, however still, does."""
        if self._prev is None:
            return False
        x, y, w, h = bbox
        r = int(round(radius))
        changed, _ = changed_pixels(grey, self._prev, (x - r, y - r, w + 2 * r, h + 2 * r), self.cfg.threshold)
        return changed >= self.cfg.owner_motion_frac * grey.size
