"""Task `weapon`: person boxes labelled from YOLO files (boxes and polygons), the crop, the stage-2
refiner's persistence rule, the classifier saved and exported through the store with its checks, and
train/evaluate per person box from the command line."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from helpers.files import flip_one_byte
from helpers.kiosk import kiosk_modules

from core.detector import Flag
from core.errors import UserError
from core.events import event_spec
from datasets.weapon_boxes import labelled_people, read_boxes
from features.person_crop import SHAPE, crop_input, widened
from pipeline.refiners.weapon import WeaponConfig, WeaponRefiner

ROOT = str(__import__("pathlib").Path(__file__).resolve().parents[1])


def test_boxes_and_polygons_are_read_and_a_person_is_armed_when_a_weapon_lies_mostly_inside(tmp_path):
    f = tmp_path / "b.txt"
    f.write_text("0 0.25 0.5 0.3 0.8\n"                 # person A: x 0.10-0.40
                 "0 0.75 0.5 0.3 0.8\n"                 # person B: x 0.60-0.90
                 "1 0.35 0.5 0.1 0.1\n"                 # weapon x 0.30-0.40: all inside A
                 "1 0.60 0.5 0.1 0.1\n"                 # weapon x 0.55-0.65: half inside B, not over half
                 "0 0.1 0.1 0.2 0.1 0.2 0.3 0.1 0.3\n"  # person C as a polygon: x 0.1-0.2, y 0.1-0.3
                 "1 0.12 0.12 0.18 0.12 0.18 0.2\n"     # weapon polygon inside C
                 "\n")
    boxes = read_boxes(str(f))
    assert len(boxes) == 6
    people = labelled_people(boxes)
    assert [armed for _, armed in people] == [True, False, True]
    c = people[2][0]
    assert (c.x0, c.y0, c.x1, c.y1) == pytest.approx((0.1, 0.1, 0.2, 0.3))
    assert c.pixels(100, 200) == (10, 20, 10, 40)


@pytest.mark.parametrize("line, message", [("0 0.5 0.5 0.2", "4 numbers|numbers"), ("2 0.5 0.5 0.2 0.2", "class 2"),
                                           ("0 a b c d", "expected"), ("0 0.5 0.5 0 0.2", "empty box")])
def test_a_malformed_boxes_line_is_one_clear_error(tmp_path, line, message):
    f = tmp_path / "b.txt"
    f.write_text("0 0.5 0.5 0.2 0.2\n" + line + "\n")
    with pytest.raises(UserError, match=rf"b.txt:2: .*({message})"):
        read_boxes(str(f))


def test_the_crop_is_the_widened_box_squeezed_to_the_classifiers_input_with_the_box_marked():
    grey = np.zeros((200, 300), np.uint8)
    grey[50:150, 100:150] = 200
    assert widened((100, 50, 50, 100), 300, 200) == (80, 10, 170, 190)
    x = crop_input(grey, (100, 50, 50, 100))
    assert x.shape == SHAPE and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1.0
    picture, box = x[..., 0], x[..., 1]
    assert set(np.unique(box)) == {0.0, 1.0}
    # The box channel is where the person is in the picture channel (the view around them is dark).
    assert picture[box == 1].mean() > 0.7 and picture[box == 0].mean() < 0.05
    # Cut at the picture's edge, the box keeps its place in what was cut.
    edge = crop_input(grey, (0, 50, 50, 100))[..., 1]
    assert edge[:, 0].any() and not edge[:, -1].any()
    assert crop_input(grey, (299, 199, 1, 1)) is None


def test_the_crop_is_cleared_of_salt_and_pepper_before_it_is_squeezed():
    # In the development set the speckled images are more often armed: the classifier must not see
    # the speckle, so the crop (kiosk, training and evaluation alike) is despeckled at the camera's
    # resolution. Dots kept there would survive squeezing as a grainy picture.
    rng = np.random.default_rng(0)
    grey = np.full((240, 320), 120, np.uint8)
    dots = rng.random(grey.shape)
    grey[dots < 0.03], grey[dots > 0.97] = 0, 255
    picture = crop_input(grey, (120, 60, 40, 120))[..., 0]
    assert np.abs(picture - 120 / 255).max() < 0.02
    # An edge is kept: a median removes specks, not the outline of something held.
    grey[:, 160:] = 30
    picture = crop_input(grey, (120, 60, 40, 120))[..., 0]
    assert picture[:, :40].mean() > 0.4 and picture[:, -10:].mean() < 0.15


class _Armed:
    """A stand-in weapon model: P(armed) by call order."""

    threshold_ = 0.5

    def __init__(self, ps):
        self.ps = iter(ps)
        self.runner = SimpleNamespace(precision="float")

    def predict_proba(self, x):
        assert x.shape == SHAPE
        p = next(self.ps)
        return np.array([1 - p, p], np.float32)


def _ctx(t, people):
    raw = np.full((240, 320, 3), 90, np.uint8)
    frame = SimpleNamespace(raw=raw)
    ctx = SimpleNamespace(time_s=t, people=people, to_source=2.0, motion=SimpleNamespace(mask=np.zeros((120, 160))),
                          frame=frame)
    from core.context import FrameContext

    ctx.source_crop = lambda box: FrameContext.source_crop(ctx, box)
    return ctx


def _person(pid, box=(40, 20, 30, 60)):
    return SimpleNamespace(id=pid, box=box)


def test_weapon_needs_one_person_armed_on_several_scored_frames_within_the_window():
    ref = WeaponRefiner(WeaponConfig(persist_frames=3, window_s=1.0), _Armed([0.9, 0.2, 0.8, 0.7, 0.9, 0.9, 0.9]))
    got = []
    for t in (0.0, 0.2, 0.4, 0.6, 3.0, 3.2, 3.4):
        got.append([f for f in ref.refine(_ctx(t, [_person(7)]), [Flag("fight", 0.9)]) if f.type == "weapon"])
    # Armed at 0.0, 0.4, 0.6 (0.2 was not): the third armed frame within a second raises it; after a
    # gap the count starts again.
    assert [bool(g) for g in got] == [False, False, False, True, False, False, True]
    flag = got[3][0]
    assert flag.stage == "deep" and flag.bbox == (40, 20, 30, 60) and flag.extra["person_id"] == 7
    assert ref.model_calls == 7 and event_spec("weapon").severity == "attack"


def test_weapon_scores_nobody_on_an_empty_frame_and_skips_people_too_small_to_judge():
    ref = WeaponRefiner(WeaponConfig(min_person_px=48), _Armed([0.9]))
    assert ref.refine(_ctx(0.0, []), []) == [] and ref.model_calls == 0
    tiny = _person(1, box=(10, 10, 8, 20))          # 20 motion px = 40 source px: under 48
    assert ref.refine(_ctx(0.0, [tiny]), []) == [] and ref.model_calls == 0
    # Two people armed on alternate frames never add up to one armed person.
    ref2 = WeaponRefiner(WeaponConfig(persist_frames=2, max_people=1), _Armed([0.9, 0.9, 0.9]))
    seq = [[_person(1, (0, 0, 40, 60))], [_person(2, (60, 0, 40, 60))], [_person(1, (0, 0, 40, 60))]]
    raised = [any(f.type == "weapon" for f in ref2.refine(_ctx(t, p), [])) for t, p in zip((0.0, 0.1, 0.2), seq)]
    assert raised == [False, False, True]
    assert WeaponRefiner.build(WeaponConfig(enabled=True), {}) is None
    # Off by default (it still raises attack alarms on unarmed people); a site switches it on.
    assert WeaponRefiner.build(WeaponConfig(), {"weapon_lite": _Armed([])}) is None
    assert WeaponRefiner.build(WeaponConfig(enabled=True), {"weapon_lite": _Armed([])}) is not None


def test_the_auc_among_people_of_one_size_discounts_what_size_alone_gives_away():
    from classifiers.metrics import auc_by_stratum

    rng = np.random.default_rng(0)
    size = rng.uniform(0.01, 0.3, 600)
    # Armed people photographed bigger: the label goes with the size third, not with anything else.
    third = np.digitize(size, np.quantile(size, [1 / 3, 2 / 3]))
    y = (rng.random(600) < np.array([0.1, 0.4, 0.8])[third]).astype(int)
    by_size = auc_by_stratum(y, size, size)
    assert by_size["auc_of_it_alone"] > 0.75 and by_size["n"] == [200, 200, 200]
    assert by_size["positive_share"][0] < by_size["positive_share"][2]
    assert all(abs(a - 0.5) < 0.12 for a in by_size["auc"])          # size ranks nobody within a third
    sighted = auc_by_stratum(y, y + 0.1 * rng.random(600), size)     # a score that sees the weapon itself
    assert all(a == 1.0 for a in sighted["auc"])
    assert auc_by_stratum(np.zeros(6, int), np.arange(6.0), np.arange(6.0))["auc"] == [None, None, None]


def weapon_store_sha(model_dir):
    from classifiers import weapon_store

    return weapon_store.load(str(model_dir))[1]["sha256"]


def _synthetic_set(folder, n=24, seed=0, groups=6):
    """Images of standing people (bright boxes); the armed ones hold a dark bar at arm's length."""
    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    rows = []
    for i in range(n):
        img = rng.integers(60, 120, (160, 160), dtype=np.uint8)
        armed = i % 2 == 0
        x, y, w, h = int(rng.integers(10, 90)), int(rng.integers(5, 30)), 40, 110
        cv2.rectangle(img, (x, y), (x + w, y + h), 220, -1)
        lines = [f"0 {(x + w / 2) / 160} {(y + h / 2) / 160} {w / 160} {h / 160}"]
        if armed:
            cv2.rectangle(img, (x + 25, y + 40), (x + 38, y + 46), 10, -1)
            lines.append(f"1 {(x + 31.5) / 160} {(y + 43) / 160} {14 / 160} {7 / 160}")
        cv2.imwrite(str(folder / "images" / f"{i}.png"), img)
        (folder / "labels" / f"{i}.txt").write_text("\n".join(lines) + "\n")
        rows.append([f"images/{i}.png", "weapon" if armed else "no_weapon", f"labels/{i}.txt", f"g{i % groups}"])
    with open(folder / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "label", "boxes", "source_group"])
        w.writerows(rows)
    return folder


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    pytest.importorskip("tensorflow", reason="training extras (requirements-train.txt) not installed")
    from pipeline.config import load_config
    from tasks import weapon

    base = tmp_path_factory.mktemp("weapon")
    data = _synthetic_set(base / "data")
    # One network, trained in this process: the networks' mean, and their worker processes, have their own test.
    keras_card = weapon.train(str(data), str(base / "m"), load_config(), epochs=1, members=1)
    assert keras_card["backend"] == "keras" and keras_card["training"]["n"] == 24
    card = json.loads((base / "m" / "weapon_lite.json").read_text())
    card["sha256"] = weapon_store_sha(base / "m")
    return data, base / "m", card


def test_the_weapon_model_is_saved_exported_and_checked_at_load(trained):
    from classifiers import weapon_store

    _, model_dir, card = trained
    assert card["backend"] == "tflite" and set(card["files"]) == {"weapon_float.tflite", "weapon_int8.tflite"}
    assert card["litert_vs_keras"]["float"]["max_abs_diff"] < 1e-4
    model, meta = weapon_store.load(str(model_dir))
    assert model.predict_proba(np.zeros(SHAPE, np.float32)).shape == (2,) and meta["sha256"] == card["sha256"]
    blob = model_dir / "weapon_float.tflite"
    kept = flip_one_byte(blob)
    try:
        with pytest.raises(UserError, match="checksum"):
            weapon_store.load(str(model_dir))
    finally:
        blob.write_bytes(kept)


def test_a_weapon_model_of_several_networks_is_their_mean_in_keras_and_in_litert(trained, tmp_path):
    from classifiers import weapon_store
    from classifiers.deep_cnn import load_keras
    from classifiers.model_store import read_card, verified_bytes
    from pipeline.config import load_config
    from tasks import weapon

    model_dir = tmp_path / "m"
    weapon.train(str(trained[0]), str(model_dir), load_config(), epochs=1, members=2)
    keras_card = read_card(str(model_dir), weapon_store.KERAS_NAME, "")
    assert keras_card.training["members"] == 2
    model = load_keras(verified_bytes(str(model_dir), keras_card, "weapon.keras"))
    towers = [layer for layer in model.layers if layer.name.startswith("weapon_cnn_")]
    assert len(towers) == 2
    # Each member started from its own seed: their first convolutions differ.
    first = [t.layers[0].get_weights()[0] for t in towers]
    assert all(not np.allclose(first[0], w) for w in first[1:])
    x = np.random.default_rng(2).random((5, *SHAPE)).astype(np.float32)
    each = np.stack([t.predict(x, verbose=0) for t in towers])
    assert not np.allclose(each[0], each[1], atol=1e-4)
    assert np.allclose(model.predict(x, verbose=0), each.mean(axis=0), atol=1e-5)
    lite, _ = weapon_store.load(str(model_dir))
    assert np.allclose(lite.runner(x[0])[1], each[:, 0, 1].mean(), atol=1e-4)
    # `train` trained the two networks side by side in worker processes (tasks/weapon.fit_side_by_side);
    # `fit` trains them one after the other here: the same networks, calibration and threshold (up to
    # the rounding that one thread's sums and several threads' differ by).
    from classifiers.weapon_cnn import WeaponClassifier

    X, y, groups, _ = weapon.person_examples(weapon._items(str(trained[0])))
    here = WeaponClassifier(epochs=1, members=2).fit(X, y, groups)
    assert np.allclose(here.model_.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-3)
    assert keras_card.training["val_auc_history"] == here.history_
    assert abs(lite.threshold_ - here.threshold_) < 1e-3


def test_evaluate_weapon_scores_each_person_box_with_the_exported_model(trained, tmp_path):
    data, model_dir, _ = trained
    res = subprocess.run([sys.executable, "run.py", "evaluate", "--task", "weapon", "--dataset", str(data),
                          "--model-dir", str(model_dir), "--out", str(tmp_path / "ev")],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["task"] == "weapon" and metrics["n"] == 24 and "LiteRT" in metrics["scored_by"]
    rows = list(csv.DictReader(open(tmp_path / "ev" / "predictions.csv")))
    assert len(rows) == 24 and {r["label"] for r in rows} == {"weapon", "no_weapon"} and rows[0]["box"]
    # Every synthetic person is 40x110 of 160x160: one size, so size alone tells nothing.
    by_size = metrics["auc_by_person_size"]
    assert sum(by_size["n"]) == 24 and by_size["edges"] == [0.171875, 0.171875]
    assert by_size["auc_of_it_alone"] == 0.5
    assert (tmp_path / "ev" / "roc.png").is_file()


def test_the_cross_validation_trains_its_networks_in_worker_processes_and_scores_every_box_out_of_fold(tmp_path):
    pytest.importorskip("tensorflow", reason="training extras (requirements-train.txt) not installed")
    from pipeline.config import load_config
    from tasks import weapon

    # Nine groups for 24 people, armed every other one: each group holds both classes.
    data = _synthetic_set(tmp_path / "data", groups=9)
    metrics = weapon.cross_validate(str(data), str(tmp_path / "cv"), load_config(), folds=3, epochs=1, jobs=2)
    rows = list(csv.DictReader(open(tmp_path / "cv" / "predictions.csv")))
    assert metrics["n"] == 24 and len(rows) == 24 and metrics["cv_folds"] == 3
    comparison = json.loads((tmp_path / "cv" / "comparison.json").read_text())
    assert comparison["n_person_boxes"] == 24 and 0.0 <= comparison["cnn_auc"] <= 1.0
    # The synthetic armed people hold a dark bar that a HOG sees: its scores, trained in the workers and
    # put back box by box, rank them (scores put back in the wrong places would rank them at chance).
    assert comparison["hog_linear_svm_auc"] >= 0.8
    # Groups of one class each leave a fold's validation part with one class: one clear line.
    one_class = _synthetic_set(tmp_path / "one_class", groups=6)
    with pytest.raises(UserError, match="--cv 3: no split of the source groups"):
        weapon.cross_validate(str(one_class), str(tmp_path / "cv2"), load_config(), folds=3, epochs=1, jobs=2)


class _CountingClassifier:
    """Stands in for WeaponClassifier in fit_side_by_side: its networks are named by what they learnt from."""

    members = 2

    def checked(self, X, y):
        return np.asarray(X), np.asarray(y)

    def split(self, y, groups):
        return np.flatnonzero(groups != "v"), np.flatnonzero(groups == "v")

    def train_member(self, X, y, tr, va, i):
        from classifiers.weapon_cnn import Member

        return Member([float(X[tr].sum()), i], [], tr[:1])

    def combine(self, X, y, tr, va, members):
        self.got_ = [m.weights for m in members]
        return self


def test_each_model_trained_side_by_side_gets_its_own_networks_in_order():
    from tasks.weapon import fit_side_by_side

    groups = np.array(["a", "b", "v", "v"])
    problems = [(np.array([1.0, 2.0, 50.0, 60.0]), np.array([0, 1, 0, 1]), groups),
                (np.array([10.0, 20.0, 70.0, 80.0]), np.array([0, 1, 0, 1]), groups)]
    first, second = fit_side_by_side([_CountingClassifier(), _CountingClassifier()], problems, 1, "test")
    # Trained on its own problem's training part (not the validation part), member 0 then member 1.
    assert first.got_ == [[3.0, 0], [3.0, 1]] and second.got_ == [[30.0, 0], [30.0, 1]]


def test_a_kiosk_run_with_the_weapon_model_loads_litert_not_tensorflow(trained, small_video, tmp_path):
    res, modules = kiosk_modules(["run", "--source", small_video, "--max-frames", "40", "--model-dir",
                                  str(trained[1]), "--set", f"storage_dir={tmp_path / 'var'}"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert modules == ["ai_edge_litert"] and "weapon_lite" in res.stderr


def test_p_armed_is_calibrated_without_reversing_the_networks_order_and_needs_its_calibration(trained, tmp_path):
    import shutil

    from classifiers import weapon_store
    from classifiers.model_store import ModelCard
    from classifiers.weapon_cnn import fit_calibration

    raw = np.linspace(0.05, 0.95, 40)
    y = (raw + np.random.default_rng(0).normal(0, 0.2, raw.shape) > 0.5).astype(int)
    cal = fit_calibration(raw, y)
    assert cal[0] > 0 and np.all(np.diff(weapon_store.calibrated(raw, cal)) > 0)
    backwards = fit_calibration(raw, 1 - y)     # a network worse than chance on its validation part
    assert backwards[0] > 0 and np.all(np.diff(weapon_store.calibrated(raw, backwards)) >= 0)

    _, model_dir, card = trained
    assert card["calibration"]["slope"] > 0
    model, _ = weapon_store.load(str(model_dir))
    x = np.random.default_rng(1).random(SHAPE).astype(np.float32)
    assert np.isclose(model.predict_proba(x)[1], weapon_store.calibrated(model.runner(x)[1], model.calibration))

    # A card without calibration (a model trained before it) is refused with the retrain command.
    old = tmp_path / "old"
    shutil.copytree(model_dir, old)
    body = json.loads((old / "weapon_lite.json").read_text())
    del body["calibration"]
    body["card_sha256"] = ModelCard(**body).content_digest()
    (old / "weapon_lite.json").write_text(json.dumps(body))
    with pytest.raises(UserError, match="calibration.*retrain"):
        weapon_store.load(str(old))
