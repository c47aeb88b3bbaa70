"""`run`: watch a source and append every event to --events."""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from types import SimpleNamespace

from core.errors import UserError
from detectors.tamper import OfflineWatchdog
from hw_io.atm_state import AtmStateReader
from hw_io.hardware import build_hardware
from pipeline.cascade import Cascade
from pipeline.config import load_config
from pipeline.events import EventLog
from pipeline.loop import FrameLoop
from pipeline.models import adopt_feature_config, describe_models, load_models
from pipeline.responder import Responder
from pipeline.runtime import use_opencv_threads
from sources.frame_source import FrameSource


def _reload_threshold(cascade: Cascade, args, fight_meta: dict | None) -> None:
    """SIGHUP: re-read the config's motion threshold section, so a site can tune it without a restart."""
    try:
        cfg = load_config(args.config, args.overrides)
        if fight_meta is not None:
            # As at start: a threshold the site leaves at default stays the one the model was trained with.
            cfg = adopt_feature_config(cfg, fight_meta, args.model_dir,
                                                   lambda line: print(line, file=sys.stderr))
        t = cfg.motion.threshold
        motion = cascade.classical.features.motion
        motion.use_threshold(t)
    except Exception as exc:  # a bad edit must not stop the watch
        print(f"config reload ignored: {exc}", file=sys.stderr)
        return
    value = "none" if t.value is None else f"{t.value:g}"
    print(f"motion threshold now: method {t.method}, value {value}, floor {t.floor:g}, ceiling {t.ceiling:g}",
          file=sys.stderr)


def _emit(log: EventLog, ev) -> None:
    print(json.dumps(ev.to_dict()), flush=True)
    try:
        log.write(ev)
    except OSError as exc:
        # The responder already has the alarm (stored, SMS queued); a full disk here must not stop the watch.
        print(f"warning: could not append event to {log.path}: {exc.strerror or exc}", file=sys.stderr)


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


def _watch(watchdog: OfflineWatchdog, stop: threading.Event, cascade: Cascade, loop: FrameLoop, handle) -> None:
    t0 = time.monotonic()
    while not stop.wait(0.1):
        flag = watchdog.check()
        if flag is not None:
            try:
                handle(cascade.status_event({"type": flag.type, "time_s": time.monotonic() - t0, **flag.extra},
                                            max(loop.last_index, 0)))
            except Exception as exc:
                # This thread is the only one that notices a hung camera: one failed alarm must not end it.
                print(f"error: camera_offline alarm not fully handled: {type(exc).__name__}: {exc}",
                      file=sys.stderr)


def run(args) -> int:
    cfg = load_config(args.config, args.overrides)
    use_opencv_threads(cfg)
    cfg, models, metas = load_models(args.model_dir, cfg)
    s = cfg.source
    n = 0
    cascade: Cascade | None = None
    loop: FrameLoop | None = None
    responder: Responder | None = None
    watchdog: OfflineWatchdog | None = None
    lock = threading.Lock()  # events come from the frame loop and from the offline watchdog's thread

    with _event_log(args.events) as log:
        def handle(ev, frame=None) -> None:
            with lock:
                # The alarm first (store, buzzer, SMS); the JSON line only records it, and is still
                # written when the responder fails.
                try:
                    if responder is not None:
                        responder.on_event(ev, frame)
                finally:
                    _emit(log, ev)

        def on_status(status: dict) -> None:
            # Called from inside the source while it is still down, so the alarm is not held back
            # until the camera returns. With the watchdog running it has already said so, sooner.
            if watchdog is not None:
                return
            ev = cascade.status_event(status, max(loop.last_index, 0)) if cascade and loop else None
            if ev:
                handle(ev)

        with FrameSource(args.source, process_width=s.process_width, backoff_initial_s=s.backoff_initial_s,
                         backoff_max_s=s.backoff_max_s, offline_after_s=s.offline_after_s,
                         on_status=on_status) as src:
            cascade = Cascade(cfg, src.fps, models)
            atm = _atm_state(cfg, cascade)
            hw = build_hardware(args.hardware, cfg.hardware, cfg.modem)
            stop = threading.Event()
            try:
                responder = Responder(cfg, hw, src.fps)
                # After the checks: a user error stays one line.
                print(describe_models(metas, args.model_dir), file=sys.stderr)
                print(hw.describe(), file=sys.stderr)
                if hasattr(signal, "SIGHUP"):
                    signal.signal(signal.SIGHUP, lambda *_: _reload_threshold(cascade, args, metas.get("fight")))
                feeds = [SimpleNamespace(on_frame=responder.on_frame, on_event=handle)]
                if src.kind != "file" and cfg.tamper.enabled:
                    # A live camera that stops delivering may block inside read(); only a separate
                    # thread can notice within tamper.offline_s. A file has no real-time gaps.
                    watchdog = OfflineWatchdog(cfg.tamper.offline_s)
                    feeds.insert(0, SimpleNamespace(on_frame=lambda _frame: watchdog.feed()))
                loop = FrameLoop(cascade, feeds)
                if watchdog is not None:
                    threading.Thread(target=_watch, args=(watchdog, stop, cascade, loop, handle),
                                     name="offline-watchdog", daemon=True).start()
                n = loop.run(src, max_frames=args.max_frames)
                if src.kind == "file":
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
    return 0
