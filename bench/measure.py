"""Per-stage cost on a real clip, all figures from one run on the same frames (the contract's bench JSON).

The clip is decoded once on its own (timing the decode), then each pass decodes it again, one frame
at a time, and times only the classical stage's and the whole cascade's calls on those frames (the
same frames every pass: decoding is deterministic). Nothing holds the clip in memory, so peak RSS is
the pipeline's, as on a kiosk. The fastest pass is kept, because a slower one measures the
machine's other work, not ours. Each is timed twice: wall clock (the contract's *_ms fields) and CPU
time of the whole process, all threads (*_cpu_ms): FFmpeg decodes on several threads, so its wall
clock understates what it costs the kiosk. Peak RSS comes from the kernel's own accounting.

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


def _frames(path: str):
    """The clip's frames, decoded one at a time: a pass holds one frame, not the clip (a 39-s 720x480
    clip decoded into memory is 2.5 GB)."""
    cap = cv2.VideoCapture(path)
    try:
        while True:
            ok, img = cap.read()
            if not ok:
                return
            yield img
    finally:
        cap.release()


def _decode(path: str) -> tuple[int, float, float, tuple[int, ...] | None]:
    """(frames, wall seconds, CPU seconds, first frame's shape) of decoding the whole clip."""
    n, shape = 0, None
    t0, c0 = time.perf_counter(), time.process_time()
    for img in _frames(path):
        n += 1
        shape = shape or img.shape
    return n, time.perf_counter() - t0, time.process_time() - c0, shape


def _timed(stage_process, path: str, fps: float, size: tuple[int, int]) -> tuple[float, float]:
    """The stage's own wall and CPU time over the clip, decoding left out. Each frame as `run` has
    it: its own index and time (detectors that pace themselves read them), its processing-size
    pixels made only if a detector asks (a fresh Frame: nothing cached from another pass)."""
    wall = cpu = 0.0
    clock, cpu_clock = time.perf_counter, time.process_time
    for i, img in enumerate(_frames(path)):
        t = i / fps
        frame = Frame(i, t, img, size)
        t0, c0 = clock(), cpu_clock()
        stage_process(img, i, t, "unknown", frame)
        wall += clock() - t0
        cpu += cpu_clock() - c0
    return wall, cpu


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


def _parts(cfg, fps: float, models: dict, path: str, n: int, repeat: int, size: tuple[int, int]) -> dict:
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
        total, _ = _timed(stage.process, path, fps, size)
        if best is None or total < best["total"]:
            best = {"total": total, "seconds": dict(clock.seconds), "flow_calls": feats.flow_calls,
                    "names": ["grey_shrink", "motion", "flow", *(d.name for d in stage.detectors)]}
    seconds = best["seconds"]
    parts = {k: seconds.get(k, 0.0) for k in best["names"]}
    parts["rest"] = max(best["total"] - sum(parts.values()), 0.0)
    calls = best["flow_calls"]
    return {"classical_parts_ms": {k: round(1000.0 * v / n, 4) for k, v in parts.items()},
            "flow_calls_per_frame": round(calls / n, 4),
            "flow_ms_per_call": round(1000.0 * parts["flow"] / calls, 4) if calls else None}


class _StageTwoClock:
    """Wall time spent inside the stage-2 refiners' calls, and how many asked their model."""

    def __init__(self, refiners):
        self.seconds = 0.0
        self.by_name: dict[str, float] = {}
        self.refiners = list(refiners)
        for r in self.refiners:
            inner = r.refine
            self.by_name[r.name] = 0.0

            def timed(ctx, flags, inner=inner, name=r.name):
                t0 = time.perf_counter()
                try:
                    return inner(ctx, flags)
                finally:
                    dt = time.perf_counter() - t0
                    self.seconds += dt
                    self.by_name[name] += dt

            r.refine = timed

    def calls(self) -> int:
        return sum(int(getattr(r, "model_calls", 0)) for r in self.refiners)

    def per_call_ms(self) -> dict[str, dict]:
        """Per refiner: its model calls (for the weapon check, person crops) and ms per call."""
        out = {}
        for r in self.refiners:
            calls = int(getattr(r, "model_calls", 0))
            out[r.name] = {"calls": calls,
                           "ms_per_call": round(1000.0 * self.by_name[r.name] / calls, 4) if calls else None}
        return out


def _stage2_every_frame(cfg, fps: float, models: dict, path: str, n: int, size, repeat: int) -> float | None:
    """Per-frame ms of stage 2 if it ran on every frame (its input made and the model called), as the
    price the gate saves; None without a deep model."""
    from pipeline.cascade import build_refiners

    refiners = [r for r in build_refiners(cfg, models) if hasattr(r, "score")]
    if not refiners:
        return None
    best = float("inf")
    for _ in range(max(1, repeat)):
        stage, spent = ClassicalStage(cfg, fps, models), 0.0
        for i, img in enumerate(_frames(path)):
            ctx = stage.process(img, i, i / fps, "unknown", Frame(i, i / fps, img, size)).ctx
            t0 = time.perf_counter()
            for r in refiners:
                r.score(ctx)
            spent += time.perf_counter() - t0
        best = min(best, spent)
    return round(1000.0 * best / n, 4)


def measure(path: str, cfg, models: dict, repeat: int = 3) -> dict:
    with FrameSource(path, process_width=cfg.source.process_width, reconnect=False) as src:
        process_size, fps = src.process_size, src.fps
    best_decode = best_decode_cpu = float("inf")
    n, shape = 0, None
    for _ in range(max(1, repeat)):
        n, elapsed, cpu, shape = _decode(path)
        if elapsed < best_decode:
            best_decode, best_decode_cpu = elapsed, cpu
    if n < 2:
        raise UserError(f"cannot bench {path}: fewer than 2 frames decoded")
    w, h = shape[1], shape[0]

    classical_best = classical_cpu = cascade_best = float("inf")
    escalated = stage2_calls = 0
    stage2_seconds = 0.0
    stage2_parts: dict = {}
    for _ in range(max(1, repeat)):
        # The stage shrinks the decoded frame itself: that cost is ours.
        wall, cpu = _timed(ClassicalStage(cfg, fps, models).process, path, fps, process_size)
        if wall < classical_best:
            classical_best, classical_cpu = wall, cpu

        cascade = Cascade(cfg, fps, models)
        spent = [0.0]
        inner = cascade.process

        def timed(frame, inner=inner, spent=spent):
            t0 = time.perf_counter()
            try:
                return inner(frame)
            finally:
                spent[0] += time.perf_counter() - t0

        cascade.process = timed  # the cascade's own time: decoding happens between the calls
        stage2 = _StageTwoClock(cascade.refiners)
        FrameLoop(cascade).run(Frame(i, i / fps, img, process_size) for i, img in enumerate(_frames(path)))
        if spent[0] < cascade_best:
            cascade_best, stage2_seconds, stage2_calls = spent[0], stage2.seconds, stage2.calls()
            stage2_parts = stage2.per_call_ms()
        escalated = cascade.gate.escalated

    ms = lambda s: round(1000.0 * s / n, 4)  # noqa: E731
    parts = _parts(cfg, fps, models, path, n, repeat, process_size)
    return {
        "frames": n,
        "decode_ms": ms(best_decode),
        "classical_ms": ms(classical_best),
        "cascade_ms": ms(cascade_best),
        "stage2_every_frame_ms": _stage2_every_frame(cfg, fps, models, path, n, process_size, repeat),
        "escalated_fraction": round(escalated / n, 4),
        "stage2_ms_per_call": round(1000.0 * stage2_seconds / stage2_calls, 4) if stage2_calls else None,
        "stage2_calls": stage2_calls,
        # Per refiner (the weapon check's calls are person crops); refiners run on escalated frames only.
        "stage2_parts": stage2_parts,
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
