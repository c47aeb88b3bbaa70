"""Static foreground (dual backgrounds) and blob descriptors on synthetic frames: the first step of
the left-object detector."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from features.blob_descriptors import DESCRIPTOR_NAMES, describe
from features.static_foreground import StaticForeground, StaticForegroundConfig

W, H, FPS = 80, 60, 10.0


def _wall(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.uniform(60, 120, (H, W)).astype(np.float32), (0, 0), 1.5)


def _frame(wall, boxes, rng) -> np.ndarray:
    img = wall + rng.normal(0, 1.5, wall.shape)
    for (x, y, w, h, level) in boxes:
        img[y:y + h, x:x + w] = level
    return np.clip(img, 0, 255).astype(np.uint8)


def _static_over(sf, frames):
    return [sf.update(f) for f in frames]


def test_a_bag_left_by_someone_who_walks_on_becomes_static_and_goes_when_picked_up():
    wall, rng = _wall(), np.random.default_rng(1)
    sf = StaticForeground(StaticForegroundConfig(after_s=2.0), FPS)
    bag = (30, 40, 8, 8, 210)
    frames = [_frame(wall, [], rng) for _ in range(20)]                                   # empty scene
    # A person walks in carrying the bag, puts it down at frame 40 and walks away.
    for i in range(40):
        frames.append(_frame(wall, [(2 + i, 20, 10, 30, 20), (4 + i, 40, 8, 8, 210)], rng))
    for i in range(30):
        frames.append(_frame(wall, [bag, (42 + 2 * i, 20, 10, 30, 20)] if 42 + 2 * i < W else [bag], rng))
    for _ in range(40):
        frames.append(_frame(wall, [bag], rng))                                          # the bag stays
    picked = len(frames)
    frames += [_frame(wall, [], rng) for _ in range(30)]                                 # picked up
    blobs = _static_over(sf, frames)
    # Nothing static while the person walks, nor in the first seconds after the bag is put down.
    assert not any(blobs[:60 + int(1.5 * FPS)])
    found = [b for b in blobs[60:picked] if b]
    assert found, "the bag never became static"
    box = found[-1][0]
    assert abs(box.x - 30) <= 2 and abs(box.y - 40) <= 2 and abs(box.w - 8) <= 3 and abs(box.h - 8) <= 3
    assert all(len(b) == 1 for b in found)                                               # the bag alone
    assert not any(blobs[picked + 10:]), "still static after it was picked up"


def test_a_person_who_keeps_moving_is_never_static():
    wall, rng = _wall(2), np.random.default_rng(3)
    sf = StaticForeground(StaticForegroundConfig(after_s=2.0), FPS)
    frames = [_frame(wall, [], rng) for _ in range(10)]
    for i in range(120):
        x = int(35 + 25 * np.sin(i / 6.0))        # pacing to and fro in front of the machine
        frames.append(_frame(wall, [(x, 15, 10, 35, 30)], rng))
    assert not any(_static_over(sf, frames))


def test_a_lighting_reset_forgets_everything():
    wall, rng = _wall(4), np.random.default_rng(5)
    sf = StaticForeground(StaticForegroundConfig(after_s=1.0), FPS)
    frames = [_frame(wall, [], rng) for _ in range(10)] + [_frame(wall, [(20, 20, 10, 10, 220)], rng)] * 40
    assert _static_over(sf, frames)[-1]
    sf.reset()
    assert sf.update(frames[-1]) == [] and not sf.update(frames[-1])


def _mask(shape_fn, scale=1) -> np.ndarray:
    m = np.zeros((60 * scale, 80 * scale), np.uint8)
    shape_fn(m, scale)
    return m


@pytest.mark.parametrize("scale", [1, 2])
def test_descriptors_of_known_shapes(scale):
    grey = np.full((60 * scale, 80 * scale), 100, np.uint8)
    rect = _mask(lambda m, s: cv2.rectangle(m, (10 * s, 20 * s), (30 * s - 1, 30 * s - 1), 255, -1), scale)
    d = dict(zip(DESCRIPTOR_NAMES, describe(rect, grey, (10 * scale, 20 * scale, 20 * scale, 10 * scale))))
    assert d["extent"] == pytest.approx(1.0) and d["solidity"] == pytest.approx(1.0, abs=0.02)
    assert d["aspect"] == pytest.approx(2.0) and d["w_frac"] == pytest.approx(0.25)
    assert d["bottom_frac"] == pytest.approx(0.5) and d["area_frac"] == pytest.approx(200 / 4800)

    disc = _mask(lambda m, s: cv2.circle(m, (40 * s, 30 * s), 12 * s, 255, -1), scale)
    d = dict(zip(DESCRIPTOR_NAMES, describe(disc, grey, cv2.boundingRect(disc))))
    assert d["extent"] == pytest.approx(np.pi / 4, abs=0.1) and d["solidity"] > 0.95   # a pixelated disc

    ell = _mask(lambda m, s: (cv2.rectangle(m, (10 * s, 10 * s), (19 * s, 49 * s), 255, -1),
                              cv2.rectangle(m, (10 * s, 40 * s), (49 * s, 49 * s), 255, -1)), scale)
    d = dict(zip(DESCRIPTOR_NAMES, describe(ell, grey, cv2.boundingRect(ell))))
    assert d["solidity"] < 0.75 and d["extent"] < 0.5


def test_the_gradient_histogram_sees_the_patchs_edges():
    grey = np.full((60, 80), 50, np.uint8)
    grey[:, 40:] = 200                                  # one vertical edge through the blob
    mask = np.zeros((60, 80), np.uint8)
    mask[20:40, 30:50] = 255
    d = dict(zip(DESCRIPTOR_NAMES, describe(mask, grey, (30, 20, 20, 20))))
    hist = np.array([d[f"grad{i}"] for i in range(9)])
    assert hist.sum() == pytest.approx(1.0) and int(np.argmax(hist)) == 0   # horizontal gradient: 0 degrees


def test_aboda_the_bag_is_static_foreground_from_soon_after_it_is_put_down_to_the_end():
    """../shared/data/aboda/video4.avi through the cheap stage's 160-px grey: nothing static before the
    bag is put down (about frame 420); from about 3 s later to the end, a static blob overlaps the
    bag (x 450-502, y 365-415 in source pixels), also after its owner left (about frame 600)."""
    from conftest import shared
    from features.frame_features import FrameFeatures
    from pipeline.config import Config
    from sources.frame_source import FrameSource

    path = shared("aboda", "video4.avi")
    with FrameSource(path, reconnect=False) as src:
        ff = FrameFeatures(Config().motion, src.fps)
        sf = StaticForeground(StaticForegroundConfig(after_s=3.0), src.fps)
        per_frame = []
        for frame in src:
            ff.prepare(frame.raw)
            scale = frame.raw.shape[1] / ff.tamper_grey.shape[1]
            per_frame.append([tuple(v * scale for v in b.bbox) for b in sf.update(ff.tamper_grey)])

    def on_bag(box) -> bool:
        x, y, w, h = box
        ix = max(0.0, min(x + w, 502) - max(x, 450))
        iy = max(0.0, min(y + h, 415) - max(y, 365))
        return ix * iy >= 0.3 * 52 * 50

    assert not any(per_frame[:440])
    assert all(any(on_bag(b) for b in boxes) for boxes in per_frame[520:])
