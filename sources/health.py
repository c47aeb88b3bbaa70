"""Camera health over time: a stream that keeps dropping and coming back is flapping.

Each reconnect the frame source reports is counted; `unstable_reconnects` of them within
`unstable_window_s` open one `camera_unstable` episode (one alert, not one per drop), which ends with
an end record once the window passes without a reconnect.
"""

from __future__ import annotations

import sys
import threading
from collections import deque

from core.events import END, WARNING, Event, EventSpec, register_event_type

UNSTABLE = "camera_unstable"
register_event_type(UNSTABLE, EventSpec(WARNING, description="the camera or stream keeps dropping and reconnecting"),
                    "camera health")


class CameraHealth:
    def __init__(self, reconnects: int = 3, window_s: float = 60.0, log=sys.stderr):
        self.reconnects = int(reconnects)
        self.window_s = float(window_s)
        self.log = log
        self._times: deque[float] = deque()
        self._since: float | None = None    # the open episode's start
        self._count = 0                     # reconnects in the open episode
        self._pending: list[Event] = []
        self._lock = threading.Lock()       # reconnects come from the frame thread, polls from a timer

    def reconnected(self, time_s: float, down_s: float, source: str, frame: int, state: str = "unknown") -> None:
        """One reconnect (one line on stderr); may open an episode."""
        print(f"camera reconnected after {down_s:.2f} s: {source}", file=self.log, flush=True)
        with self._lock:
            self._times.append(time_s)
            while self._times and time_s - self._times[0] > self.window_s:
                self._times.popleft()
            if self._since is not None:
                self._count += 1
            elif len(self._times) >= self.reconnects:
                self._since, self._count = self._times[0], len(self._times)
                self._pending.append(Event(UNSTABLE, frame, time_s, None, 1.0, "classical", state,
                                           {"reconnects": len(self._times), "window_s": self.window_s}))

    def poll(self, frame: int, now_s: float, state: str = "unknown") -> list[Event]:
        """Events due: a new episode, or the end of one (no reconnect for `window_s`)."""
        with self._lock:
            out, self._pending = self._pending, []
            last = self._times[-1] if self._times else None
            if self._since is not None and last is not None and now_s - last >= self.window_s:
                out.append(Event(UNSTABLE, frame, now_s, None, 1.0, "classical", state,
                                 {"phase": END, "duration_s": round(last - self._since, 3),
                                  "reconnects": self._count}))
                self._since, self._count = None, 0
                self._times.clear()
            return out
