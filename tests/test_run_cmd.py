"""`run`: the offline watchdog thread, the order in which an event is handled, the SIGHUP threshold
reload, and the models it says it uses."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from classifiers import fight_store
from cli.run_cmd import _reload_threshold, _watch
from conftest import ROOT
from core.errors import UserError
from detectors.tamper import OfflineWatchdog
from hw_io.event_store import EventStore
from hw_io.outbox import Outbox
from pipeline.cascade import Cascade
from pipeline.config import Config, load_config
from pipeline.models import describe_models, load_models


class _Cascade:
    state = "idle"
    status_event = Cascade.status_event  # the real conversion, without building a whole cascade


def test_watchdog_thread_reports_a_silent_camera_once():
    wd = OfflineWatchdog(0.2)
    wd.feed()
    got, stop = [], threading.Event()
    t = threading.Thread(target=_watch, args=(wd, stop, _Cascade(), SimpleNamespace(last_index=41), got.append), daemon=True)
    t.start()
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.4)  # several more checks while still down: no second event for the same outage
    stop.set()
    t.join(2)
    assert len(got) == 1
    ev = got[0].to_dict()
    assert ev["type"] == "camera_offline" and ev["frame"] == 41 and ev["state"] == "idle"
    assert ev["down_s"] >= 0.2


def test_watchdog_thread_is_quiet_while_frames_arrive():
    wd = OfflineWatchdog(0.3)
    got, stop = [], threading.Event()
    t = threading.Thread(target=_watch, args=(wd, stop, _Cascade(), SimpleNamespace(last_index=0), got.append), daemon=True)
    t.start()
    for _ in range(30):
        wd.feed()
        time.sleep(0.02)
    stop.set()
    t.join(2)
    assert got == []


def _wait_for(cond, timeout_s=10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_watchdog_thread_survives_a_failing_alarm(capsys):
    now = [0.0]
    wd = OfflineWatchdog(1.0, clock=lambda: now[0])
    wd.feed()
    calls, stop = [], threading.Event()

    def handle(ev):
        calls.append(ev)
        if len(calls) == 1:
            raise RuntimeError("event store locked")

    t = threading.Thread(target=_watch, args=(wd, stop, _Cascade(), SimpleNamespace(last_index=0), handle), daemon=True)
    t.start()
    now[0] = 5.0                      # first outage: its handling fails
    _wait_for(lambda: len(calls) == 1)
    wd.feed()                         # the camera came back ...
    now[0] = 10.0                     # ... and went down again: this alarm must still fire
    _wait_for(lambda: len(calls) == 2)
    stop.set()
    t.join(2)
    assert len(calls) == 2 and calls[1].type == "camera_offline"
    err = capsys.readouterr().err
    assert "camera_offline alarm not fully handled: RuntimeError: event store locked" in err


def _run(*args):
    return subprocess.run([sys.executable, os.path.join(ROOT, "run.py"), "run", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux) to fill the disk")
def test_a_full_events_file_loses_no_alarm(tmp_path, small_video):
    var = tmp_path / "var"
    res = _run("--source", small_video, "--events", "/dev/full", "--set", f"storage_dir={var}",
               "--set", "alerts.recipients=['+15550100']", "--hardware", "mock",
               "--model-dir", str(tmp_path / "no-models"))
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert "warning: could not append event to /dev/full: No space left on device" in res.stderr
    store = EventStore(str(var / "events.sqlite"))
    try:
        events = {e["id"]: e["type"] for e in store.list_events()}
    finally:
        store.close()
    assert "crowding" in events.values()
    outbox = Outbox(str(var / "outbox.sqlite"))
    try:
        first = outbox.get(1)  # sent or still queued: committed either way
    finally:
        outbox.close()
    assert first.recipient == "+15550100" and events[first.event_id] in first.text
    assert f"models: none trained in {tmp_path / 'no-models'}, built-in defaults" in res.stderr


def test_threshold_reload_applies_floor_and_ceiling(tmp_path, capsys):
    cascade = Cascade(load_config(None, []), 25.0)
    site = tmp_path / "site.yaml"
    site.write_text("motion:\n  threshold:\n    method: iterative\n    floor: 5\n    ceiling: 60\n")
    _reload_threshold(cascade, argparse.Namespace(config=str(site), overrides=[], model_dir="models/"), {})
    th = cascade.classical.features.motion.thresholder
    assert (th.method, th.value, th.floor, th.ceiling) == ("iterative", None, 5.0, 60.0)
    assert "motion threshold now: method iterative, value none, floor 5, ceiling 60" in capsys.readouterr().err


def test_threshold_reload_leaves_defaults_to_the_model(tmp_path, capsys):
    cascade = Cascade(load_config(None, []), 25.0)
    trained = Config.model_validate({"motion": {"threshold": {"floor": 12.0, "ceiling": 40.0}}})
    meta = {"feature_config": fight_store.feature_config(trained)}
    args = argparse.Namespace(config=None, overrides=["motion.threshold.ceiling=50"], model_dir="models/")
    _reload_threshold(cascade, args, {"fight": meta})
    th = cascade.classical.features.motion.thresholder
    assert (th.floor, th.ceiling) == (12.0, 50.0)  # floor left at default: the model's; ceiling: the site's
    assert "floor 12, ceiling 50" in capsys.readouterr().err


def test_run_names_its_models():
    assert describe_models({}, "models/") == "models: none trained in models/, built-in defaults"
    meta = {"sha256": "0123456789abcdef" * 4}
    assert describe_models({"fight": meta}, "m/") == "models: fight (sha256 0123456789ab) from m/"


def test_model_dir_that_is_a_file_or_half_a_model_is_a_user_error(tmp_path):
    cfg = load_config(None, [])
    assert load_models(str(tmp_path / "absent"), cfg)[1:] == ({}, {})  # a fresh install: built-in defaults
    assert load_models(str(tmp_path), cfg)[1:] == ({}, {})  # an empty folder: the same
    a_file = tmp_path / "models.txt"
    a_file.write_text("")
    with pytest.raises(UserError, match=f"--model-dir {a_file} is not a folder"):
        load_models(str(a_file), cfg)
    # Half a model is refused, never replaced by the built-in rule without a word.
    for present, says in (("fight.npz", "model not found"), ("fight.json", "card"),
                          ("fight.joblib", "saved by an older version as a pickle")):
        half = tmp_path / present.replace(".", "-")
        half.mkdir()
        (half / present).write_text("")
        with pytest.raises(UserError, match=says):
            load_models(str(half), cfg)


def test_model_dir_that_is_a_file_is_one_line_exit_2(tmp_path):
    a_file = tmp_path / "models.txt"
    a_file.write_text("")
    res = _run("--source", str(a_file), "--model-dir", str(a_file))
    assert res.returncode == 2 and res.stderr.strip() == f"error: --model-dir {a_file} is not a folder"


def test_a_region_that_does_not_fit_the_source_is_one_line_before_any_frame(tmp_path, small_video):
    """A fascia drawn on another camera's snapshot: refused as soon as the source's picture size is
    known, in one line on stderr (the start-up lines about models and hardware come after it)."""
    res = _run("--source", small_video, "--set", f"storage_dir={tmp_path / 'var'}", "--hardware", "none",
               "--set", "skimming.roi=[5000, 0, 50, 50]")
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.strip().splitlines() == [res.stderr.strip()]
    assert "invalid config: skimming.roi [5000, 0, 50, 50] lies outside the" in res.stderr
