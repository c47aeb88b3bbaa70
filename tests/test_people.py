"""People in the booth: occupancy (regions, HOG people detector, tracks), crowding fed by it,
loitering with and without the ATM's state, and the count against hand counts on real frames."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest

from core.context import FrameContext
from datasets.synthetic_booth import booth_scenario
from detectors.loitering import LoiteringConfig, LoiteringDetector
from features.motion import Blob
from features.people import PeopleTracker, Person, person_regions
from pipeline.classical import ClassicalStage
from pipeline.config import load_config

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def _blob(x, y, w, h, area=None):
    return Blob(x, y, w, h, area if area is not None else w * h, x + w / 2, y + h / 2)


def test_person_regions_join_one_persons_pieces_and_drop_what_stays_small():
    torso, arm = _blob(10, 10, 10, 30), _blob(21, 15, 3, 8)       # an arm 1 px off the torso
    other = _blob(60, 10, 10, 30)                                  # another person, far away
    speck = _blob(40, 50, 2, 2)
    regions = person_regions([torso, arm, other, speck], min_area=100, join_px=4)
    assert sorted(regions) == [(10, 10, 14, 30), (60, 10, 10, 30)]
    assert person_regions([speck], min_area=100, join_px=4) == []


def test_tracker_keeps_ids_while_people_move_and_forgets_them_after_hold():
    tr = PeopleTracker(hold_s=1.0)
    a, b = (10, 10, 10, 30), (60, 10, 10, 30)
    first = tr.update([(a, False), (b, True)], 0.0)
    ids = {p.box: p.id for p in first}
    for k in range(1, 11):                                   # both walk right, 1 px a frame
        t = k / 10
        people = tr.update([((a[0] + k, 10, 10, 30), False), ((b[0] + k, 10, 10, 30), False)], t)
        assert sorted(p.id for p in people) == sorted(ids.values())
    assert all(p.first_s == 0.0 for p in people) and any(p.confirmed for p in people)
    # One leaves the picture: kept for hold_s (they may only be hidden), then gone.
    left = next(p.id for p in people if p.box[0] > 50)
    assert len(tr.update([((a[0] + 11, 10, 10, 30), False)], 1.5)) == 2
    assert [p.id for p in tr.update([((a[0] + 12, 10, 10, 30), False)], 2.2)] == [ids[a]]
    assert left not in [p.id for p in tr.tracks]
    # Someone far from every track is someone new.
    assert len({p.id for p in tr.update([((a[0] + 12, 10, 10, 30), False), ((150, 10, 10, 30), False)], 2.3)}) == 2


def test_a_confirmed_person_stays_confirmed_only_while_their_box_is_about_the_one_they_were_seen_in():
    """The skimming check trusts a confirmed person's box even when it is large (someone close to the
    camera). A track confirmed once whose region then joins everyone else's (a crowd, a shaking camera:
    the whole picture) is no longer where the people detector saw that person: it must lose the mark,
    or the region holds every check near it as if one person stood everywhere."""
    tr = PeopleTracker(hold_s=1.0)
    (p,) = tr.update([((10, 10, 12, 30), True)], 0.0)
    for k in range(1, 6):                                    # walks, an arm out: still that person
        (p,) = tr.update([((10 + k, 10, 12 + 2 * k, 30), False)], k / 10)
        assert p.confirmed
    (p,) = tr.update([((0, 0, 80, 45), False)], 0.6)         # joined into the whole picture
    assert p.box == (0, 0, 80, 45) and not p.confirmed
    (p,) = tr.update([((12, 10, 12, 30), True)], 0.7)        # seen again by the detector
    assert p.confirmed
    tr.seen(p, 0.8, (13, 10, 12, 30))                        # found again where they stood
    (p,) = tr.update([((13, 10, 20, 40), False)], 0.9)
    assert p.confirmed


def _occupancy(sc, cfg, frames):
    stage = ClassicalStage(cfg, sc.fps)
    counts, flags = {}, {}
    for i in frames:
        r = stage.process(sc.frame(i), i, i / sc.fps)
        counts[i] = len(r.ctx.people or [])
        flags[i] = {f.type for f in r.flags}
    return counts, flags


@pytest.fixture(scope="module")
def booth():
    return booth_scenario(640, 480)


def test_occupancy_counts_the_booth_and_feeds_crowding(booth):
    sc, cfg = booth, load_config()
    empty_end = sc.phase("empty")[1]
    a_in = sc.phase("a_enters")[0]
    crowd_a, crowd_b = sc.phase("crowding")
    frames = [*range(empty_end + 1), *range(a_in, crowd_b + 1)]
    counts, flags = _occupancy(sc, cfg, frames)
    at_atm = [counts[i] for i in range(*sc.phase("a_at_atm"))]
    two = [counts[i] for i in range(crowd_a, crowd_b + 1)]
    assert all(counts[i] == 0 for i in range(15, empty_end + 1))   # after calibration, nobody
    assert np.median(at_atm) == 1 and np.mean(np.array(at_atm) == 1) > 0.9
    assert np.median(two) == 2 and np.mean(np.array(two) == 2) > 0.8
    assert not any("crowding" in flags[i] for i in range(*sc.phase("a_at_atm")))
    assert sum("crowding" in flags[i] for i in range(crowd_a, crowd_b + 1)) > 0.8 * (crowd_b - crowd_a + 1)


def _empty_booth_with(draw, seconds, *overrides):
    """Per frame, the people in view and the flags raised, through the classical stage, of the synthetic
    booth's empty picture (320x240, 15 fps, a little noise) with `draw(img, t)` drawn on it."""
    bg = booth_scenario(320, 240).background()
    stage = ClassicalStage(load_config(None, list(overrides)), 15.0)
    people, flags = [], []
    for i in range(int(seconds * 15)):
        img = bg.copy()
        draw(img, i / 15.0)
        noise = np.random.default_rng(i).normal(0, 2.0, img.shape).round().astype(np.int16)
        res = stage.process(np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8), i, i / 15.0)
        people.append(list(res.ctx.people or []))
        flags.append({f.type for f in res.flags})
    return people, flags, stage


def test_a_parcel_put_down_is_a_thing_not_a_person_whose_face_is_checked():
    """A large box put down in the booth is a region of the motion mask for a minute and more; never
    confirmed by the people detector and never stirring, it is no one once `thing_after_s` has passed,
    so it raises no face_covered (which locks the door). Counted as a person, it did."""
    import cv2

    rng = np.random.default_rng(5)
    box = cv2.resize(np.clip(rng.normal(90, 25, (18, 13, 3)), 0, 255).astype(np.uint8), (50, 70),
                     interpolation=cv2.INTER_NEAREST)

    def parcel(img, t):
        if t >= 1.0:
            img[150:220, 150:200] = box

    people, flags, stage = _empty_booth_with(parcel, 14)
    after = stage.detector("people").cfg.thing_after_s
    assert any(people[i] for i in range(15, 30))                        # a region at first ...
    assert not any(people[i] for i in range(int((1.0 + after + 0.2) * 15), len(people)))   # ... then a thing
    assert stage.detector("people").tracker.tracks                      # still tracked: it counts if it stirs
    assert not any("face_covered" in f for f in flags)
    _, flags, _ = _empty_booth_with(parcel, 14, "people.thing_after_s=0")
    assert any("face_covered" in f for f in flags)


def test_someone_standing_almost_still_is_still_a_person():
    """A person the people detector never confirms, swaying by one pixel of 320, stays in view for as
    long as they stand there; a figure that does not move at all is a thing (a cardboard cut-out)."""
    import math

    import cv2

    def standing(sway):
        def draw(img, t):
            if t >= 1.0:
                dx = int(round(sway * math.sin(2 * math.pi * 0.7 * t)))
                cv2.rectangle(img, (200 + dx, 60), (226 + dx, 232), (60, 50, 45), -1)
                cv2.circle(img, (213 + dx, 52), 9, (95, 135, 190), -1)
        return draw

    people, _, stage = _empty_booth_with(standing(1.0), 12)
    assert all(len(people[i]) == 1 for i in range(30, len(people)))
    assert not any(p.confirmed for p in stage.detector("people").tracker.tracks)   # the rule, not HOG, kept them
    people, _, _ = _empty_booth_with(standing(0.0), 12)
    assert not any(people[i] for i in range(int(5.5 * 15), len(people)))


def test_stirred_counts_the_pixels_that_changed_within_the_box_only():
    from features.people import stirred

    prev = np.zeros((40, 60), np.uint8)
    grey = prev.copy()
    grey[5:7, 5:8] = 50                       # 6 pixels changed, in a 20x20 box (400 pixels)
    grey[30:40, 40:60] = 200                  # outside the box: not counted
    assert stirred(grey, prev, (0, 0, 20, 20), 20.0, 0.01)
    assert not stirred(grey, prev, (0, 0, 20, 20), 20.0, 0.02)
    assert not stirred(grey, prev, (0, 0, 20, 20), 60.0, 0.0)     # under the threshold
    assert not stirred(grey, prev, (70, 70, 10, 10), 20.0, 0.0)   # outside the picture


def _ctx(t, people, state="unknown"):
    return FrameContext(0, t, 10.0, None, None, None, SimpleNamespace(calibrating=False), None, 1.0, state,
                        people=people)


def test_loitering_after_limit_and_never_while_the_atm_is_in_use():
    det = LoiteringDetector(LoiteringConfig(after_s=10.0), 10.0)
    p = Person(7, (10, 10, 10, 30), first_s=0.0, last_s=0.0)
    # A customer at the keypad for two minutes: the ATM says pin_entry, no loitering.
    for k in range(1200):
        assert det.detect(_ctx(k / 10, [p], "pin_entry")) == []
    # The transaction ends and they stay: after_s from the moment the machine went idle.
    t_idle = 120.0
    flags = [(t, det.detect(_ctx(t, [p], "idle"))) for t in np.arange(t_idle, t_idle + 12, 0.1)]
    first = next(t for t, f in flags if f)
    assert t_idle + 10.0 - 1e-6 <= first <= t_idle + 10.15
    f = next(f for t, f in flags if f)[0]
    assert f.type == "loitering" and f.bbox == p.box and f.extra["person"] == 7
    # Without a state reader, the default limit counts from the person's arrival.
    det = LoiteringDetector(LoiteringConfig(after_s=10.0), 10.0)
    q = Person(3, (10, 10, 10, 30), first_s=5.0, last_s=5.0)
    assert det.detect(_ctx(14.9, [q])) == [] and det.detect(_ctx(15.0, [q]))[0].type == "loitering"
    # A state with its own limit.
    det = LoiteringDetector(LoiteringConfig(after_s=100.0, state_after_s={"maintenance": 3.0}), 10.0)
    assert det.detect(_ctx(2.0, [Person(1, (0, 0, 5, 5), 0.0, 0.0)], "maintenance")) == []
    assert det.detect(_ctx(3.0, [Person(1, (0, 0, 5, 5), 0.0, 0.0)], "maintenance"))


def test_loiterer_in_the_booth_scenario_raises_loitering_after_the_limit(booth):
    sc = booth
    cfg = load_config(overrides=["loitering.after_s=8"])
    stage = ClassicalStage(cfg, sc.fps)
    first_seen, first_flag = None, None
    empty_end = sc.phase("empty")[1]
    l_in = sc.phase("l_enters")[0]
    _, l_out = sc.phase("l_gone")
    for i in [*range(empty_end + 1), *range(l_in, l_out + 1)]:
        r = stage.process(sc.frame(i), i, i / sc.fps)
        if r.ctx.people and first_seen is None:
            first_seen = i
        if first_flag is None and any(f.type == "loitering" for f in r.flags):
            first_flag = i
    assert first_seen is not None and first_flag is not None
    assert 8.0 <= (first_flag - first_seen) / sc.fps <= 8.5


@pytest.mark.skipif(not os.path.isdir(os.path.join(DATA, "fight_surv")) or not os.path.isdir(os.path.join(DATA, "aboda")),
                    reason="../shared/data (fight_surv, aboda) not present")
def test_occupancy_counts_closer_to_hand_counts_than_blobs_alone():
    from bench.occupancy import evaluate

    result = evaluate(DATA)
    mae = result["mae"]["all"]
    assert result["n"] == 40
    assert mae["occupancy"] < mae["blob_only"], mae


def test_a_misspelt_atm_state_in_the_loitering_limits_is_a_config_error():
    from core.errors import UserError

    with pytest.raises(UserError, match="pin-entry"):
        load_config(overrides=["loitering.state_after_s.pin-entry=5"])
    assert load_config(overrides=["loitering.state_after_s.maintenance=30"]).loitering.state_after_s["maintenance"] == 30


def test_pieces_of_one_person_join_through_a_piece_between_them():
    torso, legs, thigh = _blob(10, 0, 10, 20), _blob(10, 30, 10, 20), _blob(12, 22, 6, 6)
    for order in ([torso, legs, thigh], [thigh, legs, torso], [legs, torso, thigh]):
        assert person_regions(order, min_area=100, join_px=3) == [(10, 0, 10, 50)]


def test_detectors_that_read_people_refuse_a_config_without_it():
    from core.errors import UserError

    with pytest.raises(UserError, match="(surfing|face|loitering): needs people.enabled"):
        load_config(overrides=["people.enabled=false"])
    cfg = load_config(overrides=["people.enabled=false", "face.enabled=false", "loitering.enabled=false",
                                 "surfing.enabled=false"])
    assert not cfg.people.enabled   # crowding (always on) falls back to blobs alone
