"""Process-wide settings taken from the configuration by the per-frame commands (run, demo, bench)."""

from __future__ import annotations

import cv2
from pydantic import Field

from core.settings import Section


class RuntimeConfig(Section):
    opencv_threads: int = Field(
        1, ge=-1, le=64,
        description="OpenCV threads on the per-frame path (-1: its default, one per core); its pool "
                    "shortens the wall time a little for far more CPU time (see bench *_cpu_ms)")


def use_opencv_threads(cfg) -> None:
    """OpenCV's threads from `runtime.opencv_threads`.

    One by default: on the per-frame path OpenCV's pool shortened the stage's wall time by about a
    sixth and raised its CPU time by about two thirds (bench.sweep on fight_surv, both settings;
    classical_ms against classical_cpu_ms), and on a kiosk that CPU is what decoding and the deep
    stage need.
    """
    cv2.setNumThreads(cfg.runtime.opencv_threads)
