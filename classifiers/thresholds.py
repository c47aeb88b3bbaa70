"""Thresholds fitted on out-of-fold probabilities: the candidate cut that maximises a criterion.

Candidates are the distinct probabilities (rounded to 1e-4, so a few thousand rows cost a few
thousand cuts); a row counts as positive at or above the cut. Only training code calls these.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def _f1(pred: np.ndarray, pos: np.ndarray) -> float:
    return 2 * int(np.sum(pred & pos)) / max(1, int(pred.sum()) + int(pos.sum()))


def _balanced_accuracy(pred: np.ndarray, pos: np.ndarray) -> float:
    return 0.5 * (float(np.mean(pred[pos])) + float(np.mean(~pred[~pos])))


CRITERIA: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {"f1": _f1, "balanced_accuracy": _balanced_accuracy}


def best_threshold(positive: np.ndarray, p: np.ndarray, criterion: str) -> float:
    """The probability cut in [0, 1] that maximises `criterion` ("f1" or "balanced_accuracy") of
    `p >= cut` against the boolean `positive`."""
    score, pos = CRITERIA[criterion], np.asarray(positive, bool)
    p = np.asarray(p, np.float64)
    best_t, best = 0.5, -1.0
    for t in np.unique(np.round(p, 4)):
        s = score(p >= t, pos)
        if s > best:
            best_t, best = float(t), s
    return min(max(best_t, 0.0), 1.0)
