"""Process-wide settings taken from the configuration by the per-frame commands (run, demo, bench)."""

from __future__ import annotations

import cv2

from pipeline.config import Config


def use_opencv_threads(cfg: Config) -> None:
    """OpenCV's threads from `runtime.opencv_threads`.

    One by default: on the per-frame path OpenCV's pool shortened the stage's wall time by about a
    sixth and raised its CPU time by about two thirds (bench.sweep on fight_surv, both settings;
    classical_ms against classical_cpu_ms), and on a kiosk that CPU is what decoding and the deep
    stage need.
    """
    cv2.setNumThreads(cfg.runtime.opencv_threads)
