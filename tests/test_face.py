"""Face visibility: the face check (cascade, crop, descriptor, model), generated coverings, the
model's save and load, the face_covered timeline on synthetic frames, and task face on real images."""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from helpers.files import flip_one_byte

from core.context import FrameContext
from datasets.face_cover import KINDS, cover
from datasets.synthetic_booth import _LOOK_A, _draw_face, booth_scenario
from detectors.face import FaceCheck, FaceConfig, FaceDetector
from features.face_region import DESCRIPTOR_SIZE, FaceDescriber
from features.people import Person
from hw_io.keypad import GuardKeypad
from pipeline.classical import ClassicalStage
from pipeline.config import load_config

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "face_mask")


def _portrait(r: int = 40) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A drawn frontal face on a wall, and the box of its face."""
    img = np.full((5 * r, 4 * r, 3), (185, 190, 195), np.uint8)
    c = (2 * r, int(2.2 * r))
    cv2.ellipse(img, c, (int(0.85 * r), int(1.1 * r)), 0, 0, 360, _LOOK_A.skin, -1, cv2.LINE_AA)
    cv2.ellipse(img, (c[0], c[1] - int(0.55 * r)), (int(0.85 * r), int(0.55 * r)), 0, 180, 360, _LOOK_A.hair, -1)
    cv2.rectangle(img, (int(1.1 * r), int(3.3 * r)), (int(2.9 * r), 5 * r), (110, 60, 40), -1)  # shoulders
    _draw_face(img, c, r, _LOOK_A)
    return cv2.GaussianBlur(img, (0, 0), 1.0), (int(c[0] - 0.85 * r), int(c[1] - 1.1 * r), int(1.7 * r), int(2.2 * r))


def test_the_cascade_finds_a_drawn_face_and_loses_it_under_real_coverings():
    img, box = _portrait()
    check = FaceCheck(None)
    p, found, uncovered = check(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    assert uncovered and found is not None and p == 0.0
    hidden = 0
    for i, kind in enumerate(KINDS):
        covered = cover(img, box, kind, np.random.default_rng(i))
        assert covered.shape == img.shape and covered.dtype == np.uint8
        x, y, w, h = box
        mouth = (slice(y + int(0.7 * h), y + int(0.85 * h)), slice(x + w // 4, x + 3 * w // 4))
        # Every covering hides the mouth.
        assert np.abs(covered[mouth].astype(int) - img[mouth].astype(int)).mean() > 15, kind
        hidden += not check(cv2.cvtColor(covered, cv2.COLOR_BGR2GRAY))[2]
    assert hidden >= len(KINDS) - 1
    # Deterministic for a given generator; an unknown kind is an error, not a silent no-op.
    assert np.array_equal(cover(img, box, "scarf", np.random.default_rng(5)), cover(img, box, "scarf", np.random.default_rng(5)))
    with pytest.raises(ValueError):
        cover(img, box, "veil", np.random.default_rng(0))


def test_descriptor_has_the_declared_size_and_ignores_brightness():
    img, _ = _portrait()
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    d = FaceDescriber()
    x, box = d(grey)
    x2, box2 = d(cv2.convertScaleAbs(grey, alpha=0.7, beta=10))   # a dimmer picture of the same face
    assert x.shape == (DESCRIPTOR_SIZE,) and box is not None and box2 is not None
    assert np.corrcoef(x, x2)[0, 1] > 0.95


def _toy(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    X = rng.normal(0, 1, (n, DESCRIPTOR_SIZE)).astype(np.float32)
    X[:, :20] += 1.5 * y[:, None]
    return X, y, np.arange(n) // 2


def test_the_face_model_saved_through_the_store_scores_as_trained(tmp_path):
    from classifiers import face_store
    from classifiers.face_classifier import FaceClassifier
    from classifiers.face_model import FaceModel
    from core.errors import UserError

    X, y, g = _toy()
    clf = FaceClassifier(folds=3).fit(X, y, g)
    assert 0 < clf.threshold_ < 1 and clf.score(X, y) > 0.9
    card = face_store.save(clf, str(tmp_path), {"n": len(y)})
    model, meta = face_store.load(str(tmp_path))
    assert np.allclose(model.predict_proba(X), clf.predict_proba(X), atol=1e-5)
    assert model.threshold_ == pytest.approx(clf.threshold_) and meta["sha256"] == card["sha256"]
    arrays = clf.to_arrays()
    for key, bad in (("mean", arrays["mean"][:-1]), ("coef", arrays["coef"][:5]), ("scale", 0 * arrays["scale"])):
        with pytest.raises(ValueError):
            FaceModel({**arrays, key: bad}, 0.5)
    flip_one_byte(tmp_path / "face.npz")
    with pytest.raises(UserError, match="face"):
        face_store.load(str(tmp_path))


class _Frame:
    def __init__(self, raw):
        self.raw = raw
        self.image = raw


def _ctx(t, people, raw):
    return FrameContext(0, t, 10.0, None, None, None, SimpleNamespace(calibrating=False), None, 1.0, "unknown",
                        _Frame(raw), people=people)


def test_face_covered_after_timeout_without_an_uncovered_face_and_reset_when_the_visit_ends():
    face, _ = _portrait(20)
    blank = np.full_like(face, 128)
    det = FaceDetector(FaceConfig(timeout_s=3.0, update_hz=5.0, absent_s=1.0), 10.0)
    person = [Person(1, (0, 0, face.shape[1], int(face.shape[0] / 0.45) + 1), 0.0, 0.0)]
    raised = []
    # 0-2 s the face shows; from 2 s the same person's face is hidden (a blank where it was).
    for k in range(80):
        t = k / 10
        raw = face if t < 2.0 else blank
        if det.detect(_ctx(t, person, raw)):
            raised.append(t)
    assert raised and 2.0 + 3.0 - 0.25 <= raised[0] <= 2.0 + 3.0 + 0.25
    assert raised == [t for t in np.arange(raised[0], 8.0, 0.1).round(1).tolist()]  # held while it lasts
    # Nobody for absent_s: the visit ends; a new visitor gets a fresh timeout.
    for k in range(80, 95):
        det.detect(_ctx(k / 10, [], blank))
    assert all(not det.detect(_ctx(k / 10, person, blank)) for k in range(95, 95 + 25))
    assert det.detect(_ctx(12.5, person, blank))


def test_face_covered_timeline_on_the_synthetic_booth():
    sc = booth_scenario(640, 480)
    stage = ClassicalStage(load_config(), sc.fps)
    m_in, _ = sc.phase("m_enters")
    _, m_gone = sc.phase("m_gone")
    a_in, a_end = sc.phase("a_enters")[0], sc.phase("a_at_atm")[1]
    flagged, present = [], []
    for i in [*range(m_gone + 1), *range(a_in, a_end + 1)]:
        r = stage.process(sc.frame(i), i, i / sc.fps)
        if r.ctx.people:
            present.append(i)
        if any(f.type == "face_covered" for f in r.flags):
            flagged.append(i)
    m_first = next(i for i in present if i >= m_in)
    timeout = stage.detector("face").cfg.timeout_s
    masked = [i for i in flagged if i <= m_gone]
    assert masked, "the masked visitor must raise face_covered"
    assert timeout <= (masked[0] - m_first) / sc.fps <= timeout + 0.5
    assert not [i for i in flagged if i >= a_in], "customer A shows a face: no face_covered"
    assert stage.detector("face").checks > 0


def test_guard_keypad_types_the_code_it_was_texted_once():
    inbox = ["ATM-0001 door locked, code 111111, valid 120 s", "ATM-0001 door locked, code 481516, valid 120 s"]
    pad = GuardKeypad(lambda: inbox, poll_s=0.01)
    assert pad.read_code(timeout_s=0.1) == "481516"
    assert pad.read_code(timeout_s=0.05) is None          # the same code is not typed twice, nor an older one
    inbox.append("ATM-0001 door locked, code 2342, valid 120 s")
    assert pad.read_code(timeout_s=0.1) == "2342"


@pytest.mark.skipif(not os.path.isdir(os.path.join(DATA, "train")), reason="../shared/data/face_mask not present")
def test_task_face_trained_on_part_of_train_scores_val(tmp_path):
    """A third of the training images (time), evaluated through the contract's files on val."""
    from pipeline.config import Config
    from tasks.face import evaluate, train

    src = os.path.join(DATA, "train")
    part = tmp_path / "part"
    part.mkdir()
    lines = open(os.path.join(src, "labels.csv"), encoding="utf-8").read().splitlines()
    (part / "labels.csv").write_text("\n".join([lines[0], *lines[1::3]]) + "\n", encoding="utf-8")
    for sub in ("with_mask", "without_mask"):
        os.symlink(os.path.join(os.path.abspath(src), sub), part / sub)
    card = train(str(part), str(tmp_path / "m"), Config())
    assert card["training"]["n"] > card["training"]["n_images"]          # generated coverings were added
    metrics = evaluate(os.path.join(DATA, "val"), str(tmp_path / "m"), str(tmp_path / "out"), Config())
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["n"] == 142 and saved["threshold"] == pytest.approx(card["threshold"])
    assert metrics["accuracy"] >= 0.93 and metrics["accuracy"] > metrics["accuracy_face_found_alone"] + 0.1
    assert (tmp_path / "out" / "roc.png").is_file()
    rows = (tmp_path / "out" / "predictions.csv").read_text().splitlines()
    assert len(rows) == 143 and rows[0].startswith("path,label,score,predicted")
