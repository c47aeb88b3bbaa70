"""Window summaries of labelled clips, computed in parallel with a progress bar."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from tqdm import tqdm

from features.window import summarise
from pipeline.config import Config


def clip_vector(path: str, cfg: Config) -> np.ndarray:
    from pipeline.classical import clip_rows
    from sources.frame_source import FrameSource

    with FrameSource(path, process_width=cfg.source.process_width, reconnect=False) as src:
        rows = clip_rows((f.raw for f in src), cfg, src.fps)
    return summarise(rows)


def _clip_cfg(cfg: Config) -> Config:
    # A 2-second clip has no time to spare on calibration: learn the background from its first frame.
    c = cfg.model_copy(deep=True)
    c.motion.calibrate_frames = 1
    return c


def _one(args: tuple[str, Config]) -> np.ndarray:
    import cv2

    cv2.setNumThreads(1)  # one clip per process; OpenCV's own threads would only fight over the cores
    return clip_vector(*args)


def clip_vectors(paths: list[str], cfg: Config, jobs: int | None = None, desc: str = "clips") -> np.ndarray:
    cfg = _clip_cfg(cfg)
    jobs = jobs or min(4, os.cpu_count() or 1)
    args = [(p, cfg) for p in paths]
    if jobs <= 1:
        out = [_one(a) for a in tqdm(args, desc=desc, unit="clip")]
    else:
        # spawn, not fork: a fork taken while OpenCV's thread pool is running can deadlock the child.
        with ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn")) as ex:
            out = list(tqdm(ex.map(_one, args), total=len(args), desc=desc, unit="clip"))
    return np.array(out, np.float32)
