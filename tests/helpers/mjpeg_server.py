"""A small HTTP MJPEG camera on loopback for tests: serves `frames()` as multipart/x-mixed-replace at a
steady rate, and can be taken down and brought back (an outage) or made to drop connections (flapping).
Only 127.0.0.1, on a port the OS picks; every loop is bounded by the frames it is given."""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable, Iterable

import cv2
import numpy as np

BOUNDARY = b"ffmpeg"


class MjpegCamera:
    def __init__(self, frame_at: Callable[[int], np.ndarray], fps: float = 25.0, max_frames: int = 3000):
        self.frame_at = frame_at
        self.fps = fps
        self.max_frames = max_frames
        self.sent = 0
        self.up = threading.Event()
        self.up.set()
        self.drop_every: int | None = None     # close each connection after this many frames (flapping)
        self.corrupt_every: int | None = None  # cut every n-th JPEG short (a corrupt frame)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(4)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/stream.mjpg"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="mjpeg-camera", daemon=True)

    def __enter__(self) -> "MjpegCamera":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set() and self.sent < self.max_frames:
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            if not self.up.is_set():
                conn.close()   # down: the connection is refused at once
                continue
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            conn.recv(4096)  # the request; its content does not matter
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=" + BOUNDARY +
                         b"\r\nCache-Control: no-cache\r\n\r\n")
            period, sent_here = 1.0 / self.fps, 0
            next_t = time.monotonic()
            while not self._stop.is_set() and self.up.is_set() and self.sent < self.max_frames:
                ok, jpg = cv2.imencode(".jpg", self.frame_at(self.sent), [cv2.IMWRITE_JPEG_QUALITY, 80])
                data = jpg.tobytes()
                if self.corrupt_every and self.sent % self.corrupt_every == self.corrupt_every - 1:
                    data = data[: len(data) // 2]
                conn.sendall(b"--" + BOUNDARY + b"\r\nContent-Type: image/jpeg\r\nContent-Length: " +
                             str(len(data)).encode() + b"\r\n\r\n" + data + b"\r\n")
                self.sent += 1
                sent_here += 1
                if self.drop_every and sent_here >= self.drop_every:
                    break
                next_t += period
                time.sleep(max(0.0, next_t - time.monotonic()))
        except OSError:
            pass
        finally:
            conn.close()
