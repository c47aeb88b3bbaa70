"""The gate between the cheap stage and the deep one: only suspicious frames go further.

A frame escalates when one of its flags is of a type whose detector declared it escalating
(core.events: `EventSpec.escalate`); the escalation set is read from the registry, never listed here.
The gate counts what it sends, so `bench` can report the fraction of frames that pay for stage 2.
"""

from __future__ import annotations

from core.detector import Flag
from core.events import escalating_types


class Gate:
    def __init__(self):
        self.escalate = escalating_types()
        self.seen = 0
        self.escalated = 0

    def __call__(self, flags: list[Flag]) -> bool:
        self.seen += 1
        hit = any(f.type in self.escalate for f in flags)
        self.escalated += hit
        return hit

    @property
    def fraction(self) -> float:
        return self.escalated / self.seen if self.seen else 0.0
