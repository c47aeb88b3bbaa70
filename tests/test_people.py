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
