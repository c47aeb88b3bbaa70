"""Frames from a camera, a video file or a network stream, with a processing-size view made on demand.

A camera or stream that drops out is reopened with exponential backoff instead of raising, because
the kiosk must keep watching unattended; outages are reported through `pop_status_events()`.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections import deque
import time
from functools import cached_property
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit, unquote

# FFmpeg reads this once, on first use, so it must be set before any capture is opened; it is what
# keeps "moov atom not found" and friends off the user's terminal. setdefault: a user debugging a
# camera can still ask for more.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "8")  # AV_LOG_FATAL
os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")

import cv2  # noqa: E402  (must follow the environment set-up above)
import numpy as np  # noqa: E402

from core.errors import UserError  # noqa: E402
from pydantic import Field

from core.settings import Section

CAMERA, STREAM, FILE = "camera", "stream", "file"

class SourceConfig(Section):
    """The camera, file or stream, and how its health is judged."""

    process_width: int = Field(320, ge=64, le=1920,
                               description="evidence clips (and later stages) get frames at most this wide; the "
                                           "cheap stage reads the decoded frame itself")
    backoff_initial_s: float = Field(0.5, gt=0, description="first wait before reconnecting a dropped camera or stream")
    backoff_max_s: float = Field(8.0, gt=0, description="reconnect waits double up to this")
    unstable_reconnects: int = Field(3, ge=2, le=1000,
                                     description="this many reconnects within unstable_window_s is a flapping "
                                                 "camera: one camera_unstable episode, not one alarm per drop")
    unstable_window_s: float = Field(60.0, gt=0, le=86400,
                                     description="the window for unstable_reconnects; the episode ends after "
                                                 "this long without a reconnect")
    measure_fps_s: float = Field(1.0, ge=0, le=30,
                                 description="a camera or stream is timed for this long at the start and its real "
                                             "frame rate used for every window and timer (0: trust the rate it "
                                             "declares; an MJPEG stream says 25 whatever it sends)")
    wait_at_start: bool = Field(False, description="a camera or stream that is down when run starts is retried with "
                                                   "the backoff and reported offline, instead of exit 2 (a kiosk)")
    offline_after_s: float = Field(5.0, gt=0,
                                   description="a camera down this long raises camera_offline when tamper.enabled "
                                               "is false; with tamper on, the tamper watchdog's offline_s decides")


DEFAULT_FPS = 25.0
_MAX_PLAUSIBLE_FPS = 240.0
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


class Frame:
    """One frame as decoded (`raw`, source pixels) and, on first use, resized to the processing size.

    The resize is lazy because the cheap stage never needs it: it greys and shrinks `raw` itself, which
    costs a fraction of resizing three colour channels. Only the stages that look at colour at the
    processing size (evidence, the deep models) pay for `image`, and only on the frames they use.
    """

    __slots__ = ("index", "time_s", "raw", "process_size", "__dict__")

    def __init__(self, index: int, time_s: float, raw: np.ndarray, process_size: tuple[int, int] | None = None):
        self.index = index
        self.time_s = time_s
        self.raw = raw
        h, w = raw.shape[:2]
        self.process_size = (int(w), int(h)) if process_size is None else (int(process_size[0]), int(process_size[1]))

    @property
    def source_size(self) -> tuple[int, int]:
        return int(self.raw.shape[1]), int(self.raw.shape[0])

    @property
    def scale(self) -> float:
        """Source pixels per processing pixel."""
        return self.raw.shape[1] / self.process_size[0]

    @cached_property
    def image(self) -> np.ndarray:
        """BGR at the processing size; `raw` itself when no resize is needed."""
        if self.process_size == self.source_size:
            return self.raw
        return cv2.resize(self.raw, self.process_size, interpolation=cv2.INTER_AREA)


def process_size(width: int, height: int, process_width: int) -> tuple[int, int]:
    """The processing size of a `width` x `height` frame: at most `process_width` wide, even height."""
    if width > process_width:
        return int(process_width), max(2, int(round(height * process_width / width / 2.0)) * 2)
    return int(width), int(height)


def parse_source(src: str) -> tuple[str, Any]:
    """Classify `src` as ("camera", int), ("stream", url) or ("file", path); check that a file exists."""
    text = str(src).strip()
    if not text:
        raise UserError("video source is empty: give a camera index, a video file or a stream URL")
    if text.isdigit():
        return CAMERA, int(text)
    m = _SCHEME_RE.match(text)
    if m and m.group(1).lower() != "file":
        return STREAM, text
    path = unquote(urlsplit(text).path) if m else text
    if not os.path.exists(path):
        raise UserError(f"video file not found: {path}")
    if os.path.isdir(path):
        raise UserError(f"video source is a directory, not a video file: {path}")
    return FILE, path


def _redact(url: str) -> str:
    """The URL with any password hidden, since messages and logs leave the kiosk."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
        if parts.port is not None:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return url


def _quiet_opencv() -> None:
    # The environment variable only works if set before cv2 was first imported, which another module
    # may already have done; the API call covers that case.
    if os.environ.get("OPENCV_LOG_LEVEL", "").upper() not in ("", "ERROR"):
        return
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is not None and hasattr(logging, "setLogLevel"):
        logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    elif hasattr(cv2, "setLogLevel"):
        cv2.setLogLevel(3)  # ERROR in the old numbering


def _sane_fps(value: Any) -> float:
    try:
        fps = float(value)
    except (TypeError, ValueError):
        return DEFAULT_FPS
    if not math.isfinite(fps) or fps <= 0 or fps > _MAX_PLAUSIBLE_FPS:
        return DEFAULT_FPS
    return fps


def _valid(image: Any) -> bool:
    return isinstance(image, np.ndarray) and image.ndim >= 2 and image.shape[0] > 0 and image.shape[1] > 0


class FrameSource:
    """Iterator of `Frame`s from a camera index, a video file or a stream URL; also a context manager."""

    def __init__(
        self,
        src: str,
        process_width: int = 320,
        reconnect: bool | None = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 8.0,
        offline_after_s: float = 5.0,
        open_timeout_s: float | None = 5.0,
        max_reconnect_s: float | None = None,
        capture_factory: Callable[..., Any] = cv2.VideoCapture,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_status: Callable[[dict], None] | None = None,
        stop: threading.Event | None = None,
        wait_at_start: bool = False,
        measure_fps_s: float = 0.0,
    ) -> None:
        """`stop`: once set, a reconnect in progress gives up at once (a service being stopped must
        not wait out a backoff). `wait_at_start`: a camera or stream that is down at the start is
        retried with the same backoff (and reported offline) instead of refused; a file never is.
        `measure_fps_s`: a camera or stream is timed for this long at the start, and `fps` is the rate
        its frames actually arrived at, not the one it declares (an MJPEG stream says 25 whatever it
        sends): the windows, persistence and speeds built from `fps` then span the seconds they say.
        The frames read meanwhile are delivered as usual, with their arrival times."""
        if int(process_width) <= 0:
            raise UserError(f"process width must be a positive number of pixels, got {process_width}")
        self.src = str(src)
        self.kind, self._value = parse_source(self.src)
        self.process_width = int(process_width)
        self.reconnect = self.kind != FILE if reconnect is None else bool(reconnect)
        self.backoff_initial_s = float(backoff_initial_s)
        self.backoff_max_s = max(float(backoff_max_s), self.backoff_initial_s)
        self.offline_after_s = float(offline_after_s)
        self.open_timeout_s = open_timeout_s
        self.max_reconnect_s = max_reconnect_s
        self._factory = capture_factory
        self._clock = clock
        self._sleep = sleep
        self._on_status = on_status
        self._stop = stop

        self._cap: Any = None
        self._pending: np.ndarray | None = None
        self._next_index = 0
        self._events: list[dict] = []
        self._closed = False
        self._down_since: float | None = None
        self._offline_reported = False

        _quiet_opencv()
        self._t_open = clock()
        cap, image = self._open_once()
        if cap is None:
            if not wait_at_start or self.kind == FILE:
                raise UserError(self._cannot_open_message())
            self._down_since = self._t_open   # down since the first attempt, not since it failed
            image = self._recover()
            if image is None:      # stopped while waiting: a source that delivers nothing
                self._closed = True
                self.fps, self.source_size, self.process_size, self.scale = DEFAULT_FPS, (0, 0), (0, 0), 1.0
                return
            cap = self._cap
        self._cap = cap
        self._pending = image
        self.fps = _sane_fps(cap.get(cv2.CAP_PROP_FPS))
        self.declared_fps = self.fps
        self._set_sizes(image)
        self._early: deque[Frame] = deque()
        if measure_fps_s > 0 and self.kind != FILE:
            self._measure_fps(measure_fps_s)

    # -- opening ---------------------------------------------------------------------------------

    def _label(self) -> str:
        if self.kind == CAMERA:
            return f"camera {self._value}"
        if self.kind == STREAM:
            return f"stream {_redact(self._value)}"
        return f"video {self._value}"

    def _cannot_open_message(self) -> str:
        if self.kind == CAMERA:
            return f"camera {self._value} could not be opened"
        if self.kind == STREAM:
            return f"stream could not be opened: {_redact(self._value)}"
        return f"cannot read video: {self._value} (not a video, or corrupt)"

    def _make_capture(self) -> Any:
        if self.kind == STREAM and self.open_timeout_s:
            # Without these a dead RTSP/HTTP host can block open() or read() for a minute or more,
            # which would stall the whole pipeline and the offline notice with it.
            ms = int(float(self.open_timeout_s) * 1000)
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
            return self._factory(self._value, cv2.CAP_ANY, params)
        return self._factory(self._value)

    def _open_once(self) -> tuple[Any, np.ndarray | None]:
        """Open and read one frame; (capture, frame) on success, (None, None) otherwise."""
        cap = None
        try:
            cap = self._make_capture()
            if cap is not None and cap.isOpened():
                ok, image = cap.read()
                if ok and _valid(image):
                    return cap, image
        except cv2.error:
            pass  # a backend that throws is as down as one that returns False
        if cap is not None:
            try:
                cap.release()
            except cv2.error:
                pass
        return None, None

    def _set_sizes(self, image: np.ndarray) -> None:
        h, w = image.shape[:2]
        self.source_size = (int(w), int(h))
        self.process_size = process_size(w, h, self.process_width)
        # One factor for both axes: the even-height rounding is under a pixel, well below what any
        # detector's boxes resolve.
        self.scale = w / self.process_size[0]

    # -- iteration -------------------------------------------------------------------------------

    def __iter__(self) -> "FrameSource":
        return self

    def _measure_fps(self, seconds: float) -> None:
        start = self._clock()
        while self._clock() - start < seconds:
            try:
                self._early.append(self._read())
            except StopIteration:
                break
        if len(self._early) >= 5:
            span = self._early[-1].time_s - self._early[0].time_s
            if span > 0:
                self.fps = _sane_fps((len(self._early) - 1) / span)

    def __next__(self) -> Frame:
        if self._early:
            return self._early.popleft()
        return self._read()

    def _read(self) -> Frame:
        if self._closed:
            raise StopIteration
        image = self._pending
        self._pending = None
        while image is None:
            try:
                ok, image = self._cap.read() if self._cap is not None else (False, None)
            except cv2.error:
                ok, image = False, None  # some backends throw on a yanked device instead of failing
            if ok and _valid(image):
                break
            image = None
            if self.kind == FILE or not self.reconnect:
                self.close()
                raise StopIteration
            image = self._recover()
            if image is None:
                self.close()
                raise StopIteration
        return self._make_frame(image)

    def _make_frame(self, image: np.ndarray) -> Frame:
        h, w = image.shape[:2]
        if (w, h) != self.source_size:
            # Only after a reconnect to a camera that came back at another resolution.
            self._set_sizes(image)
        index = self._next_index
        self._next_index += 1
        if self.kind == FILE:
            t = index / self.fps
        else:
            t = self._clock() - self._t_open
        return Frame(index, float(t), image, self.process_size)

    def _recover(self) -> np.ndarray | None:
        """Reopen with exponential backoff until a frame arrives; None when max_reconnect_s runs out."""
        if self._cap is not None:
            try:
                self._cap.release()
            except cv2.error:
                pass
            self._cap = None
        if self._down_since is None:
            self._down_since = self._clock()
        self._offline_reported = False
        # Absolute deadlines: comparing "now - start >= limit" instead can fall a rounding error
        # short of a wake-up time computed as "start + limit" and spin on sleep(0).
        offline_at = self._down_since + self.offline_after_s
        give_up_at = None if self.max_reconnect_s is None else self._down_since + self.max_reconnect_s
        delay = self.backoff_initial_s
        next_try = self._down_since + delay
        while True:
            if self._stop is not None and self._stop.is_set():
                return None
            now = self._clock()
            if not self._offline_reported and now >= offline_at:
                self._offline_reported = True
                self._record({"type": "camera_offline", "time_s": now - self._t_open,
                              "down_s": now - self._down_since, "source": self._label()})
            if give_up_at is not None and now >= give_up_at:
                return None
            if now >= next_try:
                cap, image = self._open_once()
                if cap is not None:
                    self._cap = cap
                    self._back_online()
                    return image
                delay = min(delay * 2.0, self.backoff_max_s)
                next_try = self._clock() + delay
                continue
            # Wake for whichever comes first, so the offline notice and the give-up are on time
            # even when the backoff has grown long.
            wake = next_try
            if not self._offline_reported:
                wake = min(wake, offline_at)
            if give_up_at is not None:
                wake = min(wake, give_up_at)
            if self._stop is not None:
                self._stop.wait(max(0.0, wake - now))
            else:
                self._sleep(wake - now)

    def _back_online(self) -> None:
        now = self._clock()
        # Every reconnect is noted (a flapping stream is made of blips too short to be outages) ...
        self._record({"type": "camera_reconnected", "time_s": now - self._t_open,
                      "down_s": now - self._down_since, "source": self._label()})
        # ... but a blip shorter than offline_after_s produced no offline notice, so it gets no online one.
        if self._offline_reported:
            self._record({"type": "camera_online", "time_s": now - self._t_open,
                          "down_s": now - self._down_since, "source": self._label()})
        self._down_since = None
        self._offline_reported = False

    # -- status and lifetime ---------------------------------------------------------------------

    def _record(self, event: dict) -> None:
        self._events.append(event)
        if self._on_status is not None:
            # __next__ blocks for the whole outage, so without this the pipeline would hear of
            # the outage only once it is over.
            self._on_status(dict(event))

    def pop_status_events(self) -> list[dict]:
        """Offline/online notices since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def close(self) -> None:
        """Release the capture; safe to call more than once."""
        self._closed = True
        self._pending = None
        if self._cap is not None:
            try:
                self._cap.release()
            except cv2.error:
                pass
            self._cap = None

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
