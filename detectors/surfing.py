"""Shoulder surfing: a second person close behind a customer who is entering a PIN.

When: while the ATM reports one of `states` (`pin_entry`: the state reader), or, when the ATM reports
no state, while someone stands at the machine (a tracked person touching the fascia that the skimming
check publishes, `ctx.fascia`; with no fascia configured, the person in view longest).
Who: the customer is the person nearest the fascia (without one, the person in view longest); a
watcher is anyone else whose box comes within `max_gap` of the customer's height of the customer's
box and who is no nearer the fascia than the customer (behind, not beside the machine).
A watcher there for `after_s` (with gaps of up to `hold_s` forgiven: a tracker loses people for a
frame) raises `shoulder_surfing` with both boxes.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from core.detector import Detector, Flag, register
from core.events import WARNING, EventSpec
from core.settings import Section
from features.boxes import gap, union_boxes
from hw_io.atm_state import check_known


class SurfingConfig(Section):
    """Shoulder surfing: someone close behind a customer at the PIN prompt; see detectors/surfing.py."""

    enabled: bool = Field(True, description="raise shoulder_surfing")
    after_s: float = Field(2.0, gt=0, le=600, description="a watcher close behind the customer this long raises "
                                                          "shoulder_surfing")
    max_gap: float = Field(0.5, ge=0, le=5, description="close behind: boxes no further apart than this share of "
                                                        "the customer's height")
    hold_s: float = Field(0.5, ge=0, le=60, description="a watcher out of reach for up to this long still counts "
                                                        "as there")
    states: list[str] = Field(default_factory=lambda: ["pin_entry"],
                              description="ATM states in which a PIN is being entered")

    @field_validator("states")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        check_known(v)
        return v


@register
class SurfingDetector(Detector):
    name = "surfing"
    needs = ("people",)
    Settings = SurfingConfig
    events = {"shoulder_surfing": EventSpec(WARNING, repeat=False, description="someone close behind a customer "
                                                                              "entering a PIN")}

    def __init__(self, cfg: SurfingConfig, fps: float, models: dict[str, Any] | None = None):
        super().__init__(cfg, fps)
        self._since: dict[int, float] = {}   # watcher's track id -> when it came close
        self._seen: dict[int, float] = {}    # watcher's track id -> when it was last close

    def reset(self) -> None:
        self._since.clear()
        self._seen.clear()

    def detect(self, ctx) -> list[Flag]:
        now = ctx.time_s
        for pid in [p for p, t in self._seen.items() if now - t > self.cfg.hold_s]:
            del self._seen[pid], self._since[pid]
        people = ctx.people or []
        if len(people) < 2:
            return []
        customer = self._customer(ctx, people)
        if customer is None:
            return []
        reach = self.cfg.max_gap * customer.box[3]
        own = self._to_fascia(ctx, customer)
        flags = []
        for p in people:
            if p is customer or gap(p.box, customer.box) > reach or self._to_fascia(ctx, p) < own:
                continue
            self._seen[p.id] = now
            since = self._since.setdefault(p.id, now)
            if now - since >= self.cfg.after_s - 1e-9:
                flags.append(Flag("shoulder_surfing", min(1.0, (now - since) / (2 * self.cfg.after_s)),
                                  union_boxes([customer.box, p.box]),
                                  {"customer": customer.id, "watcher": p.id, "close_s": round(now - since, 1)}))
        return flags[:1]

    def _customer(self, ctx, people):
        """The person at the machine while a PIN may be entered, or None."""
        if ctx.fascia is not None:
            nearest = min(people, key=lambda p: self._to_fascia(ctx, p))
        else:
            nearest = min(people, key=lambda p: p.first_s)
        if ctx.state in self.cfg.states:
            return nearest
        if ctx.state == "unknown" and (ctx.fascia is None or gap(nearest.box, ctx.fascia) <= 0):
            return nearest
        return None

    @staticmethod
    def _to_fascia(ctx, p) -> float:
        if ctx.fascia is None:
            return 0.0   # without a fascia, nobody is nearer the machine than anyone else
        return gap(p.box, ctx.fascia)
