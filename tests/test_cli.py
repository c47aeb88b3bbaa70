"""The command-line contract (../shared/CONTRACT.md): exit codes, one-line errors, JSON shapes."""

import csv
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, shared

EVENT_KEYS = {"type", "frame", "time_s", "bbox", "score", "stage", "state"}
METRIC_KEYS = {"task", "n", "auc", "accuracy", "precision", "recall", "f1", "threshold", "confusion"}
BENCH_KEYS = {"frames", "decode_ms", "classical_ms", "cascade_ms", "stage2_every_frame_ms", "escalated_fraction",
              "stage2_ms_per_call", "peak_rss_mb"}


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, os.path.join(ROOT, "run.py"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def in_tmp(tmp_path) -> tuple[str, ...]:
    """`run` keeps its event store, outbox and evidence in storage_dir (default `var/` in the project):
    a test's run keeps them in the test's own folder."""
    return ("--set", f"storage_dir={tmp_path / 'var'}")


def assert_user_error(res, *needles):
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    for n in needles:
        assert n in lines[0]


def test_missing_file(tmp_path):
    assert_user_error(cli("run", "--source", str(tmp_path / "missing.mp4")), "missing.mp4", "not found")


def test_camera_that_does_not_exist():
    assert_user_error(cli("run", "--source", "7"), "camera 7")


def test_corrupt_video(tmp_path):
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    assert_user_error(cli("run", "--source", str(bad)), "corrupt.mp4")


def test_invalid_yaml(tmp_path, small_video):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("motion: [1, 2\n")
    assert_user_error(cli("run", "--source", small_video, "--config", str(cfg)), "bad.yaml")


def test_invalid_config_value(tmp_path, small_video):
    cfg = tmp_path / "range.yaml"
    cfg.write_text("motion:\n  bg_alpha: 3\n")
    assert_user_error(cli("run", "--source", small_video, "--config", str(cfg)), "motion.bg_alpha")


def test_missing_argument():
    assert_user_error(cli("run"), "--source")


def test_run_writes_contract_events(tmp_path, small_video):
    events = tmp_path / "ev" / "events.jsonl"
    res = cli("run", "--source", small_video, "--events", str(events), "--model-dir", str(tmp_path / "none"),
              *in_tmp(tmp_path))
    assert res.returncode == 0, res.stderr
    lines = [json.loads(x) for x in events.read_text().splitlines()]
    assert lines, "the scenario has two people in the booth: some event is expected"
    for ev in lines:
        assert EVENT_KEYS <= set(ev)
        assert isinstance(ev["frame"], int) and 0 <= ev["frame"] < 400
        assert ev["stage"] in ("classical", "deep")
        assert ev["bbox"] is None or (len(ev["bbox"]) == 4 and all(isinstance(v, int) for v in ev["bbox"]))
    assert "crowding" in {ev["type"] for ev in lines}
    # Appending, not overwriting: a second run adds to the same file and leaves what was there.
    res = cli("run", "--source", small_video, "--events", str(events), "--max-frames", "260",
              "--model-dir", str(tmp_path / "none"), *in_tmp(tmp_path))
    assert res.returncode == 0, res.stderr
    again = [json.loads(x) for x in events.read_text().splitlines()]
    assert again[:len(lines)] == lines
    # The same footage gives the same alerts: the second run's, up to its last frame, come after.
    starts = lambda evs: [ev for ev in evs if ev.get("phase") != "end"]  # noqa: E731
    assert starts(again[len(lines):]) == [ev for ev in starts(lines) if ev["frame"] < 260]
    assert len(again) > len(lines), "the second run's own events must be appended"


def test_run_max_frames(small_video, tmp_path):
    res = cli("run", "--source", small_video, "--max-frames", "10", "--model-dir", str(tmp_path), *in_tmp(tmp_path))
    assert res.returncode == 0
    assert "processed 10 frames" in res.stderr


def test_demo_prints_truth_events_sms_and_buzzer(tmp_path):
    res = cli("demo", "--model-dir", "/nonexistent-models", "--storage", str(tmp_path))
    assert res.returncode == 0, res.stderr
    # The truth table always lists every truth type: its rows must say each one was found.
    table = res.stdout.split("ground truth vs detected:", 1)[1]
    for kind in ("face_covered", "loitering", "crowding", "fight", "left_object", "camera_covered"):
        assert re.search(rf"^\s*{kind}\s+\d+-\d+\s+yes, frame \d+", table, re.M), f"{kind} missed:\n{table}"
    assert "FALSE ALARM" not in table
    # The masked visitor's door flow: the guard's SMS carries a code, and the keypad opened the door with it.
    assert re.search(r"to \+15550100: ATM-0001 door locked, code \d{6}, valid", res.stdout), res.stdout
    assert "door flow: unlocked (door relay GPIO27: locked, unlocked)" in res.stdout
    # Mock hardware by default: what the fake modem received and the buzzer pin's history.
    sms = [line for line in res.stdout.splitlines() if line.strip().startswith("to +15550100:")]
    assert any("camera_covered" in line for line in sms) and any("fight" in line for line in sms)
    history = re.search(r"buzzer pin GPIO17 history [^\n]*\n\s*(.+)", res.stdout)
    assert history and re.search(r"\d+\.\d\ds on\b", history.group(1)), res.stdout
    assert (tmp_path / "events.sqlite").is_file() and any((tmp_path / "evidence").glob("*.jpg"))


def test_export_without_deep_models(tmp_path):
    res = cli("export", "--model-dir", str(tmp_path))
    assert res.returncode == 0
    assert_user_error(cli("export", "--model-dir", str(tmp_path / "nope")), "nope")


def test_export_checks_the_models_it_lists(tmp_path):
    (tmp_path / "objects.json").write_text("{}")           # a card that is not one
    assert_user_error(cli("export", "--model-dir", str(tmp_path)), "objects.json")


def test_train_evaluate_contract(tmp_path, small_fight_set):
    models = tmp_path / "models"
    res = cli("train", "--task", "fight", "--dataset", small_fight_set, "--model-dir", str(models))
    assert res.returncode == 0, res.stderr
    meta = json.loads((models / "fight.json").read_text())
    assert meta["schema_version"] == 2 and meta["backend"] == "arrays" and meta["task"] == "fight"
    assert set(meta["files"]) == {"fight.npz"} and len(meta["files"]["fight.npz"]) == 64
    assert 0.0 < meta["threshold"] < 1.0 and meta["training"]["n"] == 24

    out = tmp_path / "eval"
    res = cli("evaluate", "--task", "fight", "--dataset", small_fight_set, "--model-dir", str(models), "--out", str(out))
    assert res.returncode == 0, res.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert METRIC_KEYS <= set(metrics)
    assert metrics["task"] == "fight" and metrics["n"] == 24
    assert metrics["threshold"] == pytest.approx(meta["threshold"])  # the saved one, not refitted
    (tn, fp), (fn, tp) = metrics["confusion"]
    assert tn + fp + fn + tp == 24
    with open(out / "predictions.csv", newline="") as fh:
        preds = list(csv.reader(fh))
    assert len(preds) == 25 and preds[0][:4] == ["path", "label", "score", "predicted"]
    # Each prediction is the saved threshold applied to its score (scores are written to 6 decimals).
    for p in preds[1:]:
        if abs(float(p[2]) - meta["threshold"]) > 1e-6:
            assert p[3] == ("fight" if float(p[2]) > meta["threshold"] else "normal"), (p, meta["threshold"])
    assert (out / "roc.png").stat().st_size > 1000

    # A setting the site chose that differs from the model's training is used, and said in one line.
    res = cli("run", "--source", os.path.join(small_fight_set, preds[1][0]), "--model-dir", str(models),
              "--max-frames", "3", "--events", str(tmp_path / "ev.jsonl"), "--hardware", "none", *in_tmp(tmp_path),
              "--set", "motion.flow_every=4", "--set", "source.offline_after_s=2")
    assert res.returncode == 0, res.stderr
    warned = [x for x in res.stderr.splitlines() if x.startswith("warning:")]
    assert len(warned) == 1 and "motion.flow_every=4 (trained with 3)" in warned[0]
    assert "offline_after_s" not in warned[0]

    # A model trained on another version's features is refused, not scored on the wrong columns.
    meta_path = models / "fight.json"
    kept = meta_path.read_text()
    meta_path.write_text(json.dumps({**meta, "features": meta["features"] + ["flow_turn_mean"]}))
    assert_user_error(cli("evaluate", "--task", "fight", "--dataset", small_fight_set, "--model-dir", str(models),
                          "--out", str(out)), "retrain")
    meta_path.write_text(kept)

    # A model file changed after training fails its checksum: exit 2, one line, nothing opened.
    blob = models / "fight.npz"
    blob.write_bytes(blob.read_bytes() + b"\0")
    assert_user_error(cli("evaluate", "--task", "fight", "--dataset", small_fight_set, "--model-dir", str(models),
                          "--out", str(out)), "checksum")
    assert_user_error(cli("run", "--source", small_fight_set + "/labels.csv", "--model-dir", str(models)), "checksum")


def test_evaluate_cross_validation(tmp_path, small_fight_set):
    out = tmp_path / "cv"
    res = cli("evaluate", "--task", "fight", "--dataset", small_fight_set, "--out", str(out), "--cv", "3")
    assert res.returncode == 0, res.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert METRIC_KEYS <= set(metrics) and metrics["cv_folds"] == 3 and len(metrics["fold_thresholds"]) == 3


def test_output_paths_are_checked_before_any_work(tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    folder = tmp_path / "folder"
    folder.mkdir()
    assert_user_error(cli("run", "--source", "missing.mp4", "--events", str(folder)), "--events", "folder")
    assert_user_error(cli("demo", "--save-video", str(tmp_path / "x.xyz")), ".avi or .mp4")
    assert_user_error(cli("bench", "--source", "missing.mp4", "--out", str(folder)), "--out", "folder")
    assert_user_error(cli("bench", "--source", "missing.mp4", "--out", str(tmp_path / "b.json"), "--repeat", "0"),
                      "--repeat")
    assert_user_error(cli("evaluate", "--task", "fight", "--dataset", str(tmp_path), "--out", str(a_file)),
                      "--out", "not a folder")
    assert_user_error(cli("evaluate", "--task", "fight", "--dataset", str(tmp_path), "--out", str(folder),
                          "--cv", "2", "--seed", "-1"), "--seed")
    assert_user_error(cli("train", "--task", "fight", "--dataset", str(tmp_path), "--model-dir", str(a_file)),
                      "--model-dir")


def test_bad_dataset(tmp_path):
    assert_user_error(cli("train", "--task", "fight", "--dataset", str(tmp_path), "--model-dir", str(tmp_path)),
                      "labels.csv")
    (tmp_path / "labels.csv").write_text("clip,label\nx.mp4,brawl\n")
    assert_user_error(cli("train", "--task", "fight", "--dataset", str(tmp_path), "--model-dir", str(tmp_path)),
                      "brawl")


def test_bench_contract(tmp_path):
    clip = shared("fight_surv", "noFight", "nofi022.mp4")
    out = tmp_path / "bench.json"
    res = cli("bench", "--source", clip, "--out", str(out), "--repeat", "1", "--model-dir", str(tmp_path))
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    assert BENCH_KEYS <= set(data)
    assert data["frames"] == 60
    for k in ("decode_ms", "classical_ms", "cascade_ms", "peak_rss_mb", "decode_cpu_ms", "classical_cpu_ms"):
        assert data[k] > 0
    assert 0.0 <= data["escalated_fraction"] <= 1.0
    assert data["classical_over_decode_cpu"] == pytest.approx(data["classical_cpu_ms"] / data["decode_cpu_ms"], rel=0.01)
    assert data["opencv_threads"] == 1  # what run.py runs with
    parts = data["classical_parts_ms"]
    # One part per enabled detector, named as registered, besides the features and the rest (skimming
    # needs a fascia configured: without one it is not built).
    from pipeline.classical import build_detectors
    from pipeline.config import load_config
    enabled = {d.name for d in build_detectors(load_config(None, []), 25.0)}
    assert {"tamper", "people", "crowding", "fight", "left_object", "face", "loitering", "surfing"} <= enabled
    assert "skimming" not in enabled
    assert set(parts) == {"grey_shrink", "motion", "flow", "rest"} | enabled
    assert all(v >= 0 for v in parts.values())
    ratios = data["classical_parts_over_decode"]
    assert set(ratios) == set(parts) and ratios["left_object"] == pytest.approx(
        parts["left_object"] / data["decode_ms"], rel=0.02, abs=1e-3)
    assert parts["grey_shrink"] > 0 and parts["motion"] > 0 and parts["tamper"] > 0
    # Flow runs at most on every 3rd frame (motion.flow_every), plus the first moving one.
    assert 0 < data["flow_calls_per_frame"] <= 1 / 3 + 1 / data["frames"]
    assert data["flow_ms_per_call"] == pytest.approx(parts["flow"] / data["flow_calls_per_frame"], rel=0.01)
    res = cli("bench", "--source", clip, "--out", str(out), "--repeat", "1", "--model-dir", str(tmp_path),
              "--set", "runtime.opencv_threads=2", "--set", "tamper.enabled=false", "--set", "motion.flow_every=6")
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    assert data["opencv_threads"] == 2
    assert "tamper" not in data["classical_parts_ms"] and data["tamper_ms"] == 0  # disabled: not built
    assert data["flow_calls_per_frame"] <= 1 / 6 + 1 / data["frames"]
    assert_user_error(cli("bench", "--source", clip, "--out", str(out), "--set", "runtime.opencv_threads=-2"),
                      "runtime.opencv_threads")


def test_unusable_storage_dir_is_one_line_exit_2(tmp_path):
    clip = shared("fight_surv", "noFight", "nofi022.mp4")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    res = cli("run", "--source", clip, "--set", f"storage_dir={blocker}")
    assert_user_error(res, "storage_dir", str(blocker))
