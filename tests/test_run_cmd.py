"""`run`'s offline watchdog thread: a camera that stops delivering is reported once, while still down."""

from __future__ import annotations

import threading
import time

from cli.run_cmd import _watch
from detectors.tamper import OfflineWatchdog
from pipeline.cascade import Cascade


class _Cascade:
    state = "idle"
    status_event = Cascade.status_event  # the real conversion, without building a whole cascade


def test_watchdog_thread_reports_a_silent_camera_once():
    wd = OfflineWatchdog(0.2)
    wd.feed()
    got, stop = [], threading.Event()
    t = threading.Thread(target=_watch, args=(wd, stop, _Cascade(), [41], got.append), daemon=True)
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
    t = threading.Thread(target=_watch, args=(wd, stop, _Cascade(), [0], got.append), daemon=True)
    t.start()
    for _ in range(30):
        wd.feed()
        time.sleep(0.02)
    stop.set()
    t.join(2)
    assert got == []
