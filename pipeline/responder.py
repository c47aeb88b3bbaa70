"""What happens after a decision: the event is stored, evidence kept, the buzzer sounded, SMS queued.

decision -> responder -> hw_io. Order matters and is chosen so that nothing is lost:
1. the event goes to the SQLite event store (its id is the evidence id in every message);
2. the snapshot is written and the clip starts recording (pre-roll from the ring buffer);
3. the alert policy decides severity and de-duplication; the buzzer sounds at once;
4. each SMS is committed to the outbox *before* any attempt to send it; a worker thread sends it and
   marks it sent only once the modem confirmed, retrying with backoff for as long as it takes, also
   after a restart (see hw_io/outbox.py: delivery is at-least-once).
A covered face starts the door flow on its own thread: warn, text a one-time code to each guard (one
bad number does not stop the others), and lock only once a guard has it. Its code SMS goes straight
to the modem, never through the outbox: the code must not touch the disk, and a code that arrives
after its 120 s is useless anyway.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Any

from core.errors import UserError
from core.events import Event
from hw_io.door import OtpDoorFlow
from hw_io.event_store import EventStore
from hw_io.evidence import EvidenceRecorder
from hw_io.hardware import Hardware
from hw_io.outbox import Outbox, OutboxWorker
from pipeline.alerts import AlertPolicy, queue_alert

log = logging.getLogger(__name__)


@dataclass
class _OpenEpisode:
    """What the responder keeps of an open episode: its latest start (stored id and record), whether
    any of its starts alerted (its end may text "resolved"), and the alert held back for it."""

    event_id: str
    d: dict
    alerted: bool = False
    timer: threading.Timer | None = None


class Responder:
    def __init__(self, cfg, hardware: Hardware, fps: float, storage_dir: str | None = None,
                 clock=time.time, recipients: list[str] | None = None, pump_interval_s: float = 1.0):
        self.cfg = cfg
        self.hw = hardware
        self.clock = clock
        root = storage_dir or cfg.storage_dir
        try:
            os.makedirs(root, exist_ok=True)
            self.store = EventStore(os.path.join(root, "events.sqlite"))
            self.outbox = Outbox(os.path.join(root, "outbox.sqlite"), backoff_initial_s=cfg.alerts.retry_initial_s,
                                 backoff_max_s=cfg.alerts.retry_max_s)
        except (OSError, sqlite3.Error) as exc:
            raise UserError(f"storage_dir {root} is not usable: {getattr(exc, 'strerror', None) or exc}") from None
        self.root = root
        try:
            self.policy = AlertPolicy(cfg.site_id, recipients if recipients is not None else cfg.alerts.recipients,
                                      cfg.alerts.cooldown_s, cfg.alerts.severity)
        except ValueError as exc:
            raise UserError(f"invalid config: alerts.recipients: {exc}") from None
        e = cfg.evidence
        self.evidence = EvidenceRecorder(self.store, os.path.join(root, "evidence"), fps, pre_s=e.pre_s,
                                         post_s=e.post_s, quota_mb=e.quota_mb, codec=e.codec, keep=e.keep,
                                         max_fps=e.max_fps)
        self.worker = OutboxWorker(self.outbox, hardware.sender)
        # Messages left from before a crash or power cut go out now, not at the next event.
        self.worker.start(interval_s=pump_interval_s)
        h = cfg.hardware
        guard = cfg.alerts.guard or list(self.policy.recipients)
        # With nobody to send the code to, locking the door would trap the customer: warn only.
        self.door_flow = OtpDoorFlow(hardware.door, hardware.buzzer, hardware.keypad, hardware.sender, self.store,
                                     ttl_s=h.otp_ttl_s, attempts=h.otp_attempts, site_id=cfg.site_id,
                                     recipients=guard) if guard else None
        self._door_thread: threading.Thread | None = None
        self._door_running = False   # a door flow has started and not yet ended (set under _lock)
        self._closing = False        # close() was called; whoever finishes last closes the stores
        self._closed = False
        self.door_outcomes: list[str] = []
        # (event type, key) -> its open episode (only open ones: months of uptime); the key tells apart
        # episodes of one type open at once (pipeline/decision.py: a skimmer on each of two machines).
        self._open: dict[tuple[str, Any], _OpenEpisode] = {}
        self._lock = threading.RLock()          # events come from the frame loop, held alerts from timers
        self.alerts: list[Any] = []

    def on_frame(self, frame) -> None:
        """Every frame: into the evidence ring (a reference, not a copy)."""
        self.evidence.push(frame.index, frame.time_s, frame.raw)

    def on_event(self, event: Event, frame=None) -> str:
        with self._lock:
            if not event.is_start:
                return self._on_end(event)
            d = event.to_dict()
            event_id = self.store.add_event(d)
            # A repeat start (after the cooldown) stands for the episode from now on; whether anyone was
            # told of the episode, and an alert still held back for it, carry over.
            key = (event.type, event.extra.get("key"))
            prev = self._open.get(key)
            ep = self._open[key] = _OpenEpisode(event_id, d, prev.alerted if prev else False,
                                                prev.timer if prev else None)
            if frame is not None:
                try:
                    self.evidence.trigger(event_id, event.type, [event.bbox] if event.bbox else [], frame.raw)
                    for name, image in event.images.items():
                        self.evidence.still(event_id, event.type, name, image)
                except (OSError, RuntimeError) as exc:  # a full disk must not stop the alarm
                    log.error("evidence for %s not saved: %s", event_id, exc)
            delay = self.cfg.alerts.alert_after_s.get(event.type, 0.0)
            if delay > 0:
                # Alert only if the episode is still open then (an outage that lasts, not a blip);
                # a timer, because a camera that is down delivers no frame to check on. One per
                # episode: a repeat start does not push the alert further away.
                if ep.timer is None:
                    ep.timer = threading.Timer(delay, self._alert_if_open, args=(key, ep))
                    ep.timer.daemon = True
                    ep.timer.start()
            else:
                self._alert(ep)
            if event.type == "face_covered":
                self._start_door_flow(event_id)
            return event_id

    def _alert(self, ep: "_OpenEpisode") -> None:
        alert = self.policy.decide(ep.d, ep.event_id, self.clock())
        if alert is not None:
            ep.alerted = True
            self.alerts.append(alert)
            self.hw.buzzer.sound(alert.severity)
            queue_alert(self.outbox, alert)
            self.worker.wake()

    def _alert_if_open(self, key: tuple[str, Any], armed_by: "_OpenEpisode") -> None:
        with self._lock:
            ep = self._open.get(key)
            if ep is not None and ep.timer is armed_by.timer:  # still the episode that armed it
                ep.timer = None
                self._alert(ep)  # with its latest start

    def _on_end(self, event: Event) -> str:
        """An episode closed: stored with the evidence id of its start; texted (no buzzer) only for the
        types in `alerts.notify_end`, such as a camera that is back."""
        ep = self._open.pop((event.type, event.extra.get("key")), None)
        evidence_id = None if ep is None else ep.event_id
        if evidence_id is not None:
            event.extra.setdefault("evidence_id", evidence_id)
        if ep is not None and ep.timer is not None:
            ep.timer.cancel()      # over before it was worth an alert
        d = event.to_dict()
        event_id = self.store.add_event(d)
        # "Back" only to whoever was told it was gone.
        if event.type in self.cfg.alerts.notify_end and ep is not None and ep.alerted:
            alert = self.policy.resolved(d, evidence_id, self.clock())
            if alert is not None:
                self.alerts.append(alert)
                queue_alert(self.outbox, alert)
                self.worker.wake()
        return event_id

    def _start_door_flow(self, event_id: str) -> None:
        if self.door_flow is None:
            self.store.add_step(event_id, "door_flow_skipped", {"reason": "no guard or recipient number configured"})
            return
        with self._lock:
            if self._door_running:
                return  # one flow at a time: the door is already locked and a code is out
            self._door_running = True

        def run() -> None:
            try:
                self.door_outcomes.append(self.door_flow.run(event_id))
            except Exception as exc:
                with self._lock:
                    stopping = self._closing
                if stopping:   # the service stopped under the flow and closed its devices: not a fault
                    log.error("door flow for %s ended as the service stopped: %s: %s", event_id,
                              type(exc).__name__, exc)
                else:
                    log.exception("door flow for %s failed", event_id)
            finally:
                with self._lock:
                    self._door_running = False
                    close_now = self._closing
                if close_now:   # close() came while the flow ran: its last steps are stored first
                    self._close_stores()
        self._door_thread = threading.Thread(target=run, name="door-flow", daemon=True)
        self._door_thread.start()

    def drain(self, timeout_s: float = 10.0) -> int:
        """Try to send everything queued now (end of a demo or a file); returns what is still pending."""
        deadline = time.monotonic() + timeout_s
        while self.outbox.pending_count() and time.monotonic() < deadline:
            self.worker.pump()
            if self.outbox.pending_count():
                time.sleep(0.05)
        return self.outbox.pending_count()

    def close(self) -> None:
        with self._lock:
            for ep in self._open.values():
                if ep.timer is not None:
                    ep.timer.cancel()
                    ep.timer = None
        if self._door_thread is not None:
            # A flow still warning the customer (warn_s) ends on its own within it; one waiting for a
            # guard's code goes on after close() and closes the stores itself.
            self._door_thread.join(timeout=1.0 + (self.door_flow.warn_s if self.door_flow is not None else 0.0))
        with self._lock:
            self._closing = True
            if self._door_running:
                # A guard's code is still out: closing the store now would lose the flow's last steps
                # (expired, released, the guard's text) and raise in its thread. It closes them itself.
                return
        self._close_stores()

    def _close_stores(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        # Each on its own: also when called from a door flow as the process exits, one that fails must not
        # leave the others open, nor raise in that thread.
        for part in (self.worker.stop, self.evidence.close, self.outbox.close, self.store.close):
            try:
                part()
            except Exception as exc:
                log.error("closing %s failed: %s: %s", getattr(part, "__qualname__", part), type(exc).__name__, exc)
