"""Preprocessing chain checked against small matrices worked out by hand."""

import cv2
import numpy as np
import pytest

from features.preprocess import (
    GlobalThreshold,
    ZeroPaddedMedian,
    binarize,
    highpass_sharpen,
    iterative_threshold,
    median3_zero,
    otsu_threshold,
    sharpened,
    sharpness,
    to_grey,
)

U8 = np.uint8


# ---------------------------------------------------------------- to_grey


def test_to_grey_opencv_weights():
    # BGR pixels: pure red (0,0,255) and pure green (0,255,0).
    #   red:   0.299 * 255 = 76.245 -> 76
    #   green: 0.587 * 255 = 149.685 -> 150
    frame = np.array([[[0, 0, 255], [0, 255, 0]]], dtype=U8)
    grey = to_grey(frame)
    assert grey.dtype == U8 and grey.shape == (1, 2)
    np.testing.assert_array_equal(grey, np.array([[76, 150]], dtype=U8))
    # (B,G,R) = (100,150,200): 0.114*100 + 0.587*150 + 0.299*200 = 11.4 + 88.05 + 59.8 = 159.25 -> 159
    assert to_grey(np.array([[[100, 150, 200]]], dtype=U8))[0, 0] == 159


def test_to_grey_2d_is_returned_as_is():
    img = np.arange(6, dtype=U8).reshape(2, 3)
    assert to_grey(img) is img


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((2, 2, 4), U8),  # BGRA
        np.zeros((2, 2, 1), U8),
        np.zeros(5, U8),
        np.zeros((2, 2, 3), np.float32),
        np.zeros((2, 2), np.uint16),
    ],
)
def test_to_grey_rejects_other_shapes_and_dtypes(bad):
    with pytest.raises(ValueError):
        to_grey(bad)


# ---------------------------------------------------------------- median3_zero

M4 = np.array(
    [
        [50, 60, 70, 80],
        [90, 100, 110, 120],
        [130, 140, 150, 160],
        [170, 180, 190, 200],
    ],
    dtype=U8,
)


def test_median3_zero_4x4_by_hand():
    # (0,0): window {0,0,0, 0,50,60, 0,90,100} -> sorted 0,0,0,0,0,50,60,90,100 -> 0
    # (0,1): window {0,0,0, 50,60,70, 90,100,110} -> 5th of 9 sorted is 60
    # (3,1): window {130,140,150, 170,180,190, 0,0,0} -> 0,0,0,130,140,150,... -> 140
    # (1,1): interior, {50,60,70,90,100,110,130,140,150} -> 100
    expected = np.array(
        [
            [0, 60, 70, 0],
            [60, 100, 110, 80],
            [100, 140, 150, 120],
            [0, 140, 150, 0],
        ],
        dtype=U8,
    )
    out = median3_zero(M4)
    assert out.dtype == U8 and out.shape == M4.shape
    np.testing.assert_array_equal(out, expected)


def test_median3_zero_differs_from_replicate_only_at_border():
    out = median3_zero(M4)
    rep = cv2.medianBlur(M4, 3)
    # Replicated corner (0,0): {50,50,60, 50,50,60, 90,90,100} -> 60; zero padding pulls it to 0.
    assert rep[0, 0] == 60
    assert out[0, 0] == 0 < rep[0, 0]
    assert not np.array_equal(out[0, :], rep[0, :])
    np.testing.assert_array_equal(out[1:-1, 1:-1], rep[1:-1, 1:-1])


def test_median3_zero_flat_3x3():
    # All 9s: a corner sees 4 nines and 5 zeros -> 0; an edge sees 6 nines, 3 zeros -> 9.
    img = np.full((3, 3), 9, U8)
    expected = np.array([[0, 9, 0], [9, 9, 9], [0, 9, 0]], dtype=U8)
    np.testing.assert_array_equal(median3_zero(img), expected)
    np.testing.assert_array_equal(cv2.medianBlur(img, 3), img)  # replicate keeps the corners


def test_median3_zero_matches_numpy_reference_on_random_image():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(9, 16), dtype=U8)
    win = np.lib.stride_tricks.sliding_window_view(np.pad(img, 1), (3, 3))
    ref = np.median(win.reshape(*img.shape, 9), axis=-1).astype(U8)  # median of 9 ints is an int
    np.testing.assert_array_equal(median3_zero(img), ref)


def test_zero_padded_median_reuses_buffers_and_matches_median3_zero():
    rng = np.random.default_rng(1)
    med = ZeroPaddedMedian()
    a, b = (rng.integers(0, 256, size=(9, 16), dtype=U8) for _ in range(2))
    out_a = med(a)
    np.testing.assert_array_equal(out_a, median3_zero(a))
    kept = out_a.copy()
    out_b = med(b)
    np.testing.assert_array_equal(out_b, median3_zero(b))
    assert np.shares_memory(out_a, out_b)  # the stream's buffer: the earlier result is overwritten
    assert not np.array_equal(out_a, kept)
    c = rng.integers(0, 256, size=(5, 7), dtype=U8)  # a new size gets new buffers, zero ring included
    np.testing.assert_array_equal(med(c), median3_zero(c))
    with pytest.raises(ValueError):
        ZeroPaddedMedian()(np.zeros((4, 4), np.float32))


# ---------------------------------------------------------------- Otsu


def test_otsu_bimodal_separates_modes():
    img = np.array([10] * 12 + [200] * 4, dtype=U8).reshape(4, 4)
    t = otsu_threshold(img)
    assert 10 <= t < 200
    np.testing.assert_array_equal(binarize(img, t), np.where(img == 200, 255, 0).astype(U8))


def test_otsu_three_levels_hand_optimum():
    # 6 x 10, 6 x 50, 4 x 200 (16 pixels). Between-class variance w0 * w1 * (m0 - m1)^2:
    #   split {10} | {50,200}:   w0 = 6/16, m0 = 10, w1 = 10/16, m1 = (300 + 800)/10 = 110
    #                            -> 0.375 * 0.625 * 100^2 = 2343.75
    #   split {10,50} | {200}:   w0 = 12/16, m0 = 30, w1 = 4/16, m1 = 200
    #                            -> 0.75 * 0.25 * 170^2 = 5418.75   (maximum)
    # so T is the top of the lower class: T = 50, and only the 200s are foreground.
    img = np.array([10] * 6 + [50] * 6 + [200] * 4, dtype=U8).reshape(4, 4)
    assert otsu_threshold(img) == 50.0


def test_otsu_constant_image_has_no_foreground():
    img = np.full((3, 4), 7, U8)
    t = otsu_threshold(img)
    assert t == 7.0
    assert not binarize(img, t).any()


# ---------------------------------------------------------------- iterative threshold

# Eight 0s, one 60, one 200 (2x5). Hand iterations (G1 = values > T, G2 = values <= T):
#   T0 = mean = 260 / 10 = 26
#   G1 = {60, 200} -> 130;  G2 = {0 x 8} -> 0;           T1 = 65        (change 39)
#   G1 = {200} -> 200;      G2 = {0 x 8, 60} -> 60/9;    T2 = (200 + 20/3)/2 = 310/3 = 103.33 (change 38.33)
#   same split again                                     T3 = 310/3     (change 0) -> stop
ITER = np.array([[0, 0, 0, 0, 0], [0, 0, 0, 60, 200]], dtype=U8)


def test_iterative_threshold_hand_example():
    assert iterative_threshold(ITER) == pytest.approx(310 / 3)


def test_iterative_threshold_tol_respected():
    # First change is 39 < 40, so it stops at T1.
    assert iterative_threshold(ITER, tol=40) == pytest.approx(65.0)
    # First change 39 >= 38.5; second change 38.33 < 38.5 -> stops at T2.
    assert iterative_threshold(ITER, tol=38.5) == pytest.approx(310 / 3)
    assert iterative_threshold(ITER, max_iter=1) == pytest.approx(65.0)


def test_iterative_threshold_t0():
    # From t0 = 150: G1 = {200}, G2 = {0 x 8, 60} -> T1 = 310/3 in one step (from the mean it would be 65).
    assert iterative_threshold(ITER, tol=100, t0=150) == pytest.approx(310 / 3)
    assert iterative_threshold(ITER, tol=100) == pytest.approx(65.0)
    # t0 above the maximum leaves G1 empty: restart from the mean, same final answer.
    assert iterative_threshold(ITER, t0=250) == pytest.approx(310 / 3)


def test_iterative_threshold_constant_image_returns_mean():
    img = np.full((4, 4), 42, U8)
    assert iterative_threshold(img) == pytest.approx(42.0)
    assert iterative_threshold(img, t0=10) == pytest.approx(42.0)
    assert not binarize(img, iterative_threshold(img)).any()


def test_iterative_threshold_rejects_bad_input():
    with pytest.raises(ValueError):
        iterative_threshold(ITER.astype(np.float32))
    with pytest.raises(ValueError):
        iterative_threshold(ITER, tol=-1)


# ---------------------------------------------------------------- binarize


@pytest.mark.parametrize("t", [-3, -0.5, 0, 0.5, 9.99, 10, 10.5, 254.5, 255, 300])
def test_binarize_is_strictly_greater_than(t):
    img = np.arange(256, dtype=U8).reshape(16, 16)
    expected = np.where(img > t, 255, 0).astype(U8)
    np.testing.assert_array_equal(binarize(img, t), expected)


def test_binarize_small():
    img = np.array([[10, 11], [12, 200]], dtype=U8)
    np.testing.assert_array_equal(binarize(img, 11), np.array([[0, 0], [255, 255]], U8))
    np.testing.assert_array_equal(binarize(img, 10.5), np.array([[0, 255], [255, 255]], U8))


# ---------------------------------------------------------------- GlobalThreshold

SCENE = np.array([[10, 20, 30], [100, 150, 200], [10, 20, 250]], dtype=U8)


def test_global_threshold_fixed_and_set_fixed_at_run_time():
    gt = GlobalThreshold("fixed", value=100)
    mask, t = gt.apply(SCENE)
    assert t == 100.0
    np.testing.assert_array_equal(mask, np.array([[0, 0, 0], [0, 255, 255], [0, 0, 255]], U8))
    gt.set_fixed(15)
    mask, t = gt.apply(SCENE)
    assert t == 15.0 and gt.method == "fixed"
    np.testing.assert_array_equal(mask, np.array([[0, 255, 255], [255, 255, 255], [0, 255, 255]], U8))


def test_global_threshold_methods_and_switch():
    img = np.array([10] * 6 + [50] * 6 + [200] * 4, dtype=U8).reshape(4, 4)
    gt = GlobalThreshold()
    assert gt.threshold(img) == 50.0  # Otsu, see the hand computation above
    gt.set_method("iterative")
    assert gt.threshold(ITER) == pytest.approx(310 / 3)
    gt.set_fixed(30)
    gt.set_method("otsu")
    assert gt.threshold(img) == 50.0
    gt.set_method("fixed")  # value 30 is remembered
    assert gt.threshold(img) == 30.0


def test_global_threshold_floor():
    img = np.array([10] * 12 + [200] * 4, dtype=U8).reshape(4, 4)
    assert GlobalThreshold("otsu", floor=0).threshold(img) < 200
    gt = GlobalThreshold("otsu", floor=220)
    mask, t = gt.apply(img)
    assert t == 220.0 and not mask.any()
    # An operator's fixed value is taken as given, even below the floor.
    assert GlobalThreshold("fixed", value=5, floor=60).threshold(img) == 5.0


def test_global_threshold_ceiling():
    img = np.array([[10, 10, 200, 200]], np.uint8)
    # Otsu alone would split between 10 and 200 at 10; a floor of 50 and ceiling of 80 keep it at 50.
    assert GlobalThreshold("otsu", floor=50, ceiling=80).threshold(img) == 50.0
    hi = np.array([[100, 100, 250, 250]], np.uint8)
    assert GlobalThreshold("otsu", ceiling=80).threshold(hi) == 80.0
    with pytest.raises(ValueError):
        GlobalThreshold("otsu", floor=90, ceiling=80)
    assert GlobalThreshold("iterative", floor=250).threshold(ITER) == 250.0


@pytest.mark.parametrize("floor, ceiling", [(0, 255), (15, 255), (0, 40), (120, 130)])
def test_global_threshold_apply_is_threshold_then_binarize(floor, ceiling):
    """apply() takes Otsu's own mask when the clamp leaves T alone: it must equal the two-step path."""
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, size=(12, 20), dtype=U8), np.full((4, 4), 7, U8),
              np.array([[10, 10, 200, 200]], U8), cv2.GaussianBlur(rng.integers(0, 60, (30, 40), dtype=U8), (5, 5), 0)]
    for method in ("otsu", "iterative"):
        gt = GlobalThreshold(method, floor=floor, ceiling=ceiling)
        for img in images:
            mask, t = gt.apply(img)
            assert t == gt.threshold(img)
            np.testing.assert_array_equal(mask, binarize(img, t))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(method="adaptive"),
        dict(method="fixed"),
        dict(method="fixed", value=256),
        dict(method="fixed", value=-1),
        dict(method="otsu", value=float("nan")),
        dict(method="otsu", floor=300),
        dict(method="otsu", tol=-0.1),
    ],
)
def test_global_threshold_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        GlobalThreshold(**kwargs)


def test_global_threshold_bad_run_time_changes():
    gt = GlobalThreshold("otsu")
    with pytest.raises(ValueError, match="unknown"):
        gt.set_method("mean")
    with pytest.raises(ValueError, match="fixed"):
        gt.set_method("fixed")  # no value set yet
    with pytest.raises(ValueError):
        gt.set_fixed(1000)
    assert gt.method == "otsu"  # failed changes leave it as it was
    with pytest.raises(ValueError):
        gt.threshold(np.zeros((2, 2, 3), U8))


# ---------------------------------------------------------------- high-pass sharpening


def test_highpass_sharpen_3x3_ramp_with_replicated_border():
    img = np.array([[10, 20, 30], [40, 50, 60], [70, 80, 90]], dtype=U8)
    # S = 9 * centre - (3x3 sum), border replicated:
    # (0,0): padded window [[10,10,20],[10,10,20],[40,40,50]] sum 210 -> S = 90 - 210 = -120 -> -13.3 -> 0
    # (2,2): padded window [[50,60,60],[80,90,90],[80,90,90]] sum 690 -> S = 810 - 690 = 120 -> 13.3 -> 13
    # (1,2): window [[20,30,30],[50,60,60],[80,90,90]] sum 510 -> S = 540 - 510 = 30 -> 3.33 -> 3
    # (1,1): linear ramp, S = 0.   Full S: [[-120,-90,-60],[-30,0,30],[60,90,120]]
    expected = np.array([[0, 0, 0], [0, 0, 3], [6, 10, 13]], dtype=U8)
    out = highpass_sharpen(img)
    assert out.dtype == U8
    np.testing.assert_array_equal(out, expected)


def test_highpass_sharpen_4x4_spots():
    img = np.array(
        [
            [0, 0, 0, 0],
            [0, 90, 90, 0],
            [0, 90, 0, 0],
            [0, 0, 0, 200],
        ],
        dtype=U8,
    )
    # (1,1): 8*90 - (90 + 90) = 540 -> 60
    # (3,3): corner, replicated neighbours 200 (right), 200 (below), 200 (diagonal), rest 0:
    #        8*200 - 600 = 1000 -> 111.1 -> 111 (toward zero)
    # (2,2): 8*0 - (90+90+90+200) = -470 -> clamped to 0
    expected = np.array(
        [
            [0, 0, 0, 0],
            [0, 60, 60, 0],
            [0, 60, 0, 0],
            [0, 0, 0, 111],
        ],
        dtype=U8,
    )
    np.testing.assert_array_equal(highpass_sharpen(img), expected)
    # Adding it back: 90 + 60 = 150, 200 + 111 = 311 -> 255.
    np.testing.assert_array_equal(
        sharpened(img),
        np.array([[0, 0, 0, 0], [0, 150, 150, 0], [0, 150, 0, 0], [0, 0, 0, 255]], U8),
    )


def test_highpass_flat_image_is_zero_and_sharpened_is_identity():
    img = np.full((5, 5), 123, U8)
    assert not highpass_sharpen(img).any()
    np.testing.assert_array_equal(sharpened(img), img)
    np.testing.assert_array_equal(sharpened(img, signed=True), img)


def test_sharpened_signed_darkens_the_dark_side():
    img = np.array([[10, 20, 30], [40, 50, 60], [70, 80, 90]], dtype=U8)
    # signed trunc(S/9): [[-13,-10,-6],[-3,0,3],[6,10,13]]
    np.testing.assert_array_equal(sharpened(img), np.array([[10, 20, 30], [40, 50, 63], [76, 90, 103]], U8))
    np.testing.assert_array_equal(
        sharpened(img, signed=True), np.array([[0, 10, 24], [37, 50, 63], [76, 90, 103]], U8)
    )


# ---------------------------------------------------------------- sharpness


def test_sharpness_flat_zero_and_blur_lowers_it():
    assert sharpness(np.full((8, 8), 77, U8)) == 0.0
    checker = ((np.indices((16, 16)).sum(axis=0) % 2) * 255).astype(U8)
    blurred = cv2.GaussianBlur(checker, (5, 5), 1.5)
    assert sharpness(checker) > sharpness(blurred) > 0.0
