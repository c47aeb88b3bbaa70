"""Labelled clips replayed through the live path (source -> cascade -> decision -> recorder), as
`evaluate` and training see them: the same FrameSource, configuration, models and frame loop as `run`.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from pipeline.cascade import Cascade
from pipeline.config import Config
from pipeline.loop import EventRecorder, FrameLoop
from sources.frame_source import FrameSource


@dataclass
class ClipReplay:
    """What one clip raised live, and what the probe read from the cascade at the end."""

    frames: int
    fps: float
    events: list = field(default_factory=list)   # Event objects, in order
    probe: Any = None


def replay_clip(path: str, cfg: Config, models: dict[str, Any],
                probe: Callable[[Cascade], Any] | None = None) -> ClipReplay:
    s = cfg.source
    with FrameSource(path, process_width=s.process_width, reconnect=False) as src:
        cascade = Cascade(cfg, src.fps, models)
        recorder = EventRecorder()
        loop = FrameLoop(cascade, [recorder])
        loop.run(src)
        fps = src.fps
    return ClipReplay(loop.frames, fps, recorder.events, probe(cascade) if probe else None)


def _one_thread() -> None:
    import cv2

    cv2.setNumThreads(1)  # one clip per process; OpenCV's own threads would only fight over the cores


def parallel_map(fn: Callable, args: list, jobs: int | None = None, desc: str = "clips", unit: str = "clip") -> list:
    """`fn(a)` for each of `args`, in order, on up to `jobs` worker processes (4 at most by default),
    with a progress bar. `fn` must be a module-level function (workers import it)."""
    from tqdm import tqdm

    jobs = jobs or min(4, os.cpu_count() or 1)
    if jobs <= 1 or len(args) <= 1:
        return [fn(a) for a in tqdm(args, desc=desc, unit=unit)]
    # spawn, not fork: a fork taken while OpenCV's thread pool is running can deadlock the child.
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_one_thread) as ex:
        return list(tqdm(ex.map(fn, args, chunksize=2), total=len(args), desc=desc, unit=unit))


def _job(args) -> ClipReplay:
    return replay_clip(*args)


def replay_clips(paths: list[str], cfg: Config, models: dict[str, Any] | list[dict[str, Any]],
                 probe: Callable[[Cascade], Any] | None = None, jobs: int | None = None,
                 desc: str = "clips") -> list[ClipReplay]:
    """`replay_clip` over many clips in parallel; `models` is one dict for all, or one per clip."""
    per_clip = models if isinstance(models, list) else [models] * len(paths)
    return parallel_map(_job, [(p, cfg, m, probe) for p, m in zip(paths, per_clip)], jobs, desc)
