"""Loitering: one person in view for longer than `after_s` without using the machine.

The tracks are the occupancy stage's (`ctx.people`, centroid association). The limit depends on the
ATM's state when the state reader reports one (`state_after_s`): a customer in `pin_entry` is using
the machine, not loitering, so time spent while the ATM is in such a state does not count; the clock
starts again when the machine leaves it (someone who lingers after their transaction has `after_s`
from then).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from core.detector import Detector, Flag, register
from core.events import WARNING, EventSpec
from core.settings import Section
from hw_io.atm_state import check_known

# States in which a person in front of the machine is a customer using it.
IN_USE = ("card_inserted", "pin_entry", "transaction", "dispensing", "cash_taken", "card_ejected", "deposit")


class LoiteringConfig(Section):
    """Loitering: a person staying too long; see detectors/loitering.py."""

    enabled: bool = Field(True, description="raise loitering when a person stays too long")
    after_s: float = Field(120.0, gt=0, le=86400,
                           description="a person in view longer than this is loitering (ATM state unknown or not "
                                       "listed in state_after_s)")
    state_after_s: dict[str, float | None] = Field(
        default_factory=lambda: {s: None for s in IN_USE},
        description="per ATM state: its own limit in seconds, or empty (null) for a state in which nobody is "
                    "loitering and whose time does not count")

    @field_validator("state_after_s")
    @classmethod
    def _known_states(cls, v: dict[str, float | None]) -> dict[str, float | None]:
        check_known(v)
        for state, limit in v.items():
            if limit is not None and not 0 < limit <= 86400:
                raise ValueError(f"{state}: a limit must be over 0 and at most 86400 s, or null")
        return v


@register
class LoiteringDetector(Detector):
    name = "loitering"
    needs = ("people",)
    Settings = LoiteringConfig
    events = {"loitering": EventSpec(WARNING, repeat=False, description="a person staying in the booth too long")}

    def __init__(self, cfg: LoiteringConfig, fps: float, models: dict[str, Any] | None = None):
        super().__init__(cfg, fps)
        self._since: dict[int, float | None] = {}   # track id -> when its clock started; None: in use

    def reset(self) -> None:
        self._since.clear()

    def limit(self, state: str) -> float | None:
        if state in self.cfg.state_after_s:
            return self.cfg.state_after_s[state]
        return self.cfg.after_s

    def detect(self, ctx) -> list[Flag]:
        people = ctx.people or []
        t = ctx.time_s
        limit = self.limit(ctx.state)
        alive = set()
        flags = []
        for p in people:
            alive.add(p.id)
            if limit is None:
                self._since[p.id] = None  # in use: the clock starts again on the first frame out of it
                continue
            since = self._since.get(p.id, p.first_s)
            if since is None:
                since = self._since[p.id] = t
            stayed = t - since
            if stayed >= limit:
                flags.append(Flag("loitering", score=min(1.0, stayed / (2 * limit)), bbox=p.box,
                                  extra={"person": p.id, "stayed_s": round(stayed, 1)}))
        for pid in [k for k in self._since if k not in alive]:
            del self._since[pid]
        return flags
