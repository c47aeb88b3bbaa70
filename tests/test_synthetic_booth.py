"""Tests for datasets.synthetic_booth: determinism, shapes, ground truth consistent with the timeline,
and that a plain classical pipeline sees what the truth says (noise only, two blobs, a bag, a cover)."""

import hashlib
import os
import sys

import cv2
import numpy as np
import pytest

# Lets `pytest tests/...` work without an installed package or a conftest.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from datasets.synthetic_booth import TruthEvent, booth_scenario  # noqa: E402

TYPES = {"skimmer_suspected", "face_covered", "loitering", "crowding", "shoulder_surfing", "fight", "left_object",
         "camera_covered"}


@pytest.fixture(scope="module")
def sc():
    return booth_scenario()


def _grey(img):
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)


def _digest(img):
    return hashlib.sha1(img.tobytes()).hexdigest()


def _mid(sc, phase):
    a, b = sc.phase(phase)
    return (a + b) // 2


def _blobs(background, frame, thresh=30, min_area=800):
    diff = cv2.absdiff(_grey(background), _grey(frame))
    mask = (diff > thresh).astype(np.uint8) * 255
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    return [tuple(int(v) for v in s) for s in stats[1:n] if s[cv2.CC_STAT_AREA] >= min_area]


# -- determinism and shape -------------------------------------------------------------------------

def test_same_seed_gives_identical_frames(sc):
    other = booth_scenario(seed=0)
    idx = [0, 100, _mid(sc, "scuffle"), sc.n_frames - 1]
    first = [_digest(f) for i, f in enumerate(sc.frames()) if i in idx]
    again = [_digest(f) for i, f in enumerate(sc.frames()) if i in idx]   # regenerated, same object
    fresh = [_digest(other.frame(i)) for i in idx]                         # random access, new object
    assert first == again == fresh
    assert other.truth == sc.truth and other.phases == sc.phases


def test_different_seed_gives_different_noise(sc):
    other = booth_scenario(seed=1)
    assert _digest(other.frame(10)) != _digest(sc.frame(10))
    assert [e.type for e in other.truth] == [e.type for e in sc.truth]


def test_frames_shape_dtype_and_count(sc):
    assert (sc.width, sc.height, sc.fps) == (320, 240, 15.0)
    assert 300 <= sc.n_frames <= 1400
    n = 0
    for f in sc.frames():
        assert f.shape == (240, 320, 3) and f.dtype == np.uint8
        n += 1
    assert n == sc.n_frames


def test_other_size_and_fps_scale_the_timeline():
    big = booth_scenario(width=640, height=480, fps=30.0)
    assert big.frame(0).shape == (480, 640, 3)
    small = booth_scenario()
    assert abs(big.n_frames - 2 * small.n_frames) <= 2
    for e_big, e_small in zip(big.truth, small.truth):
        assert e_big.type == e_small.type
        assert abs(e_big.start_frame - 2 * e_small.start_frame) <= 4


# -- ground truth and phases -----------------------------------------------------------------------

def test_phases_tile_the_scenario(sc):
    assert sc.phases[0][1] == 0 and sc.phases[-1][2] == sc.n_frames - 1
    for (_, _, end), (_, start, _) in zip(sc.phases, sc.phases[1:]):
        assert start == end + 1
    assert all(a <= b for _, a, b in sc.phases)


def test_truth_events_ordered_and_inside(sc):
    assert {e.type for e in sc.truth} == TYPES
    assert all(isinstance(e, TruthEvent) for e in sc.truth)
    starts = [e.start_frame for e in sc.truth]
    assert starts == sorted(starts)
    for e in sc.truth:
        assert 0 <= e.start_frame <= e.end_frame < sc.n_frames
        if e.bbox is not None:
            x, y, w, h = e.bbox
            assert w > 0 and h > 0 and x >= 0 and y >= 0
            assert x + w <= sc.width and y + h <= sc.height


def test_truth_follows_the_timeline(sc):
    (crowd,), (fight,) = sc.events("crowding"), sc.events("fight")
    (left,), (covered,) = sc.events("left_object"), sc.events("camera_covered")
    assert (fight.start_frame, fight.end_frame) == sc.phase("scuffle")
    b_in, _ = sc.phase("b_enters")
    _, b_out_end = sc.phase("b_leaves")
    assert b_in <= crowd.start_frame <= sc.phase("crowding")[0]
    assert sc.phase("scuffle")[1] < crowd.end_frame <= b_out_end
    a_out = sc.phase("a_leaves")
    assert a_out[0] < left.start_frame <= a_out[1] + 1
    cover_start, cover_end = sc.phase("cover_slides")
    assert left.end_frame == cover_start - 1
    assert cover_start <= covered.start_frame <= cover_end
    assert covered.end_frame == sc.n_frames - 1 and covered.bbox is None
    # the bag is a compact object about a tenth of the frame wide, on the floor (lower half)
    x, y, w, h = left.bbox
    assert 0.07 * sc.width <= w <= 0.13 * sc.width and h < w
    assert y > sc.height / 2
    # the fight's box holds both people: wider than one person-sized blob
    assert fight.bbox[2] > 0.3 * sc.width and fight.bbox[3] > sc.height / 3


# -- what a classical pipeline sees ----------------------------------------------------------------

def test_empty_phase_differs_only_by_noise(sc):
    a, b = sc.phase("empty")
    prev = None
    for i in range(a, b + 1):
        g = _grey(sc.frame(i)).astype(np.int16)
        if prev is not None:
            d = np.abs(g - prev)
            assert 0.3 < d.mean() < 4.0          # noise is there, but only noise
            assert (d > 20).mean() < 1e-3
        prev = g


def test_crowding_phase_shows_two_separate_people(sc):
    a, b = sc.phase("crowding")
    bg = sc.frame(0)
    for i in (a + 5, (a + b) // 2, b - 5):
        blobs = _blobs(bg, sc.frame(i))
        assert len(blobs) >= 2, f"frame {i}: {blobs}"
        for _, _, w, h, _ in blobs[:2]:
            assert h >= sc.height / 4              # person-sized


def test_scuffle_moves_much_more_than_waiting(sc):
    def motion(phase):
        a, b = sc.phase(phase)
        vals = []
        for i in range(a + 5, a + 25):
            d = cv2.absdiff(_grey(sc.frame(i - 1)), _grey(sc.frame(i)))
            vals.append((d > 25).mean())
        return float(np.mean(vals))

    assert motion("scuffle") > 5 * motion("crowding")
    assert motion("scuffle") > 0.02


def test_covered_frames_are_dark_and_flat(sc):
    a, b = sc.phase("covered")
    for i in range(a, b + 1, 7):
        g = _grey(sc.frame(i))
        assert g.std() < 8 and g.mean() < 40
    (covered,) = sc.events("camera_covered")
    before = _grey(sc.frame(sc.phase("cover_slides")[0] - 1))
    assert before.mean() > 100                  # nothing dark before the cover starts
    assert (_grey(sc.frame(covered.start_frame)) < 40).mean() > 0.8


def test_bag_stays_after_the_person_left(sc):
    (left,) = sc.events("left_object")
    x, y, w, h = left.bbox
    bg = _grey(sc.background(skimmer=True)).astype(np.int16)   # the skimmer fitted early on stays too
    for i in (left.start_frame, _mid(sc, "unattended_bag"), left.end_frame):
        g = _grey(sc.frame(i)).astype(np.int16)
        d = np.abs(g - bg)
        assert d[y:y + h, x:x + w].mean() > 40   # the bag is there
        outside = d.copy()
        outside[y:y + h, x:x + w] = 0
        assert (outside > 30).mean() < 1e-3        # and nobody else


def test_nobody_in_the_picture_when_empty(sc):
    assert _blobs(sc.frame(0), sc.frame(sc.phase("empty")[1])) == []


# -- video file ------------------------------------------------------------------------------------

def _count_frames(path):
    cap = cv2.VideoCapture(path)
    assert cap.isOpened()
    n, shape = 0, None
    while True:
        ok, f = cap.read()
        if not ok:
            break
        n, shape = n + 1, f.shape
    cap.release()
    return n, shape


def test_write_video_round_trips_avi(sc, tmp_path):
    path = sc.write_video(tmp_path / "booth.avi")
    assert os.path.getsize(path) > 0
    assert _count_frames(path) == (sc.n_frames, (sc.height, sc.width, 3))


def test_write_video_mp4(tmp_path):
    small = booth_scenario(width=160, height=120, fps=10.0)
    try:
        path = small.write_video(str(tmp_path / "sub" / "booth.mp4"))
    except RuntimeError as exc:                    # an OpenCV build without mp4v
        pytest.skip(str(exc))
    n, shape = _count_frames(path)
    assert n == small.n_frames and shape == (120, 160, 3)


def test_write_video_rejects_unknown_extension(sc, tmp_path):
    with pytest.raises(ValueError):
        sc.write_video(tmp_path / "booth.gif")


def test_masked_visitor_loiterer_and_atm_states_follow_the_timeline(sc):
    from datasets.synthetic_booth import LOITER_AFTER_S

    (masked,), (loiter,) = sc.events("face_covered"), sc.events("loitering")
    m_in, _ = sc.phase("m_enters")
    _, m_out = sc.phase("m_leaves")
    assert m_in <= masked.start_frame <= m_in + 8 and masked.end_frame <= m_out
    l_in, _ = sc.phase("l_enters")
    _, l_out = sc.phase("l_leaves")
    assert l_in <= loiter.start_frame <= l_in + 8 and loiter.end_frame <= l_out
    # L stays long enough for the demo's limit; nobody else is in the picture meanwhile.
    assert (loiter.end_frame - loiter.start_frame) / sc.fps > LOITER_AFTER_S + 2
    assert masked.end_frame < loiter.start_frame < sc.phase("a_enters")[0]
    # The ATM: at its PIN prompt for M and A (also while B watches from behind), idle for L.
    assert sc.atm_state(sc.phase("m_at_atm")[0]) == "pin_entry" == sc.atm_state(sc.phase("a_at_atm")[1])
    assert sc.atm_state(sc.phase("crowding")[0]) == "pin_entry"
    assert sc.atm_state(sc.phase("scuffle")[0]) == "transaction"
    assert {sc.atm_state(i) for i in range(*sc.phase("l_waits"))} == {"idle"}
    with pytest.raises(IndexError):
        sc.atm_state(sc.n_frames)


def test_skimmer_is_fitted_by_a_visitor_and_stays(sc):
    (skim,) = sc.events("skimmer_suspected")
    fits_from, fits_to = sc.phase("s_fits")
    gone_from, _ = sc.phase("s_gone")
    # The truth starts once the fitter's hands are off the fascia, before the booth is empty again.
    assert fits_to < skim.start_frame <= gone_from
    x, y, w, h = sc.fascia_roi()
    bx, by, bw, bh = skim.bbox
    assert x <= bx and y <= by and bx + bw <= x + w and by + bh <= y + h
    before, after = _grey(sc.frame(fits_from)), _grey(sc.frame(gone_from + 5))
    inside = (slice(by, by + bh), slice(bx, bx + bw))
    # The overlay is there from the fitting on, and nowhere else changed once the fitter left.
    assert np.abs(before[inside].astype(int) - after[inside]).mean() > 20
    outside = np.abs(_grey(sc.background()).astype(int) - after) > 12   # noise: sigma 2
    outside[by:by + bh, bx:bx + bw] = False
    assert outside.mean() < 0.001
    assert skim.end_frame == sc.phase("cover_slides")[0] - 1


def test_watcher_stands_behind_the_customer_at_the_pin_prompt(sc):
    (surf,) = sc.events("shoulder_surfing")
    assert (surf.start_frame, surf.end_frame) == sc.phase("crowding")
    assert {sc.atm_state(i) for i in range(surf.start_frame, surf.end_frame + 1)} == {"pin_entry"}
