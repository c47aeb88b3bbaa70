"""`run` as a kiosk service, against a real HTTP MJPEG camera served on loopback by the test itself:
outages with their end, a flapping stream as one episode, evidence timed by the frames' own clock,
a clean stop on SIGTERM, and stdout that carries event lines only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from conftest import ROOT
from helpers.mjpeg_server import MjpegCamera

W, H = 320, 240


def _scene() -> np.ndarray:
    rng = np.random.default_rng(0)
    img = cv2.resize(rng.uniform(40, 200, (6, 8)).astype(np.float32), (W, H), interpolation=cv2.INTER_NEAREST)
    img += cv2.GaussianBlur(rng.normal(0, 25, (H, W)).astype(np.float32), (0, 0), 1.0)
    for k in range(10):
        cv2.line(img, (int(rng.integers(0, W)), int(rng.integers(0, H))),
                 (int(rng.integers(0, W)), int(rng.integers(0, H))), float(rng.uniform(0, 255)), 2)
    return np.clip(np.stack([img] * 3, axis=2), 0, 255).astype(np.uint8)


SCENE = _scene()
NOISE = [np.clip(SCENE.astype(np.int16) + np.random.default_rng(i).normal(0, 2, SCENE.shape), 0, 255).astype(np.uint8)
         for i in range(8)]


def scene_frames(i: int) -> np.ndarray:
    return NOISE[i % len(NOISE)]


def _run(url: str, tmp_path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    args = [sys.executable, os.path.join(ROOT, "run.py"), "run", "--source", url, "--hardware", "none",
            "--model-dir", str(tmp_path / "none"), "--events", str(tmp_path / "ev.jsonl"),
            "--set", f"storage_dir={tmp_path / 'var'}", *extra]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=None if env is None else {**os.environ, **env})


def _events(tmp_path) -> list[dict]:
    path = tmp_path / "ev.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def test_an_outage_raises_one_offline_event_and_one_end_record_with_its_length(tmp_path):
    with MjpegCamera(scene_frames, fps=25) as cam:
        proc = _run(cam.url, tmp_path, "--max-frames", "150")
        time.sleep(4.0)
        cam.up.clear()                 # the camera goes down for 2.5 s ...
        time.sleep(2.5)
        cam.up.set()                   # ... and comes back
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    offline = [e for e in _events(tmp_path) if e["type"] == "camera_offline"]
    assert [e.get("phase", "start") for e in offline] == ["start", "end"], err
    assert offline[1]["duration_s"] >= 2.0 and offline[1]["evidence_id"]
    assert err.count("camera reconnected after") == 1


def test_a_flapping_stream_is_one_unstable_episode(tmp_path):
    with MjpegCamera(scene_frames, fps=25) as cam:
        cam.drop_every = 12            # every connection drops after half a second
        proc = _run(cam.url, tmp_path, "--max-frames", "120", "--set", "tamper.offline_s=3",
                    "--set", "source.backoff_max_s=0.5")
        out, err = proc.communicate(timeout=90)
    assert proc.returncode == 0, err
    unstable = [e for e in _events(tmp_path) if e["type"] == "camera_unstable"]
    assert len([e for e in unstable if e.get("phase", "start") == "start"]) == 1, err
    assert err.count("camera reconnected after") >= 3
    assert not [e for e in _events(tmp_path) if e["type"] == "camera_offline"]


def test_sigterm_after_an_event_finishes_its_clip_timed_by_the_frames_and_exits_0(tmp_path):
    """The camera declares 25 fps (FFmpeg's default for MJPEG) and delivers 30: the clip still has
    3 s of pre-roll and plays in real time (at evidence.max_fps, 15: every other frame kept)."""
    black = np.full((H, W, 3), 3, np.uint8)
    covered_from = 150                 # 5 s of scene, then a cover over the lens
    with MjpegCamera(lambda i: scene_frames(i) if i < covered_from else black, fps=30) as cam:
        proc = _run(cam.url, tmp_path, "--set", "evidence.post_s=2")
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and not any(e["type"] == "camera_covered" for e in _events(tmp_path)):
            time.sleep(0.05)
        assert any(e["type"] == "camera_covered" for e in _events(tmp_path)), "no event to stop after"
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "processed" in err and "Traceback" not in err
    clips = [f for f in os.listdir(tmp_path / "var" / "evidence") if f.endswith(".avi") and "camera_covered" in f]
    assert len(clips) == 1, os.listdir(tmp_path / "var" / "evidence")
    cap = cv2.VideoCapture(str(tmp_path / "var" / "evidence" / clips[0]))
    fps, n = cap.get(cv2.CAP_PROP_FPS), int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    assert fps == pytest.approx(15.0, rel=0.1)
    assert n / fps == pytest.approx(5.0, abs=0.5)      # 3 s before the event, 2 s after: complete


def test_stdout_carries_only_event_lines_with_corrupt_frames(tmp_path):
    """Corrupt JPEGs, and OpenCV's own logging turned up as a site debugging its camera would (its
    INFO lines go to stdout): `run ... > events.jsonl` still gets nothing but event lines."""
    black = np.full((H, W, 3), 3, np.uint8)
    with MjpegCamera(lambda i: scene_frames(i) if i < 60 else black, fps=25) as cam:
        cam.corrupt_every = 7
        proc = _run(cam.url, tmp_path, "--max-frames", "110",
                    env={"OPENCV_LOG_LEVEL": "INFO", "OPENCV_VIDEOIO_DEBUG": "1"})
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines and all(json.loads(x)["type"] for x in lines), out[:500]
    assert "[ INFO" in err   # the library's lines went to stderr


def test_a_stream_down_at_start_is_waited_for_when_configured_and_refused_otherwise(tmp_path):
    with MjpegCamera(scene_frames, fps=25) as cam:
        cam.up.clear()
        refused = _run(cam.url, tmp_path, "--max-frames", "10")
        out, err = refused.communicate(timeout=60)
        assert refused.returncode == 2 and err.strip().splitlines() == [
            f"error: stream could not be opened: {cam.url}"]
        proc = _run(cam.url, tmp_path, "--max-frames", "40", "--set", "source.wait_at_start=true",
                    "--set", "source.offline_after_s=1")
        time.sleep(3.0)
        cam.up.set()
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    offline = [e for e in _events(tmp_path) if e["type"] == "camera_offline"]
    assert [e.get("phase", "start") for e in offline] == ["start", "end"], err
    assert offline[1]["duration_s"] >= 1.0   # down at least offline_after_s, from the first attempt on


def test_the_systemd_unit_restarts_on_failure_and_runs_as_its_own_user():
    import configparser

    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str
    unit.read(os.path.join(ROOT, "deploy", "atm-sentinel.service"))
    service = unit["Service"]
    assert service["Restart"] == "on-failure" and service["User"] and service["WorkingDirectory"]
    assert "run.py run" in service["ExecStart"] and "--config /etc/atm-sentinel/" in service["ExecStart"]
    assert service["KillSignal"] == "SIGTERM" and unit["Install"]["WantedBy"] == "multi-user.target"


def test_a_stream_is_timed_by_the_rate_its_frames_arrive_at():
    """Declares 25 (FFmpeg's MJPEG default), delivers 30: the windows are built for 30 frames a second,
    exactly as for a source that declares 30, so the features span the seconds they say."""
    from pipeline.cascade import Cascade
    from pipeline.config import Config
    from sources.frame_source import FrameSource

    with MjpegCamera(scene_frames, fps=30) as cam:
        with FrameSource(cam.url, measure_fps_s=1.0) as src:
            frames = [next(src) for _ in range(45)]
            assert src.declared_fps == 25.0 and src.fps == pytest.approx(30.0, rel=0.08)
    assert [f.index for f in frames] == list(range(45))        # the frames timed are delivered too
    fight = Cascade(Config(), src.fps).classical.detector("fight")
    assert fight.window.size == Cascade(Config(), 30.0).classical.detector("fight").window.size == 60
