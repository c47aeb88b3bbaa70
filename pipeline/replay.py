"""Labelled clips replayed through the live path (source -> cascade -> decision -> recorder), as
`evaluate` and training see them: the same FrameSource, configuration, models and frame loop as `run`.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

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


def _edited(src, edit: Callable[[int, np.ndarray], np.ndarray]):
    """The source's frames, each decoded picture replaced by edit(index, picture)."""
    for frame in src:
        frame.raw = edit(frame.index, frame.raw)
        yield frame


def _perturbation(perturb: tuple[str, int, int]) -> Callable[[int, np.ndarray], np.ndarray]:
    """datasets/perturb.py's change (kind, level, seed: seeded per clip), as an edit."""
    from datasets.perturb import apply

    kind, level, seed = perturb
    rng = np.random.default_rng(seed)
    return lambda _index, raw: apply(raw, kind, level, rng)


def replay_clip(path: str, cfg: Config, models: dict[str, Any],
                probe: Callable[[Cascade], Any] | None = None,
                perturb: tuple[str, int, int] | None = None,
                edit: Callable[[int, np.ndarray], np.ndarray] | None = None,
                sinks: Callable[[Cascade], list] | None = None) -> ClipReplay:
    """`perturb`: (kind, level, seed) of datasets/perturb.py applied to every decoded frame; `edit`:
    any other change, edit(index, picture) -> picture (a skimmer pasted in), made first: it is part of
    the scene, the perturbation is what the camera does to all of it; `sinks(cascade)`: more frame-loop
    sinks, which may read the cascade as the frames go by."""
    s = cfg.source
    with FrameSource(path, process_width=s.process_width, reconnect=False) as src:
        cascade = Cascade(cfg, src.fps, models)
        recorder = EventRecorder()
        loop = FrameLoop(cascade, [recorder, *(sinks(cascade) if sinks else ())])
        frames: Any = src
        for change in (edit, _perturbation(perturb) if perturb is not None else None):
            if change is not None:
                frames = _edited(frames, change)
        loop.run(frames)
        fps = src.fps
    return ClipReplay(loop.frames, fps, recorder.events, probe(cascade) if probe else None)


def _one_thread() -> None:
    import cv2

    cv2.setNumThreads(1)  # one clip per process; OpenCV's own threads would only fight over the cores


def parallel_map(fn: Callable, args: list, jobs: int | None = None, desc: str = "clips", unit: str = "clip",
                 initializer: Callable[[], None] = _one_thread, min_items: int | None = None,
                 chunksize: int = 2, progress: bool = True) -> list:
    """`fn(a)` for each of `args`, in order, on up to `jobs` worker processes (4 at most by default),
    with a progress bar. `fn` must be a module-level function (workers import it), and so must
    `initializer`, which each worker runs first. Fewer than `min_items` items (default twice the
    workers) run in this process. `chunksize` items go to a worker at a time (1 for long, equal items,
    so none waits behind another at the end). `progress`: False, no bar."""
    from tqdm import tqdm

    jobs = jobs or min(4, os.cpu_count() or 1)
    # Starting a worker (a fresh interpreter, OpenCV, the models) costs seconds: for a handful of
    # cheap items one process is quicker.
    if jobs <= 1 or len(args) < (2 * jobs if min_items is None else max(2, min_items)):
        return [fn(a) for a in tqdm(args, desc=desc, unit=unit, disable=not progress)]
    # spawn, not fork: a fork taken while OpenCV's thread pool is running can deadlock the child.
    with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"), initializer=initializer) as ex:
        return list(tqdm(ex.map(fn, args, chunksize=chunksize), total=len(args), desc=desc, unit=unit,
                         disable=not progress))


def _job(args) -> ClipReplay:
    return replay_clip(*args)


def replay_clips(paths: list[str], cfg: Config, models: dict[str, Any] | list[dict[str, Any]],
                 probe: Callable[[Cascade], Any] | None = None, jobs: int | None = None,
                 desc: str = "clips", perturb: tuple[str, int] | None = None) -> list[ClipReplay]:
    """`replay_clip` over many clips in parallel; `models` is one dict for all, or one per clip;
    `perturb` (kind, level) changes every frame, seeded by the clip's position."""
    per_clip = models if isinstance(models, list) else [models] * len(paths)
    args = [(p, cfg, m, probe, None if perturb is None else (*perturb, i))
            for i, (p, m) in enumerate(zip(paths, per_clip))]
    return parallel_map(_job, args, jobs, desc)
