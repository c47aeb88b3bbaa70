"""Stage 2's normality check: the dictionary per state, the refiner's persistence and veto, the
gate's suspicion, the Siamese tower trained on tiny data and exported to LiteRT, the store's checks,
and the whole task from the command line (train, export, evaluate on the live path)."""

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

from classifiers.normality import ANY, NormalityDictionary, scene_state
from core.detector import Flag
from core.events import event_spec
from pipeline.config import load_config
from pipeline.gate import Gate, GateConfig
from pipeline.refiners.normality import NormalityConfig, NormalityRefiner

ROOT = str(__import__("pathlib").Path(__file__).resolve().parents[1])


def _dictionary():
    rng = np.random.default_rng(0)
    emb = {ANY: rng.normal(size=(40, 4)).astype(np.float32), "scene:one": rng.normal(size=(12, 4)).astype(np.float32),
           "pin_entry": rng.normal(3.0, 1.0, size=(10, 4)).astype(np.float32)}
    return NormalityDictionary(emb, {ANY: 1.0, "scene:one": 1.5, "pin_entry": 2.0}, k=3)


def test_a_frame_is_compared_with_its_atm_state_then_its_scene_then_all():
    d = _dictionary()
    assert d.key("pin_entry", None) == "pin_entry"                       # the state reader's, known
    assert d.key("idle", [object()]) == "scene:one"                      # unknown ATM state: the scene's
    assert d.key("unknown", [object(), object()]) == ANY                 # scene:more not learnt: all
    assert scene_state(None) == "scene:empty" and scene_state([1, 2, 3]) == "scene:more"


def test_distance_is_the_mean_of_the_k_nearest_normal_neighbours():
    d = _dictionary()
    e = np.array([0.5, -0.2, 0.1, 0.0], np.float32)
    brute = np.sort(np.linalg.norm(d.embeddings["scene:one"] - e, axis=1))[:3].mean()
    assert d.distance(e, "scene:one") == pytest.approx(brute, rel=1e-5)
    assert d.distances(e[None], "scene:one")[0] == pytest.approx(brute, rel=1e-4)
    # Leaving each row's own zero distance out, as training does for the dictionary's own frames.
    own = d.distances(d.embeddings[ANY][:5], ANY, exclude_self=True)
    assert np.all(own > 0)


def test_the_dictionary_round_trips_as_plain_arrays_and_refuses_what_does_not_fit():
    d = _dictionary()
    arrays = d.to_arrays()
    assert all(a.dtype != object for a in arrays.values())
    back = NormalityDictionary.from_arrays(arrays)
    assert back.thresholds == d.thresholds and back.k == 3
    assert all(np.array_equal(back.embeddings[s], d.embeddings[s]) for s in d.embeddings)
    arrays["sizes"] = arrays["sizes"] + 1
    with pytest.raises(ValueError, match="do not fit"):
        NormalityDictionary.from_arrays(arrays)
    with pytest.raises(ValueError, match="'any'"):
        NormalityDictionary({"scene:one": np.zeros((5, 4))}, {"scene:one": 1.0})
    with pytest.raises(ValueError, match="at least k"):
        NormalityDictionary({ANY: np.zeros((2, 4))}, {ANY: 1.0}, k=3)


class _Margins:
    """A stand-in normality model: the distances it reports, one per call, against threshold 1."""

    variant = "grey"

    def __init__(self, distances):
        self.distances = iter(distances)
        self.runner = SimpleNamespace(precision="float")

    def distance(self, x, state, people):
        assert x.shape == (64, 64, 2)
        return next(self.distances), 1.0, "any"


def _ctx(t):
    return SimpleNamespace(time_s=t, state="unknown", people=None, cache={}, blobs=[],
                           grey_tamper=np.zeros((90, 160), np.uint8),
                           motion=SimpleNamespace(mask=np.zeros((45, 80), np.uint8), blobs=[]))


def test_anomaly_needs_several_abnormal_escalated_frames_within_the_window():
    ref = NormalityRefiner(NormalityConfig(persist_frames=3, window_s=1.0),
                           _Margins([1.2, 1.5, 0.4, 1.3, 1.1, 1.4, 1.6]))
    times = (0.0, 0.2, 0.4, 0.6, 3.0, 3.2, 3.4)
    out = [ref.refine(_ctx(t), [Flag("crowding", 0.7)]) for t in times]
    raised = [any(f.type == "anomaly" for f in flags) for flags in out]
    # The third abnormal frame inside one second raises it; a normal frame in between neither counts
    # nor raises; after a gap the count starts again.
    assert raised == [False, False, False, True, False, False, True]
    assert all(flags[0].type == "crowding" for flags in out)        # other flags pass untouched
    anomaly = out[3][-1]
    assert anomaly.stage == "deep" and anomaly.score == pytest.approx(1.3) and anomaly.extra["dictionary"] == "any"
    assert ref.model_calls == 7 and ref.peak_margin == pytest.approx(1.6)
    assert event_spec("anomaly").severity == "warning"


def test_the_normality_check_vetoes_only_what_the_config_lists():
    fight = lambda: [Flag("fight", 0.9), Flag("crowding", 0.7)]  # noqa: E731
    keeps = NormalityRefiner(NormalityConfig(), _Margins([0.1]))
    assert [f.type for f in keeps.refine(_ctx(0.0), fight())] == ["fight", "crowding"]
    vetoes = NormalityRefiner(NormalityConfig(veto=["fight"], veto_below=0.5), _Margins([0.1, 0.9]))
    assert [f.type for f in vetoes.refine(_ctx(0.0), fight())] == ["crowding"] and vetoes.vetoed == 1
    assert [f.type for f in vetoes.refine(_ctx(0.1), fight())] == ["fight", "crowding"]   # 0.9: not normal enough
    assert NormalityRefiner.build(NormalityConfig(), {}) is None
    assert NormalityRefiner.build(NormalityConfig(enabled=False), {"normality_lite": _Margins([])}) is None


def test_the_gate_escalates_a_frame_that_nearly_flagged():
    gate = Gate(GateConfig(suspicion=0.8))
    assert not gate([], 0.5) and gate([], 0.85) and gate([Flag("fight", 0.9)], 0.0)
    assert gate.escalated == 2 and gate.by_suspicion == 1 and gate.fraction == pytest.approx(2 / 3)
    flags_only = Gate(GateConfig(suspicion=None))
    assert not flags_only([], 5.0)
    assert load_config(overrides=["gate.suspicion=null"]).gate.suspicion is None


def test_the_fight_detector_reports_how_close_it_came():
    from core.context import FrameContext
    from detectors.fight import FightConfig, FightDetector

    det = FightDetector(FightConfig(min_window_s=0.2, hop_s=0.1), fps=10)
    det.model.decision_scores = lambda X: np.array([0.4])   # under the built-in threshold 0.5
    ctxs = []
    for i in range(6):
        ctx = FrameContext(i, i / 10, 10, None, None, None, SimpleNamespace(blobs=[]), _row(det), 1.0)
        det.detect(ctx)
        ctxs.append(ctx)
    assert ctxs[0].suspicion == 0.0 and ctxs[-1].suspicion == pytest.approx(0.8)


def _row(det):
    from features.frame_features import FRAME_FEATURES

    r = np.zeros(len(FRAME_FEATURES))
    r[FRAME_FEATURES.index("fg_ratio")] = 0.2
    return r


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    pytest.importorskip("tensorflow", reason="training extras (requirements-train.txt) not installed")
    from classifiers import normality_store
    from classifiers.siamese import SiameseNormality

    model_dir = tmp_path_factory.mktemp("normality")
    X, y, g = toy_frames()
    states = np.where(np.arange(len(y)) % 3 == 0, "scene:one", "scene:more")
    model = SiameseNormality(epochs=2, steps_per_epoch=8, min_state_frames=5, k=3).fit(X, y, g, states)
    keras_card = normality_store.save_keras(model, str(model_dir), "grey", {"n": len(y)})
    lite_card = normality_store.export(str(model_dir))
    return model_dir, model, keras_card, lite_card, X, y


def test_the_tower_embeds_on_the_unit_sphere_and_the_dictionary_holds_normal_frames_per_state(exported):
    _, model, keras_card, _, X, y = exported
    from classifiers.siamese import embed

    E = embed(model.tower_, X[:10])
    assert E.shape == (10, 16) and np.allclose(np.linalg.norm(E, axis=1), 1.0, atol=1e-4)
    d = model.dictionary_
    assert set(d.embeddings) == {ANY, "scene:one", "scene:more"}
    assert len(d.embeddings[ANY]) == int(np.sum(y == 0))        # normal frames only
    assert keras_card["dictionary"]["states"]["scene:one"]["n"] == len(d.embeddings["scene:one"])
    assert 0 <= model.val_auc_ <= 1 and 0 <= model.val_false_rate_ <= 0.5


def test_the_normality_export_runs_on_litert_like_keras_and_is_checked_at_load(exported):
    from classifiers import normality_store
    from classifiers.siamese import embed
    from core.errors import UserError

    model_dir, model, _, lite_card, X, _ = exported
    assert lite_card["backend"] == "tflite"
    assert set(lite_card["files"]) == {"normality_float.tflite", "normality_int8.tflite", "normality_dictionary.npz"}
    agree = lite_card["litert_vs_keras"]
    assert agree["float"]["max_abs_diff_embedding"] < 1e-4 and agree["float"]["decision_agreement"] == 1.0
    assert agree["int8"]["max_abs_diff_embedding"] < 0.25
    lite, meta = normality_store.load(str(model_dir))
    ref = embed(model.tower_, X[:3])
    for i in range(3):
        assert np.allclose(lite.embed(X[i]), ref[i], atol=1e-4)
    dist, thr, key = lite.distance(X[0], "unknown", [object()])
    assert key == "scene:one" and thr == pytest.approx(model.dictionary_.thresholds["scene:one"])
    assert dist == pytest.approx(model.dictionary_.distance(ref[0], "scene:one"), rel=1e-3)
    blob = model_dir / "normality_dictionary.npz"
    kept = flip_one_byte(blob)
    try:
        with pytest.raises(UserError, match="checksum"):
            normality_store.load(str(model_dir))
    finally:
        blob.write_bytes(kept)


def test_the_tower_needs_abnormal_frames_to_learn_from():
    pytest.importorskip("tensorflow", reason="training extras (requirements-train.txt) not installed")
    from classifiers.siamese import SiameseNormality

    X, y, g = toy_frames(40)
    with pytest.raises(ValueError, match="abnormal"):
        SiameseNormality(epochs=1).fit(X[y == 0], y[y == 0], g[y == 0], np.full(int(np.sum(y == 0)), "scene:one"))


def test_a_kiosk_run_with_the_normality_model_loads_litert_not_tensorflow(exported, small_video, tmp_path):
    res, modules = kiosk_modules(["run", "--source", small_video, "--max-frames", "40", "--model-dir",
                                  str(exported[0]), "--set", f"storage_dir={tmp_path / 'var'}",
                                  "--set", "gate.suspicion=0.0001"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert modules == ["ai_edge_litert"]
    assert "normality_lite" in res.stderr


def test_train_export_and_evaluate_normality_on_real_clips(small_fight_set, tmp_path):
    pytest.importorskip("tensorflow", reason="training extras (requirements-train.txt) not installed")
    from tasks import normality

    model_dir = tmp_path / "m"
    card = normality.train(small_fight_set, str(model_dir), load_config(), epochs=1)
    assert card["training"]["n_clips"] == 24 and set(card["dictionary"]["states"]) >= {ANY}
    res = subprocess.run([sys.executable, "run.py", "export", "--model-dir", str(model_dir)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode == 0 and "normality: exported" in res.stdout, res.stderr
    res = subprocess.run([sys.executable, "run.py", "evaluate", "--task", "normality", "--dataset", small_fight_set,
                          "--model-dir", str(model_dir), "--out", str(tmp_path / "ev")],
                         capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert res.returncode == 0, res.stderr
    metrics = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert metrics["n"] == 24 and metrics["threshold"] == 1.0 and "live replay" in metrics["scored_by"]
    assert (tmp_path / "ev" / "predictions.csv").is_file() and (tmp_path / "ev" / "roc.png").is_file()


def test_bench_escalation_sums_the_gates_counts_per_label(small_video, tmp_path, capsys):
    from bench.escalation import main

    folder = tmp_path / "clips"
    folder.mkdir()
    (folder / "labels.csv").write_text(f"clip,label\n{small_video},normal\n")
    assert main(["--dataset", str(folder), "--model-dir", str(tmp_path / "none"), "--set", "gate.suspicion=0.5",
                 "--out", str(tmp_path / "e.json")]) == 0
    result = json.loads((tmp_path / "e.json").read_text())
    normal = result["per_label"]["normal"]
    assert result["gate_suspicion"] == 0.5 and normal["clips"] == 1 and normal["frames"] > 0
    assert 0 <= normal["by_suspicion"] <= normal["escalated"] <= normal["frames"]
    assert normal["escalated_fraction"] == round(normal["escalated"] / normal["frames"], 4)
    capsys.readouterr()
    assert main(["--dataset", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
