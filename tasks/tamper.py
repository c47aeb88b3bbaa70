"""`evaluate --task tamper`: every clip of a labelled folder, untampered and with each synthetic
tampering (datasets/tamper.py) from its middle frame, through the live classical stage and decision.

Frames come from the real FrameSource (resized to `source.process_width` as on the kiosk); the
tampering is applied to those processing-size frames, which is equivalent for its sizes are
fractions of the frame. Each clip gets its own seed (from its path), so the cover colour, cover side
and shift direction vary between clips but not between runs. For `drop` the frames stop at the
onset and the OfflineWatchdog is checked on a simulated clock every 1/fps s. Time is clip time.

Detected: an event of the expected type at most 1 s after the onset. The matrix counts, per kind,
the type of the first tamper event in that second ("none" if there is none).
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import zlib
from multiprocessing import Pool

from datasets.labelled import read_labels
from datasets.tamper import EXPECTED_EVENT, TAMPER_KINDS, Tamperer, TamperParams
from detectors.tamper import TAMPER_TYPES, OfflineWatchdog
from pipeline.classical import ClassicalStage
from pipeline.config import Config
from pipeline.decision import Decision
from sources.frame_source import FrameSource
from tasks.registry import Task, register_task

WINDOW_S = 1.0
UNTAMPERED = "untampered"


def clip_jobs(folder: str) -> list[tuple[str, str, str]]:
    """(relative path, absolute path, the clip a `reaim_view` turns it to) of every clip in
    `folder/labels.csv`: the next clip from another source (the last one's is searched from the first),
    so the new view is another scene, not the same recording a second later."""
    items = read_labels(folder, None)
    out = []
    for i, it in enumerate(items):
        others = items[i + 1:] + items[:i]
        other = next((o for o in others if o.group != it.group), others[0] if others else it)
        out.append((it.rel, it.path, other.path))
    return out


def _read(path: str, process_width: int) -> tuple[list, float]:
    with FrameSource(path, process_width=process_width, reconnect=False) as src:
        return [f.image for f in src], src.fps


def _tamper_events(stage: ClassicalStage, decision: Decision, image, i: int, fps: float) -> list:
    flags = [f for f in stage.process(image).flags if f.type in TAMPER_TYPES]
    return decision.update(flags, i, i / fps, 1.0)


def run_variant(frames: list, fps: float, cfg: Config, kind: str | None, onset: int, seed: int = 0,
                other: list | None = None) -> list:
    """Tamper events [(type, time_s)] of one clip, untampered (kind None) or tampered from `onset`;
    `other`: the frames a `reaim_view` camera is turned to."""
    stage = ClassicalStage(cfg, fps)
    decision = Decision(cfg.events)
    watchdog = OfflineWatchdog(cfg.tamper.offline_s, clock=lambda: 0.0)
    tamperer = None
    if kind is not None and kind != "drop":
        h, w = frames[0].shape[:2]
        tamperer = Tamperer(kind, w, h, TamperParams(seed=seed), other if kind == "reaim_view" else None)
    events = []
    for i, image in enumerate(frames):
        t = i / fps
        if kind == "drop" and i >= onset:
            break
        if tamperer is not None and i >= onset:
            image = tamperer(image, i)
        watchdog.feed(t)
        evs = _tamper_events(stage, decision, image, i, fps)
        offline = watchdog.check(t)
        if offline:
            evs += decision.update([offline], i, t, 1.0)
        events += [(e.type, e.time_s) for e in evs]
    if kind == "drop":
        # The stream went silent: the clock goes on, the watchdog is asked every frame period.
        t0, k = onset / fps, 0
        while t0 + k / fps <= onset / fps + WINDOW_S + 1e-9:
            t = t0 + k / fps
            flag = watchdog.check(t)
            if flag:
                events += [(e.type, e.time_s) for e in decision.update([flag], onset - 1, t, 1.0)]
            k += 1
    return events


def _clip_job(args) -> list[dict]:
    rel, path, other_path, cfg_data = args
    cfg = Config.model_validate(cfg_data)
    frames, fps = _read(path, cfg.source.process_width)
    other = _read(other_path, cfg.source.process_width)[0]
    onset = len(frames) // 2
    t_on = onset / fps
    seed = zlib.crc32(rel.encode("utf-8")) % 100000
    rows = []
    for kind in (None, *TAMPER_KINDS):
        events = run_variant(frames, fps, cfg, kind, onset, seed, other)
        name = kind or UNTAMPERED
        if kind is None:
            first = events[0] if events else None
            rows.append({"clip": rel, "kind": name, "detected": False, "first_event": first[0] if first else "",
                         "latency_s": "", "false_events": len(events), "fps": round(fps, 3), "frames": len(frames),
                         "onset_frame": onset})
            continue
        early = [e for e in events if e[1] < t_on - 1e-9]
        window = [e for e in events if t_on - 1e-9 <= e[1] <= t_on + WINDOW_S + 1e-9]
        hit = next((e for e in window if e[0] == EXPECTED_EVENT[kind]), None)
        rows.append({"clip": rel, "kind": name, "detected": hit is not None,
                     "first_event": window[0][0] if window else "",
                     "latency_s": round(hit[1] - t_on, 3) if hit else "", "false_events": len(early),
                     "fps": round(fps, 3), "frames": len(frames), "onset_frame": onset})
    return rows


def summarize(rows: list[dict]) -> dict:
    clips = sorted({r["clip"] for r in rows})
    matrix, within, latency = {}, {}, {}
    for kind in TAMPER_KINDS:
        kr = [r for r in rows if r["kind"] == kind]
        counts: dict[str, int] = {}
        for r in kr:
            key = r["first_event"] or "none"
            counts[key] = counts.get(key, 0) + 1
        matrix[kind] = dict(sorted(counts.items()))
        within[kind] = round(sum(r["detected"] for r in kr) / max(1, len(kr)), 4)
        lats = [r["latency_s"] for r in kr if r["detected"]]
        latency[kind] = round(statistics.median(lats), 3) if lats else None
    tampered = [r for r in rows if r["kind"] != UNTAMPERED]
    untampered = [r for r in rows if r["kind"] == UNTAMPERED]
    by_type: dict[str, int] = {}
    for r in untampered:
        if r["first_event"]:
            by_type[r["first_event"]] = by_type.get(r["first_event"], 0) + 1
    return {
        "clips": len(clips),
        "onset": "middle frame (n_frames // 2) of each clip",
        "kinds": list(TAMPER_KINDS),
        "expected": dict(EXPECTED_EVENT),
        "matrix": matrix,
        "detected_within_1s": within,
        "overall": round(sum(r["detected"] for r in tampered) / max(1, len(tampered)), 4),
        "untampered_false_events": int(sum(r["false_events"] for r in untampered)),
        "untampered_clips_with_events": by_type,
        "false_events_before_onset": int(sum(r["false_events"] for r in tampered)),
        "latency_s": latency,
    }


def format_matrix(summary: dict) -> str:
    cols = ["camera_covered", "camera_defocused", "camera_moved", "camera_offline", "none"]
    lines = [f"{'kind':16s}" + "".join(f"{c.replace('camera_', ''):>11s}" for c in cols) + f"{'within 1 s':>12s}"
             + f"{'median s':>10s}"]
    for kind in summary["kinds"]:
        row = summary["matrix"][kind]
        lat = summary["latency_s"][kind]
        lines.append(f"{kind:16s}" + "".join(f"{row.get(c, 0):>11d}" for c in cols)
                     + f"{100 * summary['detected_within_1s'][kind]:>11.1f}%"
                     + (f"{lat:>10.2f}" if lat is not None else f"{'-':>10s}"))
    lines.append(f"overall {100 * summary['overall']:.1f}% within 1 s on {summary['clips']} clips; "
                 f"untampered false events: {summary['untampered_false_events']}")
    return "\n".join(lines)


def evaluate_tamper(dataset_dir: str, cfg: Config, out_dir: str, progress: bool = True, workers: int = 2) -> dict:
    jobs = [(rel, path, other, cfg.model_dump()) for rel, path, other in clip_jobs(dataset_dir)]
    rows: list[dict] = []
    if workers > 1:
        with Pool(workers) as pool:
            results = pool.imap_unordered(_clip_job, jobs)
            rows = _collect(results, len(jobs), progress)
    else:
        rows = _collect(map(_clip_job, jobs), len(jobs), progress)
    rows.sort(key=lambda r: (r["clip"], r["kind"]))
    summary = summarize(rows)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "tamper_matrix.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2)
    fields = ["clip", "kind", "detected", "first_event", "latency_s", "false_events", "fps", "frames", "onset_frame"]
    with open(os.path.join(out_dir, "tamper_clips.csv"), "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    print(format_matrix(summary))
    return summary


def _collect(results, n: int, progress: bool) -> list[dict]:
    rows: list[dict] = []
    if progress:
        from tqdm import tqdm
        results = tqdm(results, total=n, desc="tamper: clips", unit="clip")
    for clip_rows in results:
        rows.extend(clip_rows)
    return rows


def _evaluate(dataset: str, model_dir: str, out: str, cfg: Config) -> dict:
    return evaluate_tamper(dataset, cfg, out)


register_task(Task("tamper", evaluate=_evaluate,
                   untrained="the detector learns each scene's baselines online"))
