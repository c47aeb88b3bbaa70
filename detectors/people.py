"""Occupancy: who is in the booth, for the detectors registered after it (crowding, face, loitering).

It raises no event of its own: it sets `ctx.people`, the people in view with their boxes, ids and
arrival times (features/people.py). The count combines
- blob geometry: moving blobs joined into person-sized regions (an arm or a leg is not a person);
- the HOG people detector, run only inside those regions, at most `update_hz` times a second, on the
  processing-size grey: a region in which it finds two or more people counts each of them (two people
  standing together make one blob); a region in which it finds one or none counts one;
- tracks: a person who stops moving leaves the motion mask (the rolling background takes them in
  within a second or two), so each update also looks again, with the people detector, where a track
  stood; a track neither moving nor found again for `hold_s` has left;
- things: a region the people detector never confirmed, in which nothing changed from one frame to the
  next for `thing_after_s`, is something put down (a parcel, a board fitted over the fascia), not a
  person. The motion mask keeps a new, high-contrast object as foreground for a minute and more (its
  pixels join the background slowly), and counted as a person it locked the door as a covered face
  after `face.timeout_s`. It stays tracked but is not in `ctx.people`; it counts again once it stirs.
  A person, however still, stirs (left_object tells its owner from a bag the same way).
Nothing runs while nothing moves and nobody is in view.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field

from core.detector import Detector, Flag, register
from core.settings import Section
from features.boxes import iou
from features.people import PeopleTracker, PersonFinder, moving_fraction, person_regions, stirred


class PeopleConfig(Section):
    """Occupancy: people counted in motion regions; see detectors/people.py."""

    enabled: bool = Field(True, description="count and track people (crowding, face and loitering use them)")
    min_person_frac: float = Field(0.02, gt=0, lt=1,
                                   description="moving pixels a person makes at least, fraction of the frame")
    join_frac: float = Field(0.05, ge=0, lt=1,
                             description="blobs closer than this (fraction of the frame width) are one person's "
                                         "pieces")
    update_hz: float = Field(5.0, gt=0, le=30, description="people-detector passes a second, at most")
    min_weight: float = Field(1.0, ge=-5, le=10, description="the HOG detector's SVM margin a person must reach")
    hold_s: float = Field(1.5, gt=0, le=60, description="a person neither moving nor found again for this long has left")
    min_moving_frac: float = Field(0.1, ge=0, le=1,
                                   description="a person split off a region must have this fraction of their box moving")
    settle_s: float = Field(1.0, ge=0, le=60,
                            description="a person seen moving this long is looked for again when they stand still")
    still_max_s: float = Field(60.0, gt=0, le=3600,
                               description="a person who has not moved for this long is no longer looked for where "
                                           "they stood (no one stands perfectly still that long; a poster does)")
    split_aspect: float = Field(0.6, gt=0, le=10,
                                description="a region at least this wide for its height may be two people side "
                                            "by side: the people detector looks inside it")
    use_hog: bool = Field(True, description="split and confirm people with the HOG people detector (off: blobs only)")
    thing_after_s: float = Field(3.0, ge=0, le=600,
                                 description="a region the people detector never confirmed, in which nothing "
                                             "changed from one frame to the next for this long, is a thing put "
                                             "down, not a person (0: every region is a person)")
    stir_threshold: float = Field(20.0, gt=0, le=255,
                                  description="grey levels a pixel must change by between two frames to stir")
    stir_share: float = Field(0.005, ge=0, lt=1,
                              description="a region stirs when more than this share of its box changed between "
                                          "two frames")


@register
class PeopleDetector(Detector):
    name = "people"
    reset_on_lighting = True  # the regions after a light change are the light's, not people
    Settings = PeopleConfig
    events: dict = {}

    def __init__(self, cfg: PeopleConfig, fps: float, models: dict[str, Any] | None = None):
        super().__init__(cfg, fps)
        self.finder = PersonFinder(cfg.min_weight)
        self.tracker = PeopleTracker(cfg.hold_s)
        self._next_pass = 0.0
        self._settled = max(1, round(cfg.settle_s * fps))
        self._prev = None          # the previous frame's grey_tamper while anyone is tracked (things stir not)
        self._prev_index = -2

    def reset(self) -> None:
        self.tracker.reset()
        self._next_pass = 0.0
        self._prev_index = -2

    def _grey(self, ctx, t: float):
        """The processing-size grey for a people-detector pass; the next pass no sooner than 1/update_hz."""
        self._next_pass = t + 1.0 / self.cfg.update_hz
        return ctx.grey_pixels()

    def detect(self, ctx) -> list[Flag]:
        motion = ctx.motion
        if motion.calibrating:
            ctx.people = []
            return []
        H, W = motion.mask.shape[:2]
        cfg = self.cfg
        regions = person_regions(motion.blobs, cfg.min_person_frac * W * H, cfg.join_frac * W)
        t = ctx.time_s
        due = cfg.use_hog and t >= self._next_pass
        # Blob geometry decides where the people detector is worth its cost: only a region wide
        # enough for two people side by side can be two people.
        wide = [r for r in regions if r[2] >= cfg.split_aspect * r[3]] if due else []
        grey = self._grey(ctx, t) if wide else None
        scale = grey.shape[1] / W if grey is not None else 1.0
        people = []
        for r in regions:
            if grey is not None and r in wide:
                found = [_scaled(b, 1.0 / scale) for b, _ in self.finder.find(grey, _scaled(r, scale))]
                # A person split off a region must move too: the detector also answers to door frames
                # and posters beside the one person who walked past them.
                found = [b for b in found if moving_fraction(motion.mask, b) >= cfg.min_moving_frac]
                if len(found) >= 2:
                    people += [(b, True) for b in found]
                    continue
            people.append((r, False))
        tracks = self.tracker.update(people, t)
        # Someone standing still has left the motion mask: look again where they stood. Only for
        # someone seen moving for a while (a track born of one frame may be a door frame), not for
        # longer than still_max_s, and not at the picture's edge, where a person who stops moving is
        # one who walked out of it.
        still = [tr for tr in tracks if tr.last_s < t and tr.moved >= self._settled
                 and t - tr.moved_s <= cfg.still_max_s and not _at_edge(tr.box, W, H)] if due else []
        if still:
            grey = grey if grey is not None else self._grey(ctx, t)
            if grey is not None:
                scale = grey.shape[1] / W
                moving = [tr.box for tr in tracks if tr.last_s == t]
                for tr in still:
                    for b, _ in self.finder.find(grey, _scaled(tr.box, scale), margin=0.1):
                        b = _scaled(b, 1.0 / scale)
                        # The same person where the track stood, not someone another track follows.
                        if iou(b, tr.box) >= 0.3 and all(iou(b, m) < 0.3 for m in moving):
                            self.tracker.seen(tr, t, b)
                            break
        ctx.people = self._not_things(ctx, tracks, W) if cfg.thing_after_s else tracks
        return []

    def _not_things(self, ctx, tracks: list, W: int) -> list:
        """`tracks` less the things (see the module docstring). Needs the previous frame: kept only while
        anyone is tracked, so a still booth copies nothing."""
        if not tracks:
            return tracks
        t, grey, cfg = ctx.time_s, ctx.grey_tamper, self.cfg
        if self._prev is not None and self._prev_index == ctx.index - 1 and self._prev.shape == grey.shape:
            s = grey.shape[1] / W
            for tr in tracks:
                if not tr.confirmed and stirred(grey, self._prev, _scaled(tr.box, s), cfg.stir_threshold,
                                                cfg.stir_share):
                    tr.stirred_s = t
        else:   # no frame to compare with: nobody is taken for a thing on this one
            for tr in tracks:
                tr.stirred_s = t
        if self._prev is None or self._prev.shape != grey.shape:
            self._prev = grey.copy()
        else:
            np.copyto(self._prev, grey)
        self._prev_index = ctx.index
        return [tr for tr in tracks if tr.confirmed or t - tr.stirred_s < cfg.thing_after_s]


def _at_edge(box, W: int, H: int) -> bool:
    x, y, w, h = box
    return x <= 1 or x + w >= W - 1


def _scaled(box, s: float) -> tuple[int, int, int, int]:
    return (int(round(box[0] * s)), int(round(box[1] * s)), max(1, int(round(box[2] * s))),
            max(1, int(round(box[3] * s))))
