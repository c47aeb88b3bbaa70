"""Evidence for each event: an annotated JPEG at once, and a clip of the seconds around it."""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Iterable, Literal, NamedTuple

import cv2
import numpy as np
from pydantic import Field

from core.settings import Section

log = logging.getLogger(__name__)

# avc1 (H.264) is not usable with the pip OpenCV wheels: the encoder is missing or needs a hardware device.
class EvidenceConfig(Section):
    pre_s: float = Field(3.0, ge=0, le=120, description="seconds of video kept before an event (held in memory)")
    post_s: float = Field(3.0, ge=0, le=120, description="seconds of video kept after an event")
    quota_mb: float = Field(500.0, gt=0, description="evidence beyond this is deleted, oldest first")
    codec: Literal["MJPG", "mp4v"] = Field("MJPG", description="clip codec: MJPG (.avi) or mp4v (.mp4)")
    keep: Literal["jpeg", "raw"] = Field(
        "jpeg", description="how clip frames wait in memory: jpeg (about 45 KB for a 720x480 frame, about 1 ms to "
                            "encode) or raw (1 MB, nothing to encode); 3 s at 30 fps raw is about 100 MB")
    max_fps: float = Field(15.0, gt=0, le=120, description="clip frames kept a second, at most (a 30-fps camera's "
                                                            "clips keep every other frame)")


CODECS = {"MJPG": ".avi", "mp4v": ".mp4"}
BOX_COLOUR = (0, 0, 255)  # BGR red


class Frame(NamedTuple):
    index: int
    time_s: float
    image: np.ndarray


class FrameRing:
    """The frames of the last `seconds` by their own timestamps (at most `max_frames`), oldest first.

    By time, not by a frame count at a declared rate: a stream that says 25 fps and delivers 30 keeps
    its full pre-roll. Frames are kept by reference, which costs nothing per frame. The caller must
    therefore not write into a frame after pushing it; a source that reuses one buffer for every
    frame must pass `copy=True`.
    """

    def __init__(self, seconds: float, max_frames: int = 600, copy: bool = False):
        self.seconds = float(seconds)
        self.capacity = max(1, int(max_frames))
        self.copy = copy
        self._frames: deque[Frame] = deque(maxlen=self.capacity)

    def push(self, index: int, time_s: float, image: np.ndarray) -> Frame:
        frame = Frame(index, time_s, image.copy() if self.copy else image)
        frames = self._frames
        if frames and time_s < frames[-1].time_s:
            frames.clear()  # time went back (a new source, a clock reset): what came before is another timeline
        frames.append(frame)
        # Keep what lies within `seconds` before this frame (the trigger frame counts as the last).
        while len(frames) > 1 and time_s - frames[0].time_s >= self.seconds - 1e-9:
            frames.popleft()
        return frame

    def frames(self) -> list[Frame]:
        return list(self._frames)

    def latest(self) -> Frame | None:
        return self._frames[-1] if self._frames else None

    def __len__(self) -> int:
        return len(self._frames)


@dataclass
class _Clip:
    event_id: str
    event_type: str
    frames: list[Frame]
    end_s: float        # the clip ends with the first frame at or after this time


def draw_boxes(image: np.ndarray, boxes: Iterable, label: str) -> np.ndarray:
    """A copy of `image` with each [x, y, w, h] box outlined and labelled."""
    out = image.copy()
    h, w = out.shape[:2]
    thick = max(2, round(min(h, w) / 160))
    for box in boxes or ():
        x, y, bw, bh = (int(round(v)) for v in box[:4])
        cv2.rectangle(out, (x, y), (x + bw - 1, y + bh - 1), BOX_COLOUR, thick)
        ty = y - 6 if y >= 18 else y + bh + 16
        cv2.putText(out, label, (x, ty), cv2.FONT_HERSHEY_SIMPLEX, 0.5, BOX_COLOUR, 1, cv2.LINE_AA)
    return out


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name)[:40] or "event"


class EvidenceRecorder:
    """Keeps a pre-roll ring; on `trigger` saves a snapshot and records a clip of pre_s + post_s.

    Pre- and post-roll are measured on the frames' own timestamps, and each clip is written at the rate
    its frames actually came at (frames over the time they span), so it plays in real time whatever
    rate the source declared; `fps` is used only for a clip of a single frame.
    Overlapping triggers each get their own clip (pre-rolls may share frames; frames are shared by
    reference, so this costs disk, not memory). At most `max_open_clips` record at once; a trigger
    beyond that gets its snapshot only, which is logged.
    Clips are encoded on one background thread so the frame loop does not stall; `flush()` ends open
    clips early (end of stream) and waits for every write. After each write the oldest evidence files
    are deleted until the total is within `quota_mb`; the file just written is never deleted.
    """

    def __init__(self, store, root_dir: str, fps: float, pre_s: float = 3, post_s: float = 3,
                 quota_mb: float = 500, codec: str = "MJPG", copy_frames: bool = False,
                 max_open_clips: int = 4, jpeg_quality: int = 90, background: bool = True,
                 keep: str = "raw", max_fps: float | None = None, clip_quality: int = 80):
        if codec not in CODECS:
            raise ValueError(f"codec must be one of {sorted(CODECS)}, got {codec!r}")
        if keep not in ("raw", "jpeg"):
            raise ValueError(f"keep must be raw or jpeg, got {keep!r}")
        if fps <= 0:
            raise ValueError("fps must be positive")
        self.store = store
        self.root_dir = root_dir
        self.fps = float(fps)
        self.codec = codec
        self.quota_bytes = int(quota_mb * 1024 * 1024)
        self.post_s = float(post_s)
        self.max_open_clips = max_open_clips
        self.jpeg_quality = jpeg_quality
        # Clip frames as JPEG: a tenth of the memory of raw frames or less, for about twice a decode's
        # time on the frames kept; raw: nothing spent per frame.
        self.keep = keep
        self._encode_params = [cv2.IMWRITE_JPEG_QUALITY, int(clip_quality)]
        self._min_gap = 1.0 / max_fps if max_fps else 0.0
        self._due: float | None = None       # the time from which the next frame is kept
        # The pre-roll includes the trigger frame itself. The frame cap bounds memory at 60 fps.
        self.ring = FrameRing(pre_s, max_frames=max(1, int(math.ceil(pre_s * 60.0))), copy=copy_frames)
        os.makedirs(root_dir, exist_ok=True)
        self._open: list[_Clip] = []
        self._pending: list[Future] = []
        self._quota_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidence") if background else None

    # -- per frame ------------------------------------------------------------------------------------

    def push(self, index: int, time_s: float, image: np.ndarray) -> None:
        due, gap = self._due, self._min_gap
        if due is not None and due - gap <= time_s < due - 1e-9:
            return  # above max_fps: neither the pre-roll nor an open clip keeps this one
        # A steady rate: the next frame is due one gap after this one was due (not after it came),
        # so a jittery 30-fps source keeps every other frame; a gap in the source or time going
        # back (another timeline) starts from this frame.
        self._due = due + gap if due is not None and due - 1e-9 <= time_s < due + gap else time_s + gap
        if self.keep == "jpeg":
            ok, buf = cv2.imencode(".jpg", image, self._encode_params)
            if not ok:
                return  # a frame missing from a clip, not an alarm lost
            image = buf
        frame = self.ring.push(index, time_s, image)
        if not self._open:
            return
        still_open = []
        for clip in self._open:
            clip.frames.append(frame)
            if time_s >= clip.end_s - 1e-9:
                self._finish(clip)
            else:
                still_open.append(clip)
        self._open = still_open

    # -- per event ------------------------------------------------------------------------------------

    def still(self, event_id: str, event_type: str, name: str, image: np.ndarray) -> str:
        """One more picture for an event beside its snapshot (a skimmer's before/after pair); its path."""
        path = os.path.join(self.root_dir, f"{_safe(event_id)}-{_safe(event_type)}-{_safe(name)}.jpg")
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for event {event_id} ({name})")
        _write_atomic(path, buf.tobytes())
        self.store.add_evidence(event_id, "snapshot", path)   # its name is in the path
        self._enforce_quota(keep=path)
        return path

    def trigger(self, event_id: str, event_type: str, bbox_list: Iterable | None, image: np.ndarray) -> str:
        """Writes the snapshot now and returns its path; the clip follows after post_s more frames."""
        boxes = [b for b in (bbox_list or []) if b is not None]
        stem = os.path.join(self.root_dir, f"{_safe(event_id)}-{_safe(event_type)}")
        snap = stem + ".jpg"
        ok, buf = cv2.imencode(".jpg", draw_boxes(image, boxes, event_type),
                               [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for event {event_id}")
        _write_atomic(snap, buf.tobytes())
        self.store.add_evidence(event_id, "snapshot", snap)
        self._enforce_quota(keep=snap)

        if len(self._open) >= self.max_open_clips:
            log.warning("evidence: %d clips already recording; event %s gets a snapshot only",
                        len(self._open), event_id)
            return snap
        frames = self.ring.frames()
        clip = _Clip(event_id, event_type, frames, (frames[-1].time_s if frames else 0.0) + self.post_s)
        if self.post_s <= 0 or not frames:
            self._finish(clip)
        else:
            self._open.append(clip)
        return snap

    @property
    def recording(self) -> bool:
        """A clip is still collecting its post-roll."""
        return bool(self._open)

    def flush(self) -> None:
        """Ends open clips with the frames they have, and waits until every clip is on disk."""
        for clip in self._open:
            self._finish(clip)
        self._open = []
        pending, self._pending = self._pending, []
        for fut in pending:
            fut.result()

    def close(self) -> None:
        self.flush()
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> "EvidenceRecorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing --------------------------------------------------------------------------------------

    def _finish(self, clip: _Clip) -> None:
        if not clip.frames:
            return
        if self._pool is None:
            self._write_clip(clip)
            return
        self._pending = [f for f in self._pending if not f.done()]
        self._pending.append(self._pool.submit(self._write_clip, clip))

    def _write_clip(self, clip: _Clip) -> str | None:
        ext = CODECS[self.codec]
        path = os.path.join(self.root_dir, f"{_safe(clip.event_id)}-{_safe(clip.event_type)}{ext}")
        tmp = path[: -len(ext)] + ".part" + ext  # the writer picks the container from the extension
        first = clip.frames[0].image
        h, w = (cv2.imdecode(first, cv2.IMREAD_COLOR) if first.ndim == 1 else first).shape[:2]
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*self.codec), clip_fps(clip.frames, self.fps), (w, h))
        if not writer.isOpened():
            log.error("evidence: cannot open a %s writer for %s", self.codec, path)
            return None
        try:
            for f in clip.frames:
                img = f.image
                if img.ndim == 1:  # kept as JPEG
                    img = cv2.imdecode(img, cv2.IMREAD_COLOR)
                if img.shape[:2] != (h, w):  # a source that changed resolution mid-clip
                    img = cv2.resize(img, (w, h))
                if img.ndim == 2:
                    img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
                writer.write(img)
        finally:
            writer.release()
        os.replace(tmp, path)
        _fsync_dir(self.root_dir)
        self.store.add_evidence(clip.event_id, "clip", path)
        log.info("evidence: clip %s (%d frames)", path, len(clip.frames))
        self._enforce_quota(keep=path)
        return path

    def _enforce_quota(self, keep: str) -> None:
        # Called from the frame thread (snapshots) and the writer thread (clips).
        with self._quota_lock:
            while self.store.total_bytes() > self.quota_bytes:
                oldest = self.store.oldest_evidence()
                if oldest is None or oldest["path"] == keep:
                    break
                try:
                    os.remove(oldest["path"])
                except FileNotFoundError:
                    pass  # already gone (deleted by hand): the row must still go
                self.store.delete_evidence(oldest["path"])
                log.info("evidence: quota, deleted %s (%d bytes)", oldest["path"], oldest["bytes"])


def clip_fps(frames: list[Frame], nominal: float) -> float:
    """The rate the frames came at: one frame interval per frame over the time they span."""
    if len(frames) < 2:
        return nominal
    span = frames[-1].time_s - frames[0].time_s
    return (len(frames) - 1) / span if span > 0 else nominal


def _write_atomic(path: str, data: bytes) -> None:
    # A power cut mid-write must not leave a truncated JPEG that the store says is evidence.
    tmp = path + ".part"
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(os.path.dirname(path) or ".")


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
