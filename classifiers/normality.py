"""The normality dictionary: what normal looks like, per ATM state, in the Siamese tower's embedding.

Kiosk side, numpy only (the tower itself runs in LiteRT: classifiers/lite_runner.py). Each state
keeps the embeddings of normal frames seen in it; a frame's distance is the mean Euclidean distance
to its `k` nearest normal neighbours in its state's dictionary, and it is abnormal at or above that
state's threshold (a high percentile of the same distance on held-out normal frames).

The state is the ATM's, from the state reader, when the dictionary has one for it; otherwise it is
inferred from the scene (`scene:empty`, `scene:one`, `scene:more`: how many people the occupancy
stage counts), and last `any`, all normal frames together. Saved as plain arrays (no pickle).
"""

from __future__ import annotations

import numpy as np

ANY = "any"
SCENE_STATES = ("scene:empty", "scene:one", "scene:more")


def scene_state(people: list | None) -> str:
    """The state a scene implies when no state reader says one: nobody, one person, more."""
    n = len(people) if people else 0
    return SCENE_STATES[min(n, 2)]


class NormalityDictionary:
    def __init__(self, embeddings: dict[str, np.ndarray], thresholds: dict[str, float], k: int = 5):
        if ANY not in embeddings or ANY not in thresholds:
            raise ValueError(f"a normality dictionary needs the {ANY!r} state")
        if set(embeddings) != set(thresholds):
            raise ValueError("every state of a normality dictionary needs embeddings and a threshold")
        dims = {np.asarray(e).shape[1] for e in embeddings.values() if np.asarray(e).ndim == 2}
        if len(dims) != 1 or any(np.asarray(e).ndim != 2 or len(e) < k for e in embeddings.values()):
            raise ValueError(f"every state needs a 2-d array of at least k={k} embeddings of one width")
        self.embeddings = {s: np.ascontiguousarray(e, np.float32) for s, e in embeddings.items()}
        self.thresholds = {s: float(t) for s, t in thresholds.items()}
        self.k = int(k)
        self.dim = dims.pop()

    def key(self, state: str, people: list | None) -> str:
        """The dictionary a frame is compared with: its ATM state's, else its scene's, else all."""
        if state in self.embeddings:
            return state
        scene = scene_state(people)
        return scene if scene in self.embeddings else ANY

    def distance(self, e: np.ndarray, key: str) -> float:
        """Mean distance of embedding `e` to its k nearest normal neighbours in `key`'s dictionary."""
        d = self.embeddings[key] - np.asarray(e, np.float32)
        d2 = np.einsum("ij,ij->i", d, d)
        return float(np.sqrt(np.maximum(np.partition(d2, self.k - 1)[:self.k], 0.0)).mean())

    def distances(self, E: np.ndarray, key: str, exclude_self: bool = False) -> np.ndarray:
        """distance() for many embeddings at once (training and evaluation); `exclude_self` drops each
        row's own zero distance when E is the dictionary itself."""
        ref = self.embeddings[key]
        E = np.asarray(E, np.float32)
        d2 = np.maximum((E * E).sum(1)[:, None] + (ref * ref).sum(1)[None, :] - 2.0 * E @ ref.T, 0.0)
        k = self.k + int(exclude_self)
        near = np.sqrt(np.partition(d2, k - 1, axis=1)[:, :k])
        near.sort(axis=1)
        return near[:, int(exclude_self):].mean(1)

    def to_arrays(self) -> dict[str, np.ndarray]:
        states = sorted(self.embeddings)
        return {"states": np.array(states, dtype=str),
                "sizes": np.array([len(self.embeddings[s]) for s in states], np.int64),
                "embeddings": np.concatenate([self.embeddings[s] for s in states]).astype(np.float32),
                "thresholds": np.array([self.thresholds[s] for s in states], np.float64),
                "k": np.array(self.k, np.int64)}

    @classmethod
    def from_arrays(cls, arrays) -> "NormalityDictionary":
        states = [str(s) for s in arrays["states"]]
        sizes = np.asarray(arrays["sizes"], np.int64)
        emb = np.asarray(arrays["embeddings"], np.float32)
        thr = np.asarray(arrays["thresholds"], np.float64)
        if len(sizes) != len(states) or len(thr) != len(states) or int(sizes.sum()) != len(emb) or (sizes < 1).any():
            raise ValueError("the dictionary's states, sizes, thresholds and embeddings do not fit together")
        parts = np.split(emb, np.cumsum(sizes)[:-1])
        return cls(dict(zip(states, parts)), dict(zip(states, thr.tolist())), int(arrays["k"]))


class NormalityLiteModel:
    """The kiosk's normality check: the exported tower (LiteRT) and the dictionary.
    `distance(x, state, people)` -> (distance, its threshold, the dictionary's key)."""

    def __init__(self, runner, dictionary: NormalityDictionary, variant: str):
        self.runner = runner
        self.dictionary = dictionary
        self.variant = variant

    def embed(self, x: np.ndarray) -> np.ndarray:
        return self.runner(x)

    def distance(self, x: np.ndarray, state: str, people: list | None) -> tuple[float, float, str]:
        key = self.dictionary.key(state, people)
        return self.dictionary.distance(self.embed(x), key), self.dictionary.thresholds[key], key
