"""File helpers the tests share."""

from __future__ import annotations

from pathlib import Path


def flip_one_byte(path: Path) -> bytes:
    """Change one byte in the middle of `path` (what a checksum must catch); returns the original bytes."""
    kept = path.read_bytes()
    data = bytearray(kept)
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return kept
