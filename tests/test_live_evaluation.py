"""Evaluate what runs: `evaluate` replays clips through the live path, so its per-clip prediction is
exactly whether `run` raises the event on that clip (real clips from ../shared/data/fight_surv)."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest

import run as run_py
from conftest import shared


def _labelled(folder, rows, out):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "labels.csv"), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["clip", "label", "source_video"])
        for r in rows:
            w.writerow([os.path.join(folder, r["clip"]), r["label"], r["source_video"]])
    return str(out)


@pytest.fixture(scope="module")
def live_sets(tmp_path_factory):
    """A model trained on about 40 clips of some source videos; 20 clips (10 fight, 10 normal) of the others."""
    folder = shared("fight_surv")
    with open(os.path.join(folder, "labels.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    videos = sorted({r["source_video"] for r in rows})
    held = set(videos[::3])
    train_rows = [r for r in rows if r["source_video"] not in held]
    test_rows = [r for r in rows if r["source_video"] in held]
    pick = lambda rs, label, k: [r for r in rs if r["label"] == label][::3][:k]  # noqa: E731
    root = tmp_path_factory.mktemp("live")
    train_dir = _labelled(folder, pick(train_rows, "fight", 20) + pick(train_rows, "normal", 20), root / "train")
    test_dir = _labelled(folder, pick(test_rows, "fight", 10) + pick(test_rows, "normal", 10), root / "test")
    models = str(root / "models")
    assert run_py.main(["train", "--task", "fight", "--dataset", train_dir, "--model-dir", models]) == 0
    return train_dir, test_dir, models, root


def test_evaluate_predicts_exactly_what_run_raises(live_sets, capsys):
    _, test_dir, models, root = live_sets
    out = root / "eval"
    assert run_py.main(["evaluate", "--task", "fight", "--dataset", test_dir, "--model-dir", models,
                        "--out", str(out)]) == 0
    with open(out / "predictions.csv", newline="") as fh:
        preds = list(csv.DictReader(fh))
    assert len(preds) == 20
    metrics = json.loads((out / "metrics.json").read_text())
    agree = 0
    for i, p in enumerate(preds):
        events = root / f"ev{i}.jsonl"
        assert run_py.main(["run", "--source", p["path"], "--model-dir", models, "--events", str(events),
                            "--hardware", "none", "--set", f"storage_dir={root / 'var'}"]) == 0
        lines = [json.loads(x) for x in events.read_text().splitlines()] if events.exists() else []
        fights = [e for e in lines if e["type"] == "fight"]
        raised = bool(fights)
        agree += raised == (p["predicted"] == "fight")
        # The score is the peak of the live score: an event exactly when it reaches the saved threshold.
        assert (float(p["score"]) >= metrics["threshold"]) == raised
        if raised:
            assert int(p["first_event_frame"]) == fights[0]["frame"]
            assert float(p["first_event_time_s"]) == pytest.approx(fights[0]["time_s"], abs=1e-3)
        else:
            assert p["first_event_frame"] == ""
    assert agree == 20
    # Both outcomes occur, so the agreement is not that of a model that never fires.
    assert 0 < sum(p["predicted"] == "fight" for p in preds) < 20
    # Unseen scenes: fights still rank above normal clips.
    assert metrics["auc"] > 0.7
    capsys.readouterr()


def test_evaluating_training_clips_says_so(live_sets, capsys):
    train_dir, test_dir, models, root = live_sets
    assert run_py.main(["evaluate", "--task", "fight", "--dataset", train_dir, "--model-dir", models,
                        "--out", str(root / "eval-train")]) == 0
    warned = [x for x in capsys.readouterr().err.splitlines() if x.startswith("warning:")]
    with open(os.path.join(train_dir, "labels.csv")) as fh:
        n = len(fh.read().splitlines()) - 1
    assert len(warned) == 1 and f"{n} of {n} clips" in warned[0] and "used to train" in warned[0]
    card = json.loads((root / "models" / "fight.json").read_text())
    assert card["training"]["n"] == n and len(card["training"]["clips"]) == n
    assert card["threshold"] > 0
    # Clips it never saw raise no such warning.
    assert run_py.main(["evaluate", "--task", "fight", "--dataset", test_dir, "--model-dir", models,
                        "--out", str(root / "eval-test")]) == 0
    assert "warning:" not in capsys.readouterr().err


def test_live_cross_validation_replays_each_held_out_clip(live_sets, capsys):
    train_dir, _, _, root = live_sets
    out = root / "cv"
    assert run_py.main(["evaluate", "--task", "fight", "--dataset", train_dir, "--cv", "3",
                        "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["cv_folds"] == 3 and len(metrics["fold_thresholds"]) == 3
    assert metrics["scored_by"].startswith("live replay")
    with open(out / "predictions.csv", newline="") as fh:
        preds = list(csv.DictReader(fh))
    # A clip is "fight" exactly when its replay raised an event, and then its first event is recorded.
    assert all((p["predicted"] == "fight") == (p["first_event_frame"] != "") for p in preds)
    (tn, fp), (fn, tp) = metrics["confusion"]
    assert tp + fp == sum(p["predicted"] == "fight" for p in preds)
    capsys.readouterr()
