"""The gate between the cheap stage and the deep one: only suspicious frames go further.

No deep model exists yet, so nothing is escalated; the gate already counts what it would send, so
`bench` can report the fraction of frames that would pay for a deep call.
"""

from __future__ import annotations

from pipeline.classical import ClassicalResult

ESCALATE = frozenset({"fight", "crowding", "left_object", "face_covered", "weapon", "loitering"})


class Gate:
    def __init__(self):
        self.seen = 0
        self.escalated = 0

    def __call__(self, result: ClassicalResult) -> bool:
        self.seen += 1
        hit = any(f.type in ESCALATE for f in result.flags)
        self.escalated += hit
        return hit

    @property
    def fraction(self) -> float:
        return self.escalated / self.seen if self.seen else 0.0
