"""The one frame loop: frames -> cascade -> events, handed to sinks. `run`, `demo`, `bench` and
`evaluate` all go through it, so what is measured and evaluated is what raises events on a kiosk.

A sink is anything with `on_frame(frame)` (before the frame is processed: the evidence ring must
hold it when its own event fires) and/or `on_event(event, frame)`.
"""

from __future__ import annotations

import threading
from typing import Callable, Iterable

from pipeline.cascade import Cascade
from pipeline.events import Event
from sources.frame_source import Frame


class FrameLoop:
    def __init__(self, cascade: Cascade, sinks: Iterable[object] = ()):
        self.cascade = cascade
        sinks = list(sinks)
        # Bound once: the per-frame path looks up no attribute it does not need.
        self._frame_sinks = [s.on_frame for s in sinks if hasattr(s, "on_frame")]
        self._event_sinks = [s.on_event for s in sinks if hasattr(s, "on_event")]
        self.frames = 0
        self.last_index = -1

    def run(self, frames: Iterable[Frame], max_frames: int | None = None,
            stop: threading.Event | Callable[[], bool] | None = None) -> int:
        """Process `frames` until they end, `max_frames` were processed or `stop` is set (or returns
        True: asked after every frame); returns the count."""
        process = self.cascade.process
        should_stop = stop.is_set if isinstance(stop, threading.Event) else stop
        for frame in frames:
            for on_frame in self._frame_sinks:
                on_frame(frame)
            for ev in process(frame):
                for on_event in self._event_sinks:
                    on_event(ev, frame)
            self.last_index = frame.index
            self.frames += 1
            if (max_frames and self.frames >= max_frames) or (should_stop is not None and should_stop()):
                break
        # The footage ended (or the watch stopped): the episodes still open get their end records.
        for ev in self.cascade.finish():
            for on_event in self._event_sinks:
                on_event(ev, None)
        return self.frames


class EventRecorder:
    """A sink that keeps the events (the responder's place when evaluating): nothing is sent or stored."""

    def __init__(self):
        self.events: list[Event] = []

    def on_event(self, event: Event, frame: Frame | None) -> None:
        self.events.append(event)
