"""`demo`: the whole cascade on the built-in synthetic booth, events printed beside the ground truth."""

from __future__ import annotations

import json
import tempfile
from types import SimpleNamespace

from datasets.synthetic_booth import LOITER_AFTER_S, TruthEvent, booth_scenario
from hw_io.hardware import build_hardware
from hw_io.keypad import GuardKeypad
from pipeline.cascade import Cascade
from pipeline.config import load_config
from pipeline.events import Event, EventLog
from pipeline.loop import EventRecorder, FrameLoop
from pipeline.models import describe_models, load_models
from pipeline.responder import Responder
from pipeline.runtime import use_opencv_threads
from sources.frame_source import Frame, process_size

# Fictitious (the 555-01xx range is reserved for fiction): the demo texts someone even when the
# configuration names nobody, so the modem's side of the story can be shown.
DEMO_RECIPIENT = "+15550100"
# Rendered at 640x480: at 320x240 a face is 9 px wide, too small for any face detector (a kiosk camera
# sees the customer's face at 40 px or more).
DEMO_SIZE = (640, 480)
# The scenario's loiterer stays 14 s; a booth's default limit (loitering.after_s) is two minutes. The
# fascia is where a site would draw it on a snapshot of its camera. Applied before --config and --set,
# which still win.
DEMO_SETTINGS = (f"loitering.after_s={LOITER_AFTER_S:g}",)


def demo_settings(sc) -> tuple[str, ...]:
    return DEMO_SETTINGS + (f"skimming.roi={sc.fascia_roi()}",)


def expected_events(sc, models: dict) -> list[TruthEvent]:
    """The scenario's truth, and what stage 2 should add with the models loaded: with a normality
    model, the scuffle is also an `anomaly` (unlike the normal behaviour it learnt)."""
    truth = list(sc.truth)
    if "normality_lite" in models:
        truth += [TruthEvent("anomaly", t.start_frame, t.end_frame, t.bbox) for t in sc.truth if t.type == "fight"]
    return truth


def match_truth(truth, events: list[Event], fps: float, slack_s: float = 2.0):
    """Per truth interval: the first event of its type inside it (allowing `slack_s` of delay past its end).
    Only starts count: an end record closes an episode already matched or already a false alarm."""
    slack = int(round(slack_s * fps))
    events = [e for e in events if e.is_start]
    rows, used = [], set()
    for t in truth:
        hit = next((e for e in events if e.type == t.type and t.start_frame <= e.frame <= t.end_frame + slack), None)
        if hit is not None:
            used.add(id(hit))
        rows.append((t, hit))
    unmatched = [e for e in events if id(e) not in used
                 and not any(e.type == t.type and t.start_frame <= e.frame <= t.end_frame + slack for t in truth)]
    return rows, unmatched


def demo(args) -> int:
    sc = booth_scenario(*DEMO_SIZE)
    settings = demo_settings(sc)
    cfg = load_config(args.config, args.overrides, defaults=settings)
    use_opencv_threads(cfg)
    cfg, models, metas = load_models(args.model_dir, cfg)
    if args.save_video:
        sc.write_video(args.save_video)
    print(f"ATM Sentinel demo: synthetic booth {sc.width}x{sc.height} at {sc.fps:g} fps, {sc.n_frames} frames; "
          f"ATM states from the scenario, as a state reader would report them; demo settings: "
          f"{', '.join(settings)}")
    print(describe_models(metas))
    cascade = Cascade(cfg, sc.fps, models)
    storage = args.storage or tempfile.mkdtemp(prefix="atm-sentinel-demo-")
    hw = build_hardware(args.hardware, cfg.hardware, cfg.modem)
    if hw.fake_modem is not None:
        # The guard reads the code off the SMS the (fake) modem received and types it on the keypad.
        hw.keypad = GuardKeypad(lambda: [text for _, text in hw.fake_modem.received])
    print(hw.describe())
    responder = Responder(cfg, hw, sc.fps, storage_dir=storage,
                          recipients=cfg.alerts.recipients or [DEMO_RECIPIENT])
    try:
        with EventLog(args.events) as log:
            recorder = EventRecorder()
            loop = FrameLoop(cascade, [recorder, SimpleNamespace(on_event=lambda ev, _frame: log.write(ev)),
                                       responder])
            loop.run(_frames(sc, cascade, cfg.source.process_width))
            events = recorder.events
        unsent = responder.drain()
    finally:
        responder.close()
        hw.buzzer.silence()

    print("\nscenario phases (frames):")
    for name, a, b in sc.phases:
        print(f"  {name:16s} {a:4d}-{b:<4d}")
    print("\nevents raised:")
    for ev in events:
        print("  " + json.dumps(ev.to_dict()))
    rows, unmatched = match_truth(expected_events(sc, models), events, sc.fps)
    print("\nground truth vs detected:")
    print(f"  {'truth':16s} {'frames':>11s}  detected")
    for t, hit in rows:
        got = (f"yes, frame {hit.frame} ({(hit.frame - t.start_frame) / sc.fps:+.1f} s), score {hit.score:.2f}"
               if hit else "MISSED")
        print(f"  {t.type:16s} {t.start_frame:4d}-{t.end_frame:<6d}  {got}")
    for ev in unmatched:
        print(f"  {'(none)':16s} {'':11s}  FALSE ALARM {ev.type} at frame {ev.frame}")
    _print_hardware(hw, cfg, responder, storage, unsent)
    hw.close()
    found = sum(hit is not None for _, hit in rows)
    print(f"\n{found}/{len(rows)} scenario events detected, {len(unmatched)} false alarms; "
          f"{cascade.gate.escalated} of {cascade.gate.seen} frames escalated to stage 2 "
          f"({cascade.gate.by_suspicion} on suspicion alone)")
    for line in cascade.classical.summaries():
        print(line)
    if cascade.refiners:
        print("stage 2: " + "; ".join(r.summary() for r in cascade.refiners))
    else:
        print("stage 2: no exported deep model (python run.py train --task deep / normality, then export)")
    return 0


def _frames(sc, cascade, process_width: int):
    size = process_size(sc.width, sc.height, process_width)   # as a FrameSource would make them
    for i, image in enumerate(sc.frames()):
        cascade.state = sc.atm_state(i)
        yield Frame(i, i / sc.fps, image, size)


def _print_hardware(hw, cfg, responder, storage: str, unsent: int) -> None:
    print("\nalerts (after the policy's per-type cooldown):")
    for a in responder.alerts:
        print(f"  {a.severity:7s} {a.event_type:16s} -> {len(a.recipients)} recipient(s)")
    if hw.fake_modem is not None:
        print("\nSMS received by the (fake) GSM modem:")
        for number, text in hw.fake_modem.received:
            print(f"  to {number}: {text}")
    if unsent:
        print(f"  {unsent} SMS still queued in the outbox; they are retried on the next start")
    for outcome in responder.door_outcomes:
        print(f"\ndoor flow: {outcome} (door relay GPIO{cfg.hardware.door_relay_pin}: "
              f"{', '.join('locked' if on else 'unlocked' for _, on in hw.pin_history(cfg.hardware.door_relay_pin)[1:])})")
    history = hw.pin_history(cfg.hardware.buzzer_pin)
    if history:
        print(f"\nbuzzer pin GPIO{cfg.hardware.buzzer_pin} history (seconds since previous change, state):")
        print("  " + ", ".join(f"{dt:.2f}s {'on' if on else 'off'}" for dt, on in history))
    print(f"\nevent store, outbox and evidence: {storage}")
