"""File helpers the tests share."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import cv2
import numpy as np


def flip_one_byte(path: Path) -> bytes:
    """Change one byte in the middle of `path` (what a checksum must catch); returns the original bytes."""
    kept = path.read_bytes()
    data = bytearray(kept)
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return kept


def write_video(path, frames: Iterable[np.ndarray], fps: float) -> str:
    """`frames` (BGR, all one size) as an MJPG .avi at `path`; returns the path as a string."""
    writer = None
    for f in frames:
        if writer is None:
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (f.shape[1], f.shape[0]))
        writer.write(f)
    if writer is not None:
        writer.release()
    return str(path)
