"""Shared test set-up: the project root on sys.path, the real data folder, and a quiet TensorFlow."""

import csv
import os
import shutil
import sys

import cv2
import pytest
from gpiozero import Device
from gpiozero.pins.mock import MockFactory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from hw_io.event_store import EventStore  # noqa: E402  (needs ROOT on sys.path)

SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")


def shared(*parts: str) -> str:
    """Path under ../shared/data; skips the test (with the reason) when that data is absent."""
    path = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"real data not available: {path} (see ../shared/data/README.md)")
    return path


_ROOT = pytest.StashKey()   # this session's tmp_path root, when it is ours to lock and remove


def pytest_sessionstart(session):
    """This session's tmp_path root, locked now and removed when the session ends (pytest.ini:
    tmp_path_retention_policy = none).

    With that policy pytest takes no lock on the root, and a session that starts removes every unlocked
    pytest-N folder, a concurrent session's too (two engineers testing on one machine; a session started
    beside `make test` removed its root in the middle of the run). The lock keeps this session's folder
    from the others. A hook, not a fixture: the pytest-xdist controller (`make test` runs two workers)
    runs no fixture, and its root holds its workers' folders; a worker is given its folder (--basetemp)
    and leaves it to the controller. pytest has no public handle on the root outside a fixture."""
    config = session.config
    if config.getini("tmp_path_retention_policy") == "none" and not config.option.basetemp:
        config.stash[_ROOT] = base = config._tmp_path_factory.getbasetemp()
        (base / ".lock").touch()


def pytest_sessionfinish(session):
    base = session.config.stash.get(_ROOT, None)
    if base is not None:
        (base / ".lock").unlink(missing_ok=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pins():
    """gpiozero's mock pins for one test; the previous factory is put back afterwards."""
    old = Device.pin_factory
    Device.pin_factory = MockFactory()
    yield Device.pin_factory
    Device.pin_factory.reset()
    Device.pin_factory = old


@pytest.fixture
def store(tmp_path):
    """A fresh SQLite event store in the test's own folder."""
    s = EventStore(str(tmp_path / "events.db"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def small_video(tmp_path_factory):
    """The first 12 s of the synthetic booth (two people, then a scuffle), as an MJPG file."""
    from datasets.synthetic_booth import booth_scenario

    sc = booth_scenario()
    path = str(tmp_path_factory.mktemp("video") / "booth.avi")
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), sc.fps, (sc.width, sc.height))
    # The empty booth, then from A's entrance on (the visitors before A are the demo's, not needed here).
    _, empty_end = sc.phase("empty")
    a_in, _ = sc.phase("a_enters")
    frames = [*range(empty_end + 1), *range(a_in, a_in + 400 - (empty_end + 1))]
    for i in frames:
        writer.write(sc.frame(i))
    writer.release()
    return path


@pytest.fixture(scope="session")
def small_fight_set(tmp_path_factory):
    """24 real clips (12 fight, 12 normal) from distinct source videos, as a labelled folder."""
    folder = shared("fight_surv")
    with open(os.path.join(folder, "labels.csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    picked = [r for r in rows if r["label"] == "fight"][::8][:12] + [r for r in rows if r["label"] == "normal"][::8][:12]
    out = tmp_path_factory.mktemp("fightset")
    with open(out / "labels.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["clip", "label", "source_video"])
        for r in picked:
            w.writerow([os.path.join(folder, r["clip"]), r["label"], r["source_video"]])
    return str(out)
