"""Stage 2: the deep input, the CNN trained on tiny data, its LiteRT export against Keras, the
store's checks, the refiner's confirm/veto, and a kiosk run that loads LiteRT without TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from helpers.files import flip_one_byte
from helpers.kiosk import kiosk_modules
from helpers.toy_frames import toy_frames

from core.detector import Flag
from features.deep_input import deep_input
from pipeline.config import load_config
from pipeline.refiners.deep import DeepConfig, DeepRefiner

ROOT = str(__import__("pathlib").Path(__file__).resolve().parents[1])


def test_deep_input_is_two_channels_in_0_1_for_both_variants():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (90, 160), dtype=np.uint8)
    mask = (rng.random((45, 80)) > 0.8).astype(np.uint8) * 255
    a, b = deep_input(grey, mask, "grey"), deep_input(grey, mask, "method")
    for x in (a, b):
        assert x.shape == (64, 64, 2) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    assert np.array_equal(a[..., 1], b[..., 1]) and not np.array_equal(a[..., 0], b[..., 0])
    with pytest.raises(ValueError):
        deep_input(grey, mask, "colour")


class _Fixed:
    classes_ = ("normal", "fight")
    threshold_ = 0.6
    variant = "grey"
    precision = "float"

    def __init__(self, p):
        self.p = p

    def predict_proba(self, x):
        assert x.shape == (64, 64, 2)
        return np.array([1 - self.p, self.p], np.float32)


def _ctx(time_s=0.0):
    return SimpleNamespace(time_s=time_s, grey_tamper=np.zeros((90, 160), np.uint8),
                           motion=SimpleNamespace(mask=np.zeros((45, 80), np.uint8)))


def test_refiner_confirms_or_vetoes_only_the_types_it_judges():
    crowd = lambda: Flag("crowding", 0.7)  # noqa: E731
    sure = DeepRefiner(DeepConfig(veto=["fight"]), _Fixed(0.9))
    out = sure.refine(_ctx(), [Flag("fight", 0.5), crowd()])
    assert [(f.type, f.stage) for f in out] == [("fight", "deep"), ("crowding", "classical")]
    assert out[0].extra["deep_prob"] == pytest.approx(0.9)
    unsure = DeepRefiner(DeepConfig(veto=["fight"]), _Fixed(0.3))
    assert [f.type for f in unsure.refine(_ctx(), [Flag("fight", 0.5), crowd()])] == ["crowding"]
    assert unsure.vetoed == 1 and unsure.peak == pytest.approx(0.3)
    # Nothing it judges: the model is not asked at all.
    assert unsure.refine(_ctx(), [crowd()])[0].type == "crowding" and unsure.model_calls == 1
    # The config's threshold wins over the model's; no model, no refiner.
    assert DeepRefiner(DeepConfig(veto=["fight"], min_fight_prob=0.2), _Fixed(0.3)).refine(_ctx(), [Flag("fight", 0.5)])
    assert DeepRefiner.build(DeepConfig(veto=["fight"]), {}) is None
    assert DeepRefiner.build(DeepConfig(veto=["fight"], enabled=False), {"deep_lite": _Fixed(0.5)}) is None
    # Nothing to judge (the default policy): the CNN is not run at all.
    assert DeepRefiner.build(DeepConfig(), {"deep_lite": _Fixed(0.5)}) is None
    assert DeepRefiner.build(DeepConfig(veto=["fight"]), {"deep_lite": _Fixed(0.5)}) is not None


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("tensorflow", reason="training extras (requirements-train.txt) not installed")
    from classifiers import deep_store
    from classifiers.deep_cnn import DeepClassifier

    model_dir = tmp_path_factory.mktemp("deep")
    X, y, g = toy_frames()
    clf = DeepClassifier(epochs=2, patience=2).fit(X, y, g)
    keras_card = deep_store.save_keras(clf, str(model_dir), "grey", {"n": len(y)})
    lite_card = deep_store.export(str(model_dir))
    return model_dir, clf, keras_card, lite_card, X


def test_export_runs_on_litert_like_keras_and_is_checked_at_load(exported):
    from classifiers import deep_store
    from core.errors import UserError

    model_dir, clf, keras_card, lite_card, X = exported
    assert keras_card["backend"] == "keras" and lite_card["backend"] == "tflite"
    assert set(lite_card["files"]) == {"deep_float.tflite", "deep_int8.tflite"}
    agree = lite_card["litert_vs_keras"]
    assert agree["float"]["max_abs_diff"] < 1e-4 and agree["float"]["decision_agreement"] == 1.0
    assert agree["int8"]["max_abs_diff"] < 0.2 and agree["int8"]["decision_agreement"] >= 0.8
    model, meta = deep_store.load(str(model_dir))
    ref = clf.predict_proba(X[:5])
    for i in range(5):
        assert np.allclose(model.predict_proba(X[i]), ref[i], atol=1e-4)
        assert np.allclose(model.predict_proba(X[i], "int8"), ref[i], atol=0.2)
    assert model.threshold_ == pytest.approx(keras_card["threshold"]) and meta["sha256"] == lite_card["sha256"]
    blob = model_dir / "deep_int8.tflite"
    kept = flip_one_byte(blob)
    try:
        with pytest.raises(UserError, match="checksum"):
            deep_store.load(str(model_dir))
    finally:
        blob.write_bytes(kept)


def test_a_kiosk_run_with_the_deep_model_loads_litert_not_tensorflow(exported, small_video, tmp_path):
    res, modules = kiosk_modules(["run", "--source", small_video, "--max-frames", "40", "--model-dir",
                                  str(exported[0]), "--set", f"storage_dir={tmp_path / 'var'}",
                                  "--set", "deep.veto=[fight]"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert modules == ["ai_edge_litert"]
    assert "deep_lite" in res.stderr   # the models line names it


def test_augment_keeps_shape_and_range():
    from classifiers.deep_cnn import augment

    X, _, _ = toy_frames(16)
    A = augment(X, np.random.default_rng(1))
    assert A.shape == X.shape and A.dtype == np.float32 and 0 <= A.min() and A.max() <= 1
    assert not np.array_equal(A, X)


def test_config_refuses_an_unknown_precision():
    from core.errors import UserError

    with pytest.raises(UserError, match="deep.precision"):
        load_config(overrides=["deep.precision=int4"])


class _Sequence(_Fixed):
    def __init__(self, ps):
        self.ps = iter(ps)

    def predict_proba(self, x):
        p = next(self.ps)
        return np.array([1 - p, p], np.float32)


def test_refiner_decides_on_the_mean_of_its_last_judged_frames():
    ref = DeepRefiner(DeepConfig(veto=["fight"], confirm_frames=3, window_s=1.0),
                      _Sequence([0.9, 0.9, 0.1, 0.1, 0.1, 0.9, 0.9, 0.9, 0.9]))
    fight = lambda: [Flag("fight", 0.8)]  # noqa: E731
    stood = [bool(ref.refine(_ctx(t), fight())) for t in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)]
    # Two witnesses are not enough; then (0.9+0.9+0.1)/3 >= 0.6 stands, one 0.9 among two 0.1s does
    # not, two 0.9s and a 0.1 do again.
    assert stood == [False, False, True, False, False, False, True, True]
    assert ref.held == 2 and ref.vetoed == 3 and ref.model_calls == 8
    # Judged frames older than window_s are forgotten: a lone frame after a gap waits again.
    assert ref.refine(_ctx(5.0), fight()) == [] and ref.held == 3


def test_refiner_keeps_the_cascades_margin_against_both_thresholds():
    ref = DeepRefiner(DeepConfig(veto=["fight"]), _Fixed(0.9))          # model threshold 0.6: P(fight) margin 1.5
    ref.refine(_ctx(), [Flag("fight", 0.8, extra={"threshold": 0.4})])    # classical margin 2.0
    assert ref.peak_margin == pytest.approx(1.5)
    weak = DeepRefiner(DeepConfig(veto=["fight"]), _Fixed(0.3))         # 0.5: vetoed, under 1
    weak.refine(_ctx(), [Flag("fight", 0.8, extra={"threshold": 0.4})])
    assert weak.peak_margin == pytest.approx(0.5) and weak.vetoed == 1


def test_comparison_counts_the_cascades_false_alarms_at_the_cheap_stages_recall():
    from tasks.fight import _comparison

    y = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    classical = np.array([1.5, 1.2, 1.1, 0.5, 1.3, 1.05, 0.2, 0.1])   # recall 3/4, 2 false alarms
    cascade = np.array([1.4, 1.1, 0.9, 0.4, 0.6, 0.95, 0.2, 0.1])     # stage 2 vetoed both, and one fight
    out = _comparison(y, classical, cascade, classical >= 1, cascade >= 1)
    assert out["classical"] == {"auc": 0.75, "recall": 0.75, "false_alarms": 2, "normal_clips": 4}
    assert out["cascade"]["recall"] == 0.5 and out["cascade"]["false_alarms"] == 0
    # At the cheap stage's recall (3 of 4 fights: cut 0.9) the cascade lets one normal clip through.
    assert out["cascade_false_alarms_at_classical_recall"] == 1 and out["classical_recall"] == 0.75


def test_cross_validation_of_the_cascade_against_the_cheap_stage(tmp_path, small_fight_set):
    pytest.importorskip("tensorflow", reason="training extras (requirements-train.txt) not installed")
    from tasks.fight import cross_validate

    metrics = cross_validate(small_fight_set, str(tmp_path / "out"), load_config(), folds=2, seed=0, stage="cascade",
                             epochs=1)
    comparison = json.loads((tmp_path / "out" / "comparison.json").read_text())
    assert metrics["stage"] == "cascade" and metrics["n"] == 24
    for row in ("classical", "cascade"):
        assert 0 <= comparison[row]["auc"] <= 1 and comparison[row]["normal_clips"] == 12
    assert len(comparison["deep_variants"]) == 2 and set(comparison["deep_variants"]) <= {"grey", "method"}
    # The cascade only removes alarms: it never raises a fight the cheap stage did not flag.
    assert comparison["cascade"]["false_alarms"] <= comparison["classical"]["false_alarms"]
    assert comparison["cascade"]["recall"] <= comparison["classical"]["recall"]
    # The normality check trained per fold too: its anomaly events counted per class.
    anomaly = comparison["anomaly"]
    assert anomaly["fight_clips"] == anomaly["normal_clips"] == 12
    assert 0 <= anomaly["fight_clips_with_anomaly"] <= 12 and 0 <= anomaly["normal_clips_with_anomaly"] <= 12


def test_adversarial_sweep_starts_at_the_clean_accuracy_and_does_not_improve_with_epsilon(exported):
    from classifiers.deep_cnn import FIGHT, adversarial_accuracy

    _, clf, keras_card, _, X = exported
    y = (np.arange(len(X)) % 2).astype(np.int64)   # the toy labels
    rows = adversarial_accuracy(clf.model_, X, y, keras_card["threshold"], (0.0, 0.3), pgd_steps=2)
    clean = float(np.mean((clf.predict_proba(X)[:, FIGHT] >= keras_card["threshold"]) == (y == FIGHT)))
    assert rows[0]["epsilon"] == 0.0 and rows[0]["fgsm_accuracy"] == pytest.approx(clean, abs=1e-4)
    assert rows[1]["fgsm_accuracy"] <= rows[0]["fgsm_accuracy"] and rows[1]["pgd_accuracy"] <= rows[0]["fgsm_accuracy"]


def test_evaluate_adversarial_writes_its_curve(exported, tiny_set, tmp_path):
    model_dir = exported[0]
    res = subprocess.run([sys.executable, "run.py", "evaluate", "--task", "deep", "--adversarial", "--dataset",
                          str(tiny_set), "--model-dir", str(model_dir), "--out", str(tmp_path / "adv")],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    result = json.loads((tmp_path / "adv" / "adversarial.json").read_text())
    assert [r["epsilon"] for r in result["rows"]][0] == 0.0 and result["n_frames"] > 0
    assert (tmp_path / "adv" / "adversarial.png").is_file()
    bad = subprocess.run([sys.executable, "run.py", "evaluate", "--task", "fight", "--adversarial", "--dataset",
                          str(tiny_set), "--model-dir", str(model_dir), "--out", str(tmp_path / "x")],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert bad.returncode == 2 and "--adversarial does not apply to task fight" in bad.stderr


def _first_and_last(small_fight_set, folder, n):
    """The first and the last `n` real clips (fight, then normal) as a labelled folder."""
    import csv as _csv

    rows = list(_csv.DictReader(open(__import__("os").path.join(small_fight_set, "labels.csv"))))
    folder.mkdir()
    with open(folder / "labels.csv", "w", newline="") as fh:
        w = _csv.writer(fh)
        w.writerow(["clip", "label", "source_video"])
        for r in rows[:n] + rows[-n:]:
            w.writerow([r["clip"], r["label"], r["source_video"]])
    return folder


@pytest.fixture
def tiny_set(small_fight_set, tmp_path):
    """Four real clips (two fight, two normal) as a labelled folder."""
    return _first_and_last(small_fight_set, tmp_path / "tiny", 2)


@pytest.fixture
def pair_set(small_fight_set, tmp_path):
    """Two real clips (a fight, a normal one): for what replays the set once per camera perturbation."""
    return _first_and_last(small_fight_set, tmp_path / "pair", 1)


def test_evaluate_deep_puts_litert_against_keras_on_the_evaluated_frames(exported, tiny_set, tmp_path):
    res = subprocess.run([sys.executable, "run.py", "evaluate", "--task", "deep", "--dataset", str(tiny_set),
                          "--model-dir", str(exported[0]), "--out", str(tmp_path / "e")],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    agree = json.loads((tmp_path / "e" / "metrics.json").read_text())["litert_vs_keras"]
    assert agree["float"]["n_frames"] > 0 and agree["float"]["n_frames"] == agree["int8"]["n_frames"]
    assert agree["float"]["max_abs_diff"] < 1e-4 and agree["float"]["decision_agreement"] == 1.0
    assert agree["int8"]["max_abs_diff"] < 0.3


def test_evaluate_perturb_writes_a_row_per_perturbation(exported, pair_set, tmp_path):
    res = subprocess.run([sys.executable, "run.py", "evaluate", "--task", "deep", "--perturb", "--dataset",
                          str(pair_set), "--model-dir", str(exported[0]), "--out", str(tmp_path / "p")],
                         capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    result = json.loads((tmp_path / "p" / "perturb.json").read_text())
    assert len(result["rows"]) == 1 + 6 * 3 and result["rows"][0]["perturbation"] == "none"
    kinds = {"brightness", "contrast", "noise", "blur", "jpeg", "shake"}
    assert {r["perturbation"] for r in result["rows"][1:]} == kinds
    assert (tmp_path / "p" / "perturb.png").is_file() and (tmp_path / "p" / "blur_3" / "metrics.json").is_file()
