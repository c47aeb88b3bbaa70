"""`run`: watch a source and append every event to --events."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from types import SimpleNamespace

from core.errors import UserError
from detectors.skimming import reference_path
from detectors.tamper import OfflineWatchdog
from hw_io.atm_state import AtmStateReader
from hw_io.hardware import build_hardware
from pipeline.cascade import Cascade, status_event
from pipeline.config import load_config
from pipeline.events import EventLog
from pipeline.loop import FrameLoop
from pipeline.models import describe_models, load_models, reconcile
from pipeline.responder import Responder
from pipeline.runtime import use_opencv_threads
from sources.frame_source import DEFAULT_FPS, FILE, FrameSource, parse_source
from sources.health import CameraHealth


def _reload_threshold(cascade: Cascade, args, metas: dict[str, dict]) -> None:
    """SIGHUP: re-read the config's motion threshold section, so a site can tune it without a restart,
    and the fascia's region (a new one, or one `relearn` deleted, is learnt again)."""
    try:
        # As at start: a threshold the site leaves at default stays the one the models were trained with.
        cfg = reconcile(load_config(args.config, args.overrides), metas, args.model_dir)
        t = cfg.motion.threshold
        motion = cascade.classical.features.motion
        motion.use_threshold(t)
        skimming = cascade.classical.detector("skimming")
        said = None
        if skimming is not None:
            if skimming.cfg.reference_file:   # a live source keeps it (see _run)
                cfg.skimming.reference_file = reference_path(cfg.skimming, cfg.storage_dir)
            said = skimming.reload(cfg.skimming)
    except Exception as exc:  # a bad edit must not stop the watch
        print(f"config reload ignored: {exc}", file=sys.stderr)
        return
    value = "none" if t.value is None else f"{t.value:g}"
    print(f"motion threshold now: method {t.method}, value {value}, floor {t.floor:g}, ceiling {t.ceiling:g}",
          file=sys.stderr)
    if said:
        print(said, file=sys.stderr)


def _emit(log: EventLog, ev, out) -> None:
    print(json.dumps(ev.to_dict()), file=out, flush=True)
    try:
        log.write(ev)
    except OSError as exc:
        # The responder already has the alarm (stored, SMS queued); a full disk here must not stop the watch.
        print(f"warning: could not append event to {log.path}: {exc.strerror or exc}", file=sys.stderr)


@contextlib.contextmanager
def _stdout_for_events():
    """stdout carries event lines only: they go to a private copy of it, and file descriptor 1 itself
    points at stderr meanwhile, so whatever a library prints there (FFmpeg, libjpeg) cannot be taken
    for an event by whoever reads `run ... > events.jsonl`."""
    sys.stdout.flush()
    saved = os.dup(1)
    out = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    try:
        yield out
    finally:
        try:
            out.flush()
            sys.stdout.flush()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
            out.close()


class _Stopper:
    """SIGTERM (a service stop) and SIGINT alike: stop reading once the clips being recorded have their
    post-roll (at most `post_s` more), then close everything cleanly and exit 0. A second signal
    exits at once."""

    def __init__(self, post_s: float):
        self.post_s = post_s
        self.event = threading.Event()   # also cuts a reconnect backoff short
        self.at: float | None = None
        self.recording = lambda: False

    def request(self, signum, _frame) -> None:
        if self.at is not None:
            raise KeyboardInterrupt      # the second signal: at once
        self.at = time.monotonic()
        self.event.set()
        print(f"stopping ({signal.Signals(signum).name}): finishing evidence clips, at most {self.post_s:g} s",
              file=sys.stderr)

    def __call__(self) -> bool:
        if self.at is None:
            return False
        return not self.recording() or time.monotonic() - self.at >= self.post_s

    @contextlib.contextmanager
    def installed(self):
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        old = {s: signal.signal(s, self.request) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield self
        finally:
            for s, handler in old.items():
                signal.signal(s, handler)


@contextlib.contextmanager
def _event_log(path: str | None):
    log = EventLog(path)
    try:
        yield log
    finally:
        try:
            log.close()  # flushes what a full disk refused before: it may refuse again
        except OSError as exc:
            print(f"warning: could not append event to {path}: {exc.strerror or exc}", file=sys.stderr)


def _atm_state(cfg, cascade: Cascade) -> AtmStateReader | None:
    """Follow the ATM's own state (idle, card_inserted, ...) so every event carries it."""
    source = cfg.hardware.atm_state
    if not source:
        return None
    try:
        reader = AtmStateReader(source, on_change=lambda old, new: setattr(cascade, "state", new))
    except ValueError as exc:
        raise UserError(f"invalid config: hardware.atm_state: {exc}") from None
    return reader.start()


def _watch(watchdog: OfflineWatchdog | None, stop: threading.Event, cascade: Cascade, loop: FrameLoop, handle,
           health: CameraHealth | None = None, t0: float | None = None) -> None:
    """The live source's own thread: the offline watchdog (start and end of an outage) and the
    camera's health (a flapping episode), checked ten times a second also while a read hangs."""
    t0 = time.monotonic() if t0 is None else t0
    while not stop.wait(0.1):
        flag = watchdog.check() if watchdog is not None else None
        back = watchdog.back() if watchdog is not None else None
        now = time.monotonic() - t0
        status = None
        if flag is not None:
            status = {"type": flag.type, "time_s": now, **flag.extra}
        elif back is not None:
            status = {"type": "camera_online", "time_s": now, "down_s": back}
        events = [cascade.status_event(status, max(loop.last_index, 0))] if status else []
        if health is not None:
            events += health.poll(max(loop.last_index, 0), now, cascade.state)
        for ev in events:
            try:
                handle(ev)
            except Exception as exc:
                # This thread is the only one that notices a hung camera: one failed alarm must not end it.
                print(f"error: camera_offline alarm not fully handled: {type(exc).__name__}: {exc}",
                      file=sys.stderr)


def run(args) -> int:
    # From the first line on: OpenCV may log as soon as it sets its thread count.
    with _stdout_for_events() as out:
        return _run(args, out)


def _run(args, out) -> int:
    cfg = load_config(args.config, args.overrides)
    use_opencv_threads(cfg)
    cfg, models, metas = load_models(args.model_dir, cfg)
    s = cfg.source
    kind, _ = parse_source(args.source)   # a missing file is refused before anything is set up
    if kind != FILE:
        # A kiosk keeps the learnt fascia across restarts (a power cut must not learn a skimmer); a file
        # is its own timeline and learns its own, so one clip never judges another's fascia.
        cfg.skimming.reference_file = reference_path(cfg.skimming, cfg.storage_dir)
    n = 0
    cascade: Cascade | None = None
    loop: FrameLoop | None = None
    responder: Responder | None = None
    watchdog: OfflineWatchdog | None = None
    health: CameraHealth | None = CameraHealth(s.unstable_reconnects, s.unstable_window_s) if kind != FILE else None
    lock = threading.Lock()  # events come from the frame loop and from the camera-watch thread
    stopper = _Stopper(cfg.evidence.post_s)
    atm = None

    with _event_log(args.events) as log, stopper.installed():
        def handle(ev, frame=None) -> None:
            with lock:
                # The alarm first (store, buzzer, SMS); the JSON line only records it, and is still
                # written when the responder fails.
                try:
                    if responder is not None:
                        responder.on_event(ev, frame)
                finally:
                    _emit(log, ev, out)

        def on_status(status: dict) -> None:
            # Called from inside the source while it is still down (also before its first frame, with
            # source.wait_at_start), so the alarm is not held back until the camera returns. With the
            # watchdog running it has already said so, sooner.
            index = max(loop.last_index, 0) if loop else 0
            state = cascade.state if cascade else "unknown"
            if status.get("type") == "camera_reconnected" and health is not None:
                health.reconnected(float(status["time_s"]), float(status["down_s"]), str(status["source"]),
                                   index, state)
            if watchdog is not None:
                return
            ev = status_event(status, index, state)
            if ev:
                handle(ev)

        # The responder before the source: an alarm raised while waiting for the camera is stored and texted.
        hw = build_hardware(args.hardware, cfg.hardware, cfg.modem)
        stop = threading.Event()
        try:
            responder = Responder(cfg, hw, DEFAULT_FPS)
            stopper.recording = lambda: responder.evidence.recording
            t0 = time.monotonic()  # the source's clock starts at its opening: the watch thread counts from there
            with FrameSource(args.source, process_width=s.process_width, backoff_initial_s=s.backoff_initial_s,
                             backoff_max_s=s.backoff_max_s, offline_after_s=s.offline_after_s,
                             on_status=on_status, stop=stopper.event, wait_at_start=s.wait_at_start,
                             measure_fps_s=s.measure_fps_s) as src:
                if abs(src.fps - src.declared_fps) > 0.05 * src.declared_fps:
                    print(f"source declares {src.declared_fps:g} fps and delivers {src.fps:.1f}: timing by "
                          f"{src.fps:.1f}", file=sys.stderr)
                cascade = Cascade(cfg, src.fps, models)
                if src.source_size != (0, 0):   # (0, 0): stopped while waiting for a camera that never came
                    cascade.classical.check_source(*src.source_size)
                atm = _atm_state(cfg, cascade)
                # After the checks: a user error stays one line.
                print(describe_models(metas, args.model_dir), file=sys.stderr)
                print(hw.describe(), file=sys.stderr)
                if hasattr(signal, "SIGHUP"):
                    signal.signal(signal.SIGHUP, lambda *_: _reload_threshold(cascade, args, metas))
                feeds = [SimpleNamespace(on_frame=responder.on_frame, on_event=handle)]
                if kind != FILE and cfg.tamper.enabled:
                    # A live camera that stops delivering may block inside read(); only a separate
                    # thread can notice within tamper.offline_s. A file has no real-time gaps.
                    watchdog = OfflineWatchdog(cfg.tamper.offline_s)
                    feeds.insert(0, SimpleNamespace(on_frame=lambda _frame: watchdog.feed()))
                loop = FrameLoop(cascade, feeds)
                if kind != FILE:
                    threading.Thread(target=_watch, args=(watchdog, stop, cascade, loop, handle, health, t0),
                                     name="camera-watch", daemon=True).start()
                n = loop.run(src, max_frames=args.max_frames, stop=stopper)
                if kind == FILE:
                    # A file ends; a camera does not. Give queued SMS a moment before exiting; what is
                    # left stays in the outbox and goes out on the next start.
                    responder.drain(timeout_s=5.0)
        finally:
            stop.set()
            if responder is not None:
                responder.close()
            hw.close()
            if atm is not None:
                atm.stop()
    print(f"processed {n} frames from {args.source}", file=sys.stderr)
    for line in cascade.classical.summaries() if cascade is not None else ():
        print(line, file=sys.stderr)
    return 0
