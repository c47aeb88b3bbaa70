"""Camera perturbations for `evaluate --perturb`: each one does what it says, harder at each level."""

import cv2
import numpy as np
import pytest

from datasets.perturb import KINDS, LEVELS, apply, describe


def _scene():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(40, 220, (240, 320, 3)).astype(np.uint8), (0, 0), 1.0)
    cv2.rectangle(img, (80, 60), (200, 180), (230, 230, 230), -1)
    return img


def _detail(img):
    return float(np.abs(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_32F)).mean())


def test_each_perturbation_changes_the_frame_more_at_each_level():
    img = _scene()
    for kind in KINDS:
        diffs = [float(np.abs(apply(img, kind, lv, np.random.default_rng(1)).astype(int) - img).mean()) for lv in LEVELS]
        assert 0 < diffs[0] and (diffs[0] <= diffs[1] <= diffs[2] or kind == "shake"), (kind, diffs)
        assert "1:" in describe(kind, 1)
    assert apply(img, "brightness", 3, None).mean() < img.mean() - 50
    assert apply(img, "contrast", 3, None).std() < 0.5 * img.std()
    assert _detail(apply(img, "blur", 3, None)) < 0.5 * _detail(img)
    rng = np.random.default_rng(3)
    shaken = [apply(img, "shake", 3, rng) for _ in range(3)]
    assert not np.array_equal(shaken[0], shaken[1])          # it moves from frame to frame
    with pytest.raises(ValueError):
        apply(img, "rain", 1, rng)
