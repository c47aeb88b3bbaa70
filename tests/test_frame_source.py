"""Tests for sources.frame_source: parsing, opening errors, a real file, and scripted reconnects."""

import os
import sys

import cv2
import numpy as np
import pytest

# Lets `pytest tests/...` work without an installed package or a conftest.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from core.errors import UserError  # noqa: E402
from sources.frame_source import Frame, FrameSource, parse_source  # noqa: E402


# -- fakes ---------------------------------------------------------------------------------------

class FakeClock:
    """Monotonic time that only moves when the code under test sleeps."""

    def __init__(self, start=1000.0):
        self.t = start
        self.sleeps = []

    def __call__(self):
        return self.t

    def sleep(self, dt):
        assert dt > 0, "sleep(0) would busy-loop against a real clock"
        self.sleeps.append(dt)
        self.t += dt


class FakeCamera:
    """A capture factory following a plan: one entry per open, the number of frames that session
    delivers before its reads fail, or None for an open that fails. Opens past the plan fail."""

    def __init__(self, plan, clock, size=(640, 480), fps=30.0):
        self.plan = list(plan)
        self.clock = clock
        self.size = size
        self.fps = fps
        self.open_times = []
        self.open_args = []
        self.delivered = []

    def __call__(self, *args):
        self.open_times.append(self.clock())
        self.open_args.append(args)
        frames = self.plan.pop(0) if self.plan else None
        return _FakeCapture(self, frames)


class _FakeCapture:
    def __init__(self, camera, frames):
        self.camera = camera
        self.left = frames
        self.released = False

    def isOpened(self):
        return self.left is not None and not self.released

    def read(self):
        if not self.isOpened() or self.left <= 0:
            return False, None
        self.left -= 1
        w, h = self.camera.size
        image = np.full((h, w, 3), len(self.camera.delivered) % 256, np.uint8)
        self.camera.delivered.append(image)
        return True, image

    def get(self, prop):
        return self.camera.fps if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self):
        self.released = True


def fake_source(plan, src="0", size=(640, 480), fps=30.0, **kw):
    clock = FakeClock()
    camera = FakeCamera(plan, clock, size=size, fps=fps)
    source = FrameSource(src, capture_factory=camera, clock=clock, sleep=clock.sleep, **kw)
    return source, camera, clock


def write_video(path, n=64, size=(160, 120), fps=20.0):
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    assert writer.isOpened()
    for i in range(n):
        image = np.zeros((h, w, 3), np.uint8)
        x = 2 * i % (w - 20)
        image[50:70, x:x + 20] = 255
        writer.write(image)
    writer.release()


# -- parse_source --------------------------------------------------------------------------------

def test_parse_source_kinds(tmp_path):
    video = tmp_path / "clip.avi"
    video.write_bytes(b"x")
    assert parse_source("0") == ("camera", 0)
    assert parse_source("12") == ("camera", 12)
    assert parse_source("rtsp://user:pw@10.0.0.5:554/stream1") == ("stream", "rtsp://user:pw@10.0.0.5:554/stream1")
    assert parse_source("http://cam.local/video.mjpg")[0] == "stream"
    assert parse_source(str(video)) == ("file", str(video))
    assert parse_source(f"file://{video}") == ("file", str(video))


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "missing.mp4"
    with pytest.raises(UserError, match="video file not found") as err:
        FrameSource(str(missing))
    assert str(missing) in str(err.value)


def test_directory_is_rejected(tmp_path):
    with pytest.raises(UserError, match="directory") as err:
        FrameSource(str(tmp_path))
    assert str(tmp_path) in str(err.value)


def test_corrupt_file_is_one_clean_user_error(tmp_path, capfd):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    with pytest.raises(UserError) as err:
        FrameSource(str(bad))
    assert str(err.value) == f"cannot read video: {bad} (not a video, or corrupt)"
    captured = capfd.readouterr()
    assert (captured.out, captured.err) == ("", "")  # no FFmpeg/OpenCV chatter around the one line


# -- a real file ---------------------------------------------------------------------------------

def test_reads_real_video_completely_and_resizes(tmp_path):
    path = tmp_path / "clip.avi"
    write_video(path, n=64, size=(160, 120), fps=20.0)
    with FrameSource(str(path), process_width=80) as source:
        assert source.kind == "file"
        assert source.fps == pytest.approx(20.0)
        assert source.source_size == (160, 120)
        assert source.process_size == (80, 60)
        frames = list(source)
    assert len(frames) == 64
    assert [f.index for f in frames] == list(range(64))
    for f in frames:
        assert isinstance(f, Frame)
        assert f.time_s == pytest.approx(f.index / 20.0)
        assert f.image.shape == (60, 80, 3)
        assert f.scale == 2.0
        assert f.source_size == (160, 120)
    # The square moves right: its column in processing pixels, times scale, is near where it was drawn.
    cols = [np.nonzero(frames[i].image[:, :, 0].max(axis=0) > 128)[0].min() for i in (0, 20)]
    assert cols[0] * 2.0 == pytest.approx(0, abs=2) and cols[1] * 2.0 == pytest.approx(40, abs=2)


def test_narrow_source_is_not_resized_or_copied():
    source, camera, _ = fake_source([5], size=(160, 120), process_width=320)
    frame = next(source)
    assert source.process_size == (160, 120) and frame.scale == 1.0
    assert frame.image is camera.delivered[0]


def test_odd_aspect_gives_even_height():
    source, _, _ = fake_source([2], size=(641, 359), process_width=320)
    w, h = source.process_size
    assert w == 320 and h % 2 == 0 and abs(h - 359 * 320 / 641) <= 1
    assert next(source).image.shape == (h, w, 3)


@pytest.mark.parametrize("raw", [0.0, float("nan"), 1000.0])
def test_implausible_fps_falls_back(raw):
    source, _, _ = fake_source([1], fps=raw)
    assert source.fps == 25.0


# -- cameras and streams -------------------------------------------------------------------------

def test_camera_that_will_not_open():
    with pytest.raises(UserError, match=r"^camera 7 could not be opened$"):
        fake_source([None], src="7")


def test_stream_that_will_not_open_hides_password():
    with pytest.raises(UserError) as err:
        fake_source([None], src="rtsp://admin:secret@10.0.0.5/live")
    assert str(err.value) == "stream could not be opened: rtsp://admin:***@10.0.0.5/live"


def test_stream_is_opened_with_timeouts():
    source, camera, _ = fake_source([1], src="rtsp://10.0.0.5/live", open_timeout_s=2.0)
    url, api, params = camera.open_args[0]
    assert url == "rtsp://10.0.0.5/live" and api == cv2.CAP_ANY
    assert dict(zip(params[::2], params[1::2]))[cv2.CAP_PROP_OPEN_TIMEOUT_MSEC] == 2000


def test_reconnects_with_backoff_and_reports_outage_once():
    seen = []
    source, camera, clock = fake_source([3, None, None, 4], offline_after_s=1.5, on_status=seen.append)
    frames = [next(source) for _ in range(7)]

    assert [f.index for f in frames] == list(range(7))
    assert [f.image[0, 0, 0] for f in frames] == list(range(7))  # every delivered frame, none lost
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert frames[2].time_s == 0.0 and frames[3].time_s == pytest.approx(3.5)
    assert source.kind == "camera"

    events = source.pop_status_events()
    # Every reconnect is noted (flapping is made of them); the outage has its start and its end.
    assert [e["type"] for e in events] == ["camera_offline", "camera_reconnected", "camera_online"]
    assert events[0]["down_s"] == pytest.approx(1.5) and events[0]["time_s"] == pytest.approx(1.5)
    assert events[1]["down_s"] == pytest.approx(3.5) and events[2]["down_s"] == pytest.approx(3.5)
    assert events[2]["time_s"] == pytest.approx(3.5)
    assert seen == events  # the callback hears each notice as it happens
    assert source.pop_status_events() == []
    source.close()


def test_short_blip_is_a_reconnect_not_an_outage():
    source, _, clock = fake_source([2, 2], offline_after_s=5.0)
    assert [next(source).index for _ in range(4)] == [0, 1, 2, 3]
    assert clock.sleeps == [0.5]
    assert [e["type"] for e in source.pop_status_events()] == ["camera_reconnected"]


def test_never_recovers_and_max_reconnect_bounds_iteration():
    source, camera, clock = fake_source([2], offline_after_s=3.0, backoff_max_s=2.0, max_reconnect_s=9.0)
    frames = list(source)

    assert [f.index for f in frames] == [0, 1]
    down_since = camera.open_times[0]
    gaps = np.diff([t - down_since for t in camera.open_times])
    assert gaps.tolist() == [0.5, 1.0, 2.0, 2.0, 2.0]  # doubling, capped at backoff_max_s
    assert sum(clock.sleeps) == pytest.approx(9.0)
    events = source.pop_status_events()
    assert [e["type"] for e in events] == ["camera_offline"]
    assert events[0]["down_s"] == pytest.approx(3.0)
    assert next(source, None) is None  # stays finished


def test_camera_can_opt_out_of_reconnecting():
    source, camera, clock = fake_source([2], reconnect=False)
    assert len(list(source)) == 2
    assert len(camera.open_times) == 1 and clock.sleeps == []
