"""Per-stage cost on a real clip, all figures from one run on the same frames (the contract's bench JSON).

Frames are decoded once into memory (timing the decode), then each pass times the classical stage
and the whole cascade on those same frames; the fastest pass is kept, because a slower one measures
the machine's other work, not ours. Each is timed twice: wall clock (the contract's *_ms fields)
and CPU time of the whole process, all threads (*_cpu_ms): FFmpeg decodes on several threads, so
its wall clock understates what it costs the kiosk. Peak RSS comes from the kernel's own accounting.

`classical_parts_ms` says where the stage's time goes, from separate passes in which each part's
calls are timed (the timers add a little, so these passes are not the headline figure): greyscale
and shrinking, motion, optical flow, one part per enabled detector (its registered name), and the
rest (tracking, feature rows, result objects), which is the pass's total less the parts, so the
parts add up to it.
"""

from __future__ import annotations

import resource
import sys
import time
from collections import defaultdict

import cv2

from core.errors import UserError
from pipeline.cascade import Cascade
from pipeline.classical import ClassicalStage
from pipeline.loop import FrameLoop
from sources.frame_source import Frame, FrameSource


def _peak_rss_mb() -> float:
    kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kb / 1024.0 if sys.platform != "darwin" else kb / 1024.0 / 1024.0


def _decode(path: str) -> tuple[list, float, float]:
    """(frames, wall seconds, CPU seconds) of decoding the whole clip."""
    cap = cv2.VideoCapture(path)
    raw = []
    t0, c0 = time.perf_counter(), time.process_time()
    while True:
        ok, img = cap.read()
        if not ok:
            break
        raw.append(img)
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    cap.release()
    return raw, elapsed, cpu


def _timed(stage_process, frames, fps: float, size: tuple[int, int]) -> tuple[float, float]:
    """Each frame as `run` has it: its own index and time (detectors that pace themselves read them),
    its processing-size pixels made only if a detector asks (a fresh Frame per pass: none cached)."""
    t0, c0 = time.perf_counter(), time.process_time()
    for i, img in enumerate(frames):
        t = i / fps
        stage_process(img, i, t, "unknown", Frame(i, t, img, size))
    return time.perf_counter() - t0, time.process_time() - c0


class _PartClock:
    """Wall time of calls to named parts, summed: each part is swapped for a timed wrapper on its instance."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, obj, attr: str, part: str) -> None:
        fn, seconds, clock = getattr(obj, attr), self.seconds, time.perf_counter

        def timed(*args, **kwargs):
            t0 = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[part] += clock() - t0

        setattr(obj, attr, timed)


def _parts(cfg, fps: float, models: dict, frames, repeat: int, size: tuple[int, int]) -> dict:
    """Per-frame ms of each part of the classical stage, from the fastest of `repeat` timed passes:
    the features (greyscale and shrinking, motion, flow), one part per enabled detector (named as it
    is registered), and the rest."""
    best: dict | None = None
    for _ in range(max(1, repeat)):
        stage = ClassicalStage(cfg, fps, models)
        clock = _PartClock()
        feats = stage.features
        clock.wrap(feats, "prepare", "grey_shrink")
        clock.wrap(feats.motion, "detect", "motion")
        clock.wrap(feats.flow, "update", "flow")
        for det in stage.detectors:
            clock.wrap(det, "detect", det.name)
        total, _ = _timed(stage.process, frames, fps, size)
        if best is None or total < best["total"]:
            best = {"total": total, "seconds": dict(clock.seconds), "flow_calls": feats.flow_calls,
                    "names": ["grey_shrink", "motion", "flow", *(d.name for d in stage.detectors)]}
    n = len(frames)
    seconds = best["seconds"]
    parts = {k: seconds.get(k, 0.0) for k in best["names"]}
    parts["rest"] = max(best["total"] - sum(parts.values()), 0.0)
    calls = best["flow_calls"]
    return {"classical_parts_ms": {k: round(1000.0 * v / n, 4) for k, v in parts.items()},
            "flow_calls_per_frame": round(calls / n, 4),
            "flow_ms_per_call": round(1000.0 * parts["flow"] / calls, 4) if calls else None}


def measure(path: str, cfg, models: dict, repeat: int = 3) -> dict:
    with FrameSource(path, process_width=cfg.source.process_width, reconnect=False) as src:
        process_size, fps = src.process_size, src.fps
    best_decode = best_decode_cpu = float("inf")
    raw: list = []
    for _ in range(max(1, repeat)):
        raw, elapsed, cpu = _decode(path)
        if elapsed < best_decode:
            best_decode, best_decode_cpu = elapsed, cpu
    if len(raw) < 2:
        raise UserError(f"cannot bench {path}: fewer than 2 frames decoded")
    n = len(raw)
    w, h = raw[0].shape[1], raw[0].shape[0]

    classical_best = classical_cpu = cascade_best = float("inf")
    escalated = 0
    for _ in range(max(1, repeat)):
        # The stage shrinks the decoded frame itself: that cost is ours.
        wall, cpu = _timed(ClassicalStage(cfg, fps, models).process, raw, fps, process_size)
        if wall < classical_best:
            classical_best, classical_cpu = wall, cpu

        cascade = Cascade(cfg, fps, models)
        t0 = time.perf_counter()
        FrameLoop(cascade).run(Frame(i, i / fps, img, process_size) for i, img in enumerate(raw))
        cascade_best = min(cascade_best, time.perf_counter() - t0)
        escalated = cascade.gate.escalated

    ms = lambda s: round(1000.0 * s / n, 4)  # noqa: E731
    parts = _parts(cfg, fps, models, raw, repeat, process_size)
    return {
        "frames": n,
        "decode_ms": ms(best_decode),
        "classical_ms": ms(classical_best),
        "cascade_ms": ms(cascade_best),
        "stage2_every_frame_ms": None,   # no deep stage yet
        "escalated_fraction": round(escalated / n, 4),
        "stage2_ms_per_call": None,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "classical_over_decode": round(classical_best / best_decode, 4),
        "decode_cpu_ms": ms(best_decode_cpu),
        "classical_cpu_ms": ms(classical_cpu),
        "classical_over_decode_cpu": round(classical_cpu / best_decode_cpu, 4) if best_decode_cpu > 0 else None,
        # The tamper detector's own cost, kept as a field of its own (0 when it is disabled).
        "tamper_ms": parts["classical_parts_ms"].get("tamper", 0.0),
        **parts,
        # Each part as a share of decoding the same frames: what a detector adds to a kiosk's load.
        "classical_parts_over_decode": {k: round(v / (1000.0 * best_decode / n), 4)
                                        for k, v in parts["classical_parts_ms"].items()},
        "source": path,
        "source_size": [w, h],
        "process_size": list(process_size),
        "passes": max(1, repeat),
        "opencv_threads": cv2.getNumThreads(),
    }
