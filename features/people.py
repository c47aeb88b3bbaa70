"""People in the motion regions: OpenCV's HOG people detector, blob geometry, and centroid tracks.

- `person_regions`: the motion blobs grouped into person-sized regions (the pieces of one person, an
  arm or a leg the background swallowed, are joined when they lie close; what stays small is not a
  person).
- `PersonFinder`: the HOG people detector on one region of a grey frame. It uses Daimler's 48x96
  model from the OpenCV wheel rather than the default 64x128 one: a booth camera at a kiosk's
  processing width (320 px) sees people about 100 px tall, under the default model's window. A region
  shorter than the window is upscaled (up to 3x) before the search. Nothing is downloaded.
- `PeopleTracker`: each person found is matched to the nearest track (centroid association), so a
  person keeps one id and one arrival time while in view; a track not seen for `hold_s` has left.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from features.boxes import gap

WINDOW = (48, 96)
_MIN_REGION_H = 112  # upscale a region to at least this height: the window plus a margin


@dataclass
class Person:
    """One person in view. Boxes in motion-analysis pixels; times in seconds of the source."""

    id: int
    box: tuple[int, int, int, int]
    first_s: float
    last_s: float
    confirmed: bool = False     # the people detector saw this person, in a box about this size
    moved: int = 0              # frames in which this person was a moving region
    moved_s: float = 0.0        # when this person was last a moving region
    seen_box: tuple[int, int, int, int] | None = None   # where the people detector last saw them
    stirred_s: float | None = None   # when the box last changed from one frame to the next (None: first_s)

    def __post_init__(self) -> None:
        if self.stirred_s is None:
            self.stirred_s = self.first_s

    @property
    def centre(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return x + w / 2.0, y + h / 2.0


def person_regions(blobs: list, min_area: float, join_px: float) -> list[tuple[int, int, int, int]]:
    """Blobs joined when closer than `join_px` (transitively: a piece between two others joins all
    three), kept when their pixels add up to `min_area`."""
    parent = list(range(len(blobs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(blobs)):
        for j in range(i + 1, len(blobs)):
            if gap(blobs[i].bbox, blobs[j].bbox) <= join_px:
                parent[root(i)] = root(j)
    members: dict[int, list] = {}
    for i, b in enumerate(blobs):
        members.setdefault(root(i), []).append(b)
    out = []
    for g in members.values():
        if sum(b.area for b in g) >= min_area:
            x0, y0 = min(b.x for b in g), min(b.y for b in g)
            x1, y1 = max(b.x + b.w for b in g), max(b.y + b.h for b in g)
            out.append((x0, y0, x1 - x0, y1 - y0))
    return out


class PersonFinder:
    """HOG people detection inside regions of a grey frame; `find(grey, roi)` -> [(box, weight)] in
    the grey's pixels, strongest first, overlapping detections of one person merged."""

    def __init__(self, min_weight: float = 1.0):
        self.hog = cv2.HOGDescriptor(WINDOW, (16, 16), (8, 8), (8, 8), 9)
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDaimlerPeopleDetector())
        self.min_weight = float(min_weight)

    def find(self, grey: np.ndarray, roi: tuple[int, int, int, int], margin: float = 0.25) -> list:
        H, W = grey.shape[:2]
        x, y, w, h = roi
        mx, my = margin * w + 8, margin * h + 8
        x0, y0 = max(0, int(x - mx)), max(0, int(y - my))
        x1, y1 = min(W, int(x + w + mx)), min(H, int(y + h + my))
        if x1 - x0 < 8 or y1 - y0 < 8:
            return []
        crop = grey[y0:y1, x0:x1]
        up = min(3.0, max(1.0, _MIN_REGION_H / crop.shape[0], (WINDOW[0] + 16) / crop.shape[1]))
        if up > 1.0:
            crop = cv2.resize(crop, None, fx=up, fy=up, interpolation=cv2.INTER_LINEAR)
        if crop.shape[0] < WINDOW[1] or crop.shape[1] < WINDOW[0]:
            return []
        boxes, weights = self.hog.detectMultiScale(crop, winStride=(8, 8), padding=(8, 8), scale=1.1)
        found = []
        for b, wt in sorted(zip(boxes, np.ravel(weights)), key=lambda bw: -float(bw[1])):
            if float(wt) < self.min_weight:
                continue
            box = (int(x0 + b[0] / up), int(y0 + b[1] / up), int(b[2] / up), int(b[3] / up))
            # One person gives several windows (overlapping, or stacked: legs and torso): keep the
            # strongest of each cluster. Two people side by side share little of their width.
            if any(_x_overlap(box, k) > 0.3 * min(box[2], k[2]) for k, _ in found):
                continue
            found.append((box, float(wt)))
        return found


def _person_sized(box, seen) -> bool:
    """`box` at most twice as wide and as tall as `seen`, the box the people detector saw the person in
    (a person's moving region is about their detected box; an arm out, a bag, still fit)."""
    return seen is None or (box[2] <= 2 * seen[2] and box[3] <= 2 * seen[3])


def _x_overlap(a, b) -> float:
    return max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))


def changed_pixels(grey: np.ndarray, prev: np.ndarray, box: tuple[int, int, int, int], threshold: float
                   ) -> tuple[int, int]:
    """(pixels changed by more than `threshold` grey levels since `prev`, pixels) within `box` (x, y, w, h,
    clipped to the picture): the frame difference that tells someone, however still, from a thing."""
    H, W = grey.shape[:2]
    x, y, w, h = box
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        return 0, 0
    diff = cv2.absdiff(grey[y0:y1, x0:x1], prev[y0:y1, x0:x1])
    return int(np.count_nonzero(diff > threshold)), (x1 - x0) * (y1 - y0)


def stirred(grey: np.ndarray, prev: np.ndarray, box: tuple[int, int, int, int], threshold: float,
            share: float) -> bool:
    """Whether over `share` of `box` (pixels of `grey`) changed by more than `threshold` grey levels since
    `prev`: a person, however still, stirs; a parcel or a board does not."""
    changed, pixels = changed_pixels(grey, prev, box, threshold)
    return pixels > 0 and changed > share * pixels


def moving_fraction(mask: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Fraction of `box` (mask pixels) that moves."""
    x, y, w, h = box
    part = mask[max(0, y):max(0, y + h), max(0, x):max(0, x + w)]
    return float(np.count_nonzero(part)) / part.size if part.size else 0.0


class PeopleTracker:
    """Centroid association of person boxes over time."""

    def __init__(self, hold_s: float):
        self.hold_s = hold_s
        self.tracks: list[Person] = []
        self._next = 1

    def reset(self) -> None:
        self.tracks.clear()

    def update(self, boxes: list[tuple[tuple[int, int, int, int], bool]], t: float) -> list[Person]:
        """`boxes`: (box, confirmed) of the people moving now. Returns the people in view."""
        pairs = []
        for i, tr in enumerate(self.tracks):
            cx, cy = tr.centre
            for j, (b, _) in enumerate(boxes):
                d = float(np.hypot(b[0] + b[2] / 2.0 - cx, b[1] + b[3] / 2.0 - cy))
                if d <= 0.75 * max(tr.box[3], b[3]):
                    pairs.append((d, i, j))
        used_t, used_b = set(), set()
        for _, i, j in sorted(pairs):
            if i in used_t or j in used_b:
                continue
            used_t.add(i)
            used_b.add(j)
            tr = self.tracks[i]
            tr.box, tr.last_s, tr.moved_s = boxes[j][0], t, t
            if boxes[j][1]:
                tr.confirmed, tr.seen_box = True, tr.box
            elif tr.confirmed and not _person_sized(tr.box, tr.seen_box):
                # The person's blobs joined others (a crowd, a shaking camera): the region is no
                # longer the box the people detector saw them in, and says nothing of where they are.
                tr.confirmed = False
            tr.moved += 1
        for j, (b, confirmed) in enumerate(boxes):
            if j not in used_b:
                self.tracks.append(Person(self._next, b, t, t, confirmed, moved=1, moved_s=t,
                                          seen_box=b if confirmed else None))
                self._next += 1
        self.tracks = [tr for tr in self.tracks if t - tr.last_s <= self.hold_s]
        return self.tracks

    def seen(self, person: Person, t: float, box: tuple[int, int, int, int] | None = None) -> None:
        """A person confirmed where they stood, without moving (the people detector found them again,
        at `box`: the person's own box, tighter than the moving region last seen)."""
        person.last_s = t
        person.confirmed = True
        if box is not None:
            person.box = box
        person.seen_box = person.box
