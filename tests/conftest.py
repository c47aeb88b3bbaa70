"""Shared test set-up: the project root on sys.path, the real data folder, and a quiet TensorFlow."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = os.path.join(os.path.dirname(ROOT), "shared", "data")


def shared(*parts: str) -> str:
    """Path under ../shared/data; skips the test (with the reason) when that data is absent."""
    path = os.path.join(SHARED_DATA, *parts)
    if not os.path.exists(path):
        pytest.skip(f"real data not available: {path} (see ../shared/data/README.md)")
    return path
