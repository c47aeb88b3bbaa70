"""What the stage-2 refiners remember between escalated frames: the times (and values) seen within
the last `window_s` seconds, so that one odd frame is never an incident on its own."""

from __future__ import annotations

from collections import deque


class Recent:
    """(time_s, value) pairs of the last `window_s` seconds, at most `maxlen` of them (the newest)."""

    def __init__(self, window_s: float, maxlen: int | None = None):
        self.window_s = window_s
        self._items: deque[tuple[float, float]] = deque(maxlen=maxlen)

    def add(self, time_s: float, value: float = 1.0) -> None:
        self._items.append((time_s, value))
        self.forget_before(time_s)

    def forget_before(self, time_s: float) -> None:
        """Drop what is older than `window_s` at `time_s`."""
        items = self._items
        while items and items[0][0] < time_s - self.window_s:
            items.popleft()

    def mean(self) -> float:
        return sum(v for _, v in self._items) / len(self._items) if self._items else 0.0

    def __len__(self) -> int:
        return len(self._items)
