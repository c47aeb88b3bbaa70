"""The gate between the cheap stage and the deep one: only suspicious frames go further.

A frame escalates when one of its flags is of a type whose detector declared it escalating
(core.events: `EventSpec.escalate`; the set is read from the registry, never listed here), or when
its suspicion (`ctx.suspicion`: how close a detector's score came to its threshold, 1 = at it) reaches
`gate.suspicion`: a frame the cheap stage nearly flagged is worth a second look, which is how stage 2
can catch what the cheap stage alone would miss. The gate counts what it sends, so `bench` can report
the fraction of frames that pay for stage 2.
"""

from __future__ import annotations

from pydantic import Field

from core.detector import Flag
from core.events import escalating_types
from core.settings import Section


class GateConfig(Section):
    """Which frames go on to stage 2."""

    suspicion: float | None = Field(
        None, gt=0, le=10, description="a frame whose suspicion (a detector's score over its threshold) reaches this "
                                      "escalates without a flag; empty: flags alone escalate")


class Gate:
    def __init__(self, cfg: GateConfig | None = None):
        self.escalate = escalating_types()
        cut = (cfg or GateConfig()).suspicion
        self.suspicion = float("inf") if cut is None else float(cut)
        self.seen = 0
        self.escalated = 0
        self.by_suspicion = 0  # escalated with no escalating flag

    def __call__(self, flags: list[Flag], suspicion: float = 0.0) -> bool:
        self.seen += 1
        hit = any(f.type in self.escalate for f in flags)
        if not hit and suspicion >= self.suspicion:
            hit = True
            self.by_suspicion += 1
        self.escalated += hit
        return hit

    @property
    def fraction(self) -> float:
        return self.escalated / self.seen if self.seen else 0.0
