"""Motion stage on small synthetic frames: background subtraction, blobs, tracking, crowding, lighting
guard, closing, run-time threshold, the feature window, optical-flow features and the decision stage.

Every frame is built here: a 160x120 grey booth wall with a seeded texture, a little Gaussian sensor
noise per frame, and bright squares (+80 grey levels) standing in for people.
"""

import cv2
import numpy as np
import pytest

from core.detector import Flag
from detectors.crowding import CrowdingConfig, CrowdingDetector
from features.boxes import union_bbox
from features.flow import FLOW_FEATURES, NO_MOTION, FlowFeatures
from features.frame_features import FRAME_FEATURES, FrameFeatures, shrink_size
from features.motion import Blob, MotionConfig, MotionDetector, ThresholdConfig
from features.motion_stats import MOTION_FEATURES, BlobTracker, frame_motion_stats
from features.window import FeatureWindow, summarise, summary_names
from pipeline.config import Config
from pipeline.decision import Decision, EventsConfig

W, H = 160, 120
FPS = 10.0
CONTRAST = 80.0
SQ = 20  # side of a "person" square, px


# ---------------------------------------------------------------- synthetic scene


def wall(seed: int = 0) -> np.ndarray:
    """A still, textured background (float32, levels ~60..150): coarse blotches plus fine grain."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(70.0, 140.0, (H // 8 + 1, W // 8 + 1)).astype(np.float32)
    bg = cv2.resize(coarse, (W, H), interpolation=cv2.INTER_LINEAR)
    grain = cv2.GaussianBlur(rng.normal(0.0, 6.0, (H, W)).astype(np.float32), (0, 0), 1.0)
    return bg + grain


class Scene:
    """Frames of `wall()` with per-frame noise; squares are (x, y, w, h) boxes brightened by CONTRAST."""

    def __init__(self, seed: int = 0, noise: float = 2.0):
        self.bg = wall(seed)
        self.rng = np.random.default_rng(seed + 1000)
        self.noise = noise

    def frame(self, squares=(), gain: float = 0.0) -> np.ndarray:
        img = self.bg + gain + self.rng.normal(0.0, self.noise, self.bg.shape).astype(np.float32)
        for x, y, w, h in squares:
            img[y:y + h, x:x + w] += CONTRAST
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def calibrated(cfg: MotionConfig | None = None, scene: Scene | None = None) -> tuple[MotionDetector, Scene]:
    """A detector that has learnt the empty scene: the first frame plus `calibrate_frames` more."""
    det = MotionDetector(cfg)
    scene = scene or Scene()
    for _ in range(det.cfg.calibrate_frames + 1):
        r = det.detect(scene.frame())
        assert r.calibrating and not r.blobs
    assert not det.is_calibrating()
    return det, scene


def assert_bbox_near(blob: Blob, box, tol: int = 3) -> None:
    x, y, w, h = box
    assert abs(blob.x - x) <= tol and abs(blob.y - y) <= tol, (blob.bbox, box)
    assert abs(blob.x + blob.w - (x + w)) <= tol and abs(blob.y + blob.h - (y + h)) <= tol, (blob.bbox, box)


# ---------------------------------------------------------------- MotionDetector


def test_first_frames_calibrate_then_detection_starts():
    det = MotionDetector()
    scene = Scene()
    n = det.cfg.calibrate_frames
    results = [det.detect(scene.frame([(60, 50, SQ, SQ)] if i > 0 else [])) for i in range(n + 2)]
    # The first frame becomes the background, then `calibrate_frames` frames learn it: no blobs from any.
    assert all(r.calibrating and not r.blobs for r in results[: n + 1])
    assert not results[n + 1].calibrating
    assert results[n + 1].grey.shape == (H, W) and results[n + 1].mask.dtype == np.uint8


def test_still_background_gives_no_blobs_after_calibration():
    det, scene = calibrated()
    for _ in range(40):
        r = det.detect(scene.frame())
        assert not r.calibrating and not r.global_change
        assert r.blobs == []
        assert r.fg_ratio < 0.002
        assert det.cfg.threshold.floor <= r.threshold <= det.cfg.threshold.ceiling
    assert det.recalibrations == 0


def test_moving_square_is_one_blob_at_its_true_position():
    det, scene = calibrated()
    for i in range(30):
        box = (10 + 3 * i, 50, SQ, SQ)
        r = det.detect(scene.frame([box]))
        assert not r.calibrating and not r.global_change
        assert len(r.blobs) == 1, (i, [b.bbox for b in r.blobs])
        b = r.blobs[0]
        assert_bbox_near(b, box)
        assert abs(b.cx - (box[0] + SQ / 2)) <= 1.5 and abs(b.cy - (50 + SQ / 2)) <= 1.5
        assert 0.8 * SQ * SQ <= b.area <= 1.3 * SQ * SQ
        # The mask is where the blob is: nothing lit up far from the square.
        ys, xs = np.nonzero(r.mask)
        assert xs.min() >= box[0] - 3 and xs.max() <= box[0] + SQ + 3


def test_tracked_speed_and_direction_of_one_straight_mover():
    det, scene = calibrated()
    tracker = BlobTracker()
    rows = []
    for i in range(25):
        r = det.detect(scene.frame([(10 + 3 * i, 50, SQ, SQ)]))
        row = frame_motion_stats(r, tracker.match(r.blobs, W), FPS)
        assert row.shape == (len(MOTION_FEATURES),) and row.dtype == np.float32
        rows.append(row)
    rows = np.array(rows[1:])  # the first detection has nothing to match against
    col = {n: rows[:, j] for j, n in enumerate(MOTION_FEATURES)}
    true_speed = 3.0 * FPS / W  # frame widths per second
    assert np.all(np.abs(col["blob_speed"] - true_speed) <= 0.15 * true_speed), col["blob_speed"]
    assert np.all(col["blob_dir_spread"] < 0.05)
    assert np.all(col["blob_count"] == 1)
    assert np.allclose(col["blob_area_mean"], SQ * SQ / (W * H), rtol=0.3)
    assert np.all(col["blob_area_std"] == 0)


def test_tracker_direction_spread_same_way_vs_opposite_ways():
    def blob(cx, cy):
        return Blob(int(cx) - 5, int(cy) - 5, 10, 10, 100, float(cx), float(cy))

    mask = np.zeros((H, W), np.uint8)

    def stats(prev, cur):
        from features.motion import MotionResult

        t = BlobTracker()
        t.match(prev, W)
        m = t.match(cur, W)
        r = MotionResult(mask, mask, cur, 0.1, 20.0, False, False)
        return m, dict(zip(MOTION_FEATURES, frame_motion_stats(r, m, FPS)))

    m, s = stats([blob(30, 40), blob(100, 40)], [blob(34, 40), blob(104, 40)])
    assert len(m) == 2 and s["blob_dir_spread"] == pytest.approx(0.0, abs=1e-6)
    assert s["blob_speed"] == pytest.approx(4 * FPS / W)
    m, s = stats([blob(30, 40), blob(100, 40)], [blob(34, 40), blob(96, 40)])
    assert s["blob_dir_spread"] == pytest.approx(1.0, abs=1e-6)
    # A jump of more than max_jump * width is a different object, not a match.
    m, s = stats([blob(10, 40)], [blob(10 + 0.3 * W, 40)])
    assert m == [] and s["blob_speed"] == 0.0


def test_two_separated_squares_are_two_blobs():
    det, scene = calibrated()
    boxes = [(20, 40, SQ, SQ), (110, 60, SQ, SQ)]
    for i in range(5):
        moved = [(x + 2 * i, y, w, h) for x, y, w, h in boxes]
        r = det.detect(scene.frame(moved))
        assert len(r.blobs) == 2
        for b, box in zip(sorted(r.blobs, key=lambda b: b.x), moved):
            assert_bbox_near(b, box)


def test_crowding_needs_the_persistence_window_and_two_person_sized_blobs():
    frame_area = W * H
    # 20x20 = 2.1% of the frame; a person is at least 1.5%, crowding must last 0.5 s = 5 frames at 10 fps.
    cfg = CrowdingConfig(max_people=1, person_min_frac=0.015, persist_s=0.5)
    n = round(cfg.persist_s * FPS)
    det, scene = calibrated()
    crowd = CrowdingDetector(cfg, FPS)
    boxes = [(20, 40, SQ, SQ), (110, 60, SQ, SQ)]
    flags, where = [], []
    for i in range(n + 3):
        moved = [(x + 2 * i, y, w, h) for x, y, w, h in boxes]
        r = det.detect(scene.frame(moved))
        assert len(crowd.people(r.blobs, frame_area)) == 2
        flags.append(crowd.check_blobs(r.blobs, frame_area))
        where.append(moved)
    assert flags[: n - 1] == [None] * (n - 1)  # window not full yet: calibrating, no flag
    for f, (a, b) in zip(flags[n - 1:], where[n - 1:]):
        assert isinstance(f, Flag) and f.type == "crowding"
        assert f.extra["people"] == 2 and 0 < f.score <= 1
        x, y, w, h = f.bbox  # the union of both squares
        assert abs(x - a[0]) <= 3 and abs(y - a[1]) <= 3
        assert abs(x + w - (b[0] + SQ)) <= 3 and abs(y + h - (b[1] + SQ)) <= 3

    # One person only: never a flag, however long it lasts.
    det, scene = calibrated()
    crowd = CrowdingDetector(cfg, FPS)
    for i in range(3 * n):
        r = det.detect(scene.frame([(20 + 2 * i, 40, SQ, SQ)]))
        assert len(r.blobs) == 1
        assert crowd.check_blobs(r.blobs, frame_area) is None
    assert not crowd.is_calibrating()


def test_crowding_ignores_small_blobs_and_brief_splits():
    cfg = CrowdingConfig(max_people=1, person_min_frac=0.015, persist_s=0.5)
    crowd = CrowdingDetector(cfg, FPS)
    big1 = Blob(10, 10, 20, 20, 400, 20.0, 20.0)
    big2 = Blob(100, 10, 20, 20, 400, 110.0, 20.0)
    small = Blob(60, 60, 5, 5, 25, 62.0, 62.0)
    # A second blob that is too small to be a person does not count.
    assert all(crowd.check_blobs([big1, small], W * H) is None for _ in range(10))
    # Two people for 2 frames in 5 (a split): the median stays at one.
    crowd.reset()
    seq = [[big1], [big1, big2], [big1], [big1, big2], [big1]]
    assert [crowd.check_blobs(b, W * H) for b in seq] == [None] * 5
    assert union_bbox([big1, big2]) == (10, 10, 110, 20) and union_bbox([]) is None


def test_light_switched_on_relearns_without_alarm():
    det, scene = calibrated()
    n = det.cfg.calibrate_frames
    r = det.detect(scene.frame(gain=40.0))
    assert r.global_change and r.calibrating and r.blobs == []
    assert det.recalibrations == 1 and det.is_calibrating()
    for k in range(n):
        r = det.detect(scene.frame(gain=40.0))
        assert r.calibrating and not r.global_change and r.blobs == []
    assert not det.is_calibrating()  # `calibrate_frames` frames after the switch
    for _ in range(20):
        r = det.detect(scene.frame(gain=40.0))
        assert not r.calibrating and not r.global_change and r.blobs == []
    assert det.recalibrations == 1
    # The relearnt background is the lit scene: a person is still found in it.
    r = det.detect(scene.frame([(60, 50, SQ, SQ)], gain=40.0))
    assert len(r.blobs) == 1 and not r.global_change


def test_relearning_says_the_calibration_follows_a_light_switch_not_the_start():
    """A detector that looks at some frames only (the skimming check) must know that a light switched
    between two of its looks: `relearning` holds from the switch's frame until the scene is learnt again,
    and never during the calibration at start or after a reset (there is no switch to hold for)."""
    det = MotionDetector()
    scene = Scene()
    start = [det.detect(scene.frame()) for _ in range(det.cfg.calibrate_frames + 1)]
    assert all(r.calibrating and not r.relearning for r in start)
    after = [det.detect(scene.frame(gain=40.0)) for _ in range(det.cfg.calibrate_frames + 3)]
    assert [r.relearning for r in after] == [r.calibrating for r in after] == \
        [True] * (det.cfg.calibrate_frames + 1) + [False] * 2
    det.detect(scene.frame())            # switched back: relearning again, then a reset (a reconnect)
    det.reset()
    assert not any(det.detect(scene.frame()).relearning for _ in range(det.cfg.calibrate_frames + 2))


def test_light_switched_off_is_a_global_change_too():
    det, scene = calibrated()
    r = det.detect(scene.frame(gain=-40.0))
    assert r.global_change and r.blobs == []


def test_gradual_brightening_is_followed_by_the_background():
    det, scene = calibrated()
    for i in range(1, 101):
        r = det.detect(scene.frame(gain=0.3 * i))
        assert not r.global_change and not r.calibrating
        assert r.blobs == [], (i, [b.bbox for b in r.blobs])
    assert det.recalibrations == 0


def _slit_square(cfg: MotionConfig) -> list[Blob]:
    det, scene = calibrated(cfg)
    img = scene.frame([(60, 50, 12, 24), (73, 50, 12, 24)])  # a 25x24 square with a 1-px slit at x=72
    return det.detect(img).blobs


def test_closing_fills_a_one_pixel_gap():
    # The 3x3 median alone would fill a 1-px slit (6 of 9 neighbours are bright), so it is off here.
    closed = _slit_square(MotionConfig(median=False, close_radius=2))
    assert len(closed) == 1
    assert_bbox_near(closed[0], (60, 50, 25, 24))
    assert len(_slit_square(MotionConfig(median=False, close_radius=0))) == 2


def test_median_removes_isolated_bright_pixels():
    scene = Scene()
    rng = np.random.default_rng(7)
    pts = rng.integers(5, [H - 5, W - 5], (60, 2))

    def speckled():
        img = scene.frame()
        img[pts[:, 0], pts[:, 1]] = 255
        return img

    det, _ = calibrated(MotionConfig(min_blob_frac=1e-4, close_radius=0), scene)
    r = det.detect(speckled())
    assert r.blobs == [] and r.fg_ratio == 0.0
    det, _ = calibrated(MotionConfig(median=False, min_blob_frac=1e-4, close_radius=0), scene)
    assert det.detect(speckled()).fg_ratio > 0


def test_small_blobs_below_min_blob_frac_are_dropped():
    det, scene = calibrated()  # min_blob_frac 0.002 of 19200 px = 38.4 px
    r = det.detect(scene.frame([(30, 30, 5, 5), (100, 60, SQ, SQ)]))
    assert len(r.blobs) == 1 and r.blobs[0].x >= 97


def test_set_threshold_at_run_time():
    det, scene = calibrated()
    box = (60, 50, SQ, SQ)
    r = det.detect(scene.frame([box]))
    assert len(r.blobs) == 1 and r.threshold <= det.cfg.threshold.ceiling
    det.set_threshold(CONTRAST + 20)  # above the square's contrast: it is no longer foreground
    r = det.detect(scene.frame([box]))
    assert r.blobs == [] and r.threshold == CONTRAST + 20
    det.set_threshold(None, method="iterative")
    r = det.detect(scene.frame([box]))
    assert len(r.blobs) == 1 and r.threshold <= det.cfg.threshold.ceiling


def test_fixed_threshold_from_config():
    cfg = MotionConfig(threshold=ThresholdConfig(method="fixed", value=CONTRAST + 20))
    det, scene = calibrated(cfg)
    assert det.detect(scene.frame([(60, 50, SQ, SQ)])).blobs == []
    cfg = MotionConfig(threshold=ThresholdConfig(method="fixed", value=40))
    det, scene = calibrated(cfg)
    assert len(det.detect(scene.frame([(60, 50, SQ, SQ)])).blobs) == 1


def test_person_who_stops_stays_foreground():
    det, scene = calibrated()
    for i in range(10):  # walks in...
        det.detect(scene.frame([(30 + 3 * i, 40, SQ, SQ + 10)]))
    box = (57, 40, SQ, SQ + 10)
    for k in range(120):  # ...and stands at the ATM
        r = det.detect(scene.frame([box]))
        assert len(r.blobs) == 1, k
    assert_bbox_near(r.blobs[0], box)


def test_reset_relearns_and_shape_change_relearns():
    det, scene = calibrated()
    det.reset()
    assert det.is_calibrating()
    r = det.detect(scene.frame([(60, 50, SQ, SQ)]))
    assert r.calibrating and r.blobs == []
    det, _ = calibrated()
    r = det.detect(np.full((60, 80), 100, np.uint8))
    assert r.calibrating and r.mask.shape == (60, 80)


# ---------------------------------------------------------------- FeatureWindow


def test_feature_window_ring_buffer():
    with pytest.raises(ValueError):
        FeatureWindow(0, 3)
    win = FeatureWindow(4, 3)
    assert len(win) == 0 and win.size == 4
    assert np.array_equal(win.summary(), np.zeros(6, np.float32))
    assert win.column_mean(0) == 0.0
    rows = [np.array([i, 2.0 * i, i * i], np.float32) for i in range(10)]
    for i, row in enumerate(rows):
        win.push(row)
        assert len(win) == min(i + 1, 4)
        last = np.array(rows[max(0, i - 3): i + 1])
        got = win.rows()
        assert got.shape == last.shape
        # Order does not matter, content does.
        assert sorted(map(tuple, got)) == sorted(map(tuple, last))
        s = win.summary()
        assert s.dtype == np.float32 and s.shape == (6,)
        np.testing.assert_allclose(s[:3], last.mean(axis=0), rtol=1e-6)
        np.testing.assert_allclose(s[3:], last.std(axis=0), rtol=1e-5, atol=1e-6)
        assert win.column_mean(2) == pytest.approx(float(last[:, 2].mean()))
    win.clear()
    assert len(win) == 0 and win.rows().shape == (0, 3)


def test_summarise_and_names():
    rows = np.arange(12, dtype=np.float64).reshape(4, 3)
    np.testing.assert_allclose(summarise(rows), np.concatenate([rows.mean(0), rows.std(0)]))
    assert summarise(np.zeros((0, 3))).shape == (6,)
    assert summary_names(("a", "b")) == ("a_mean", "b_mean", "a_std", "b_std")


# ---------------------------------------------------------------- FlowFeatures


def _texture(h: int, w: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.uniform(0, 255, (h, w)).astype(np.float32), (0, 0), 1.5)
    t = (t - t.mean()) / t.std() * 40 + 128
    return np.clip(t, 0, 255).astype(np.uint8)


def _f(v: np.ndarray, name: str) -> float:
    return float(v[FLOW_FEATURES.index(name)])


def test_flow_translation_is_coherent():
    tex = _texture(H, W + 60)
    flow = FlowFeatures()
    assert np.array_equal(flow.update(np.ascontiguousarray(tex[:, 40:40 + W])), NO_MOTION)  # no previous frame
    out = []
    for t in range(1, 6):
        x0 = 40 - 2 * t  # the window slides left: the content moves right by 2 px a frame
        out.append(flow.update(np.ascontiguousarray(tex[:, x0:x0 + W])))
    for v in out:
        assert v.shape == (len(FLOW_FEATURES),)
        assert _f(v, "flow_coherence") > 0.9
        assert _f(v, "flow_active") > 0.5
        assert 1.0 < _f(v, "flow_active_mag") < 3.0
        assert _f(v, "coh_c8") > 0.9


def test_flow_still_pair_is_no_motion():
    tex = _texture(H, W)
    flow = FlowFeatures()
    flow.update(tex)
    v = flow.update(tex.copy())
    np.testing.assert_array_equal(v[1:], NO_MOTION[1:])
    assert v[0] < 0.1
    assert not NO_MOTION.flags.writeable
    # skip() keeps the frame as the reference and spends nothing.
    assert flow.skip(tex) is NO_MOTION


def test_flow_two_halves_moving_apart_are_less_coherent():
    tex = _texture(H, W + 40)
    flow = FlowFeatures()
    out = []
    for t in range(6):
        img = np.empty((H, W), np.uint8)
        img[:, : W // 2] = tex[:, 20 - t: 20 - t + W // 2]   # left half moves right
        img[:, W // 2:] = tex[:, 20 + W // 2 + t: 20 + W + t]  # right half moves left
        out.append(flow.update(img))
    # Two halves going opposite ways are less coherent overall than a single translation, while
    # each half, cell by cell, still moves as one.
    assert max(_f(v, "flow_coherence") for v in out[1:]) < 0.5
    assert min(_f(v, "coh_c8") for v in out[1:]) > 0.8


class _GivenFlow:
    """Stands in for DIS: returns prepared flow fields, so the statistics can be checked exactly."""

    def __init__(self, flows):
        self.flows = list(flows)

    def calc(self, prev, cur, out):
        return self.flows.pop(0).copy()


def _reference_row(flow: np.ndarray, active_px: float = 0.4) -> np.ndarray:
    """FLOW_FEATURES from their definitions, with explicit masks (slow, plain numpy)."""
    mag = np.hypot(flow[..., 0], flow[..., 1])
    act = mag > active_px
    n = act.sum()
    coh = np.hypot(flow[act, 0].mean(), flow[act, 1].mean()) / (mag[act].mean() + 1e-6)
    cells = []
    h4, w4 = flow.shape[0] // 2 * 2, flow.shape[1] // 2 * 2  # 80-px flow: the 4-px cell is 2 flow pixels
    for k in (2, 4, 8):
        ch, cw = h4 // k, w4 // k
        f = flow[:ch * k, :cw * k] * act[:ch * k, :cw * k, None]
        m = (mag * act)[:ch * k, :cw * k]
        block = lambda a: a.reshape(ch, k, cw, k).mean(axis=(1, 3))  # noqa: E731
        fx, fy, mm, share = block(f[..., 0]), block(f[..., 1]), block(m), block(act[:ch * k, :cw * k].astype(float))
        ok = share > 0.3
        cells += [np.hypot(fx[ok], fy[ok]).sum() / (mm[ok].sum() + 1e-6), ok.mean()] if ok.any() else [1.0, 0.0]
    ma = mag[act]
    return np.array([mag.mean(), n / mag.size, ma.mean(), ma.std() / (ma.mean() + 1e-6), coh, *cells], np.float32)


def test_flow_statistics_match_their_definitions():
    """The fast path (moving pixels zeroed instead of masked, all cell sizes in one pass) computes
    the same statistics as the plain definitions, on fields with a fight's mixed directions."""
    rng = np.random.default_rng(5)
    h, w = 45, 80
    yy, xx = np.mgrid[0:h, 0:w]
    swirl = np.dstack([-(yy - 22) / 6.0, (xx - 40) / 6.0]).astype(np.float32)  # a rotating blob
    swirl[np.hypot(yy - 22, xx - 40) > 15] = 0
    noise = rng.normal(0, 1.0, (h, w, 2)).astype(np.float32) * (rng.random((h, w, 1)) < 0.3)
    flows = [swirl + noise, -swirl + 0.5 * noise, np.roll(swirl, 9, axis=1) + noise]
    ff = FlowFeatures()
    ff._dis = _GivenFlow(flows)  # magnitudes are scaled to the 160-px reference: 2x at 80 px
    frame = np.zeros((h, w), np.uint8)
    ff.update(frame)
    for f in flows:
        np.testing.assert_allclose(ff.update(frame), _reference_row(f * 2.0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("size, target, want", [
    ((640, 360), 160, (160, 90)), ((640, 360), 80, (80, 45)), ((1920, 1080), 160, (160, 90)),
    ((352, 288), 160, (160, 131)), ((100, 60), 160, (100, 60)), ((320, 240), 80, (80, 60)),
])
def test_shrink_size_halves_first(size, target, want):
    assert shrink_size(*size, target) == want


@pytest.mark.parametrize("width, motion_shape", [(80, (45, 80)), (160, (90, 160)), (40, (22, 40))])
def test_flow_at_80_and_tamper_at_160_whatever_the_motion_width(width, motion_shape):
    cfg = Config()
    cfg.motion.width = width
    cfg.motion.flow_every = 1
    ff = FrameFeatures(cfg.motion, 30.0)
    seen = []
    update = ff.flow.update
    ff.flow.update = lambda grey: seen.append(grey.shape) or update(grey)
    rng = np.random.default_rng(0)
    for _ in range(3):
        result, row = ff(rng.integers(0, 256, (360, 640, 3), dtype=np.uint8))
        assert result.mask.shape == motion_shape and row.shape == (len(FRAME_FEATURES),)
        assert ff.tamper_grey.shape == (90, 160)
    assert seen and set(seen) == {(45, 80)}  # calibrating frames get flow: nothing is known yet


# ---------------------------------------------------------------- Decision


def test_decision_cooldown_and_clear():
    d = Decision(EventsConfig(cooldown_s=10.0, clear_s=3.0))
    flag = Flag("crowding", 0.7, bbox=(10, 20, 30, 40), extra={"people": 2})
    ev = d.update([flag], frame=0, time_s=0.0, to_source=2.0)
    assert len(ev) == 1
    e = ev[0]
    assert e.type == "crowding" and e.frame == 0 and e.time_s == 0.0 and e.score == 0.7
    assert e.bbox == [20, 40, 60, 80] and e.extra == {"people": 2} and e.stage == "classical"
    assert d.active() == {"crowding"}
    # Still flagged every second within the cooldown: one incident, one event.
    for t in range(1, 10):
        assert d.update([flag], frame=t, time_s=float(t), to_source=2.0) == []
    # Cooldown over while the condition persists: repeated.
    ev = d.update([flag], frame=10, time_s=10.0, to_source=2.0)
    assert len(ev) == 1 and ev[0].time_s == 10.0
    # Absent for exactly clear_s: the episode is still open.
    assert d.update([], frame=13, time_s=13.0, to_source=2.0) == []
    assert d.active() == {"crowding"}
    # Absent for longer: it closes with an end record (first to last sighting, the peak score).
    (end,) = d.update([], frame=14, time_s=13.5, to_source=2.0)
    assert end.type == "crowding" and not end.is_start and end.frame == 14
    assert end.to_dict()["phase"] == "end" and end.extra["duration_s"] == 10.0 and end.score == 0.7
    assert d.active() == set()
    # A new episode emits at once, even within the old cooldown.
    ev = d.update([flag], frame=15, time_s=14.0, to_source=1.5)
    assert len(ev) == 1 and ev[0].bbox == [15, 30, 45, 60]


def test_decision_types_are_independent_and_bbox_optional():
    d = Decision(EventsConfig(cooldown_s=10.0, clear_s=3.0))
    ev = d.update([Flag("crowding", 0.6), Flag("fight", 0.9, bbox=(1, 1, 3, 3), stage="deep")], 0, 0.0,
                  to_source=1.5, state="occupied")
    assert [e.type for e in ev] == ["crowding", "fight"]
    assert ev[0].bbox is None and ev[1].bbox == [2, 2, 4, 4]  # round(1.5) = 2, round(4.5) = 4 (to even)
    assert ev[1].stage == "deep" and ev[1].state == "occupied" and ev[0].stage == "classical"
    assert d.update([Flag("fight", 0.9)], 1, 1.0, 1.0) == []
    ev = d.update([Flag("left_object", 0.5)], 2, 2.0, 1.0)
    assert [e.type for e in ev] == ["left_object"]
    assert d.active() == {"crowding", "fight", "left_object"}
    ends = d.update([], 3, 4.5, 1.0)  # crowding last seen 0.0 > 3 s ago; fight at 1.0 is 3.5 s ago
    assert d.active() == {"left_object"} and sorted(e.type for e in ends) == ["crowding", "fight"]
    # The footage ends: what is still open closes.
    (end,) = d.finish(4, 5.0)
    assert end.type == "left_object" and end.extra == {"phase": "end", "duration_s": 0.0}


def test_decision_zero_cooldown_emits_every_flag():
    d = Decision(EventsConfig(cooldown_s=0.0, clear_s=3.0))
    assert all(len(d.update([Flag("fight", 0.5)], i, i * 0.1, 1.0)) == 1 for i in range(5))
