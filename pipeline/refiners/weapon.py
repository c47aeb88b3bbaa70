"""Stage 2: is a person in the booth holding a gun or a knife? (LiteRT, on escalated frames only.)

On a frame the gate escalates, each person the occupancy stage tracks (`ctx.people`, the largest
`weapon.max_people` first) is cut from the decoded frame at the camera's resolution with the view
around them and their box marked (features/person_crop.py), and the exported weapon classifier gives
P(armed). A person whose P(armed) reaches the threshold on `weapon.persist_frames` scored frames
within `weapon.window_s` raises `weapon` (attack, `"stage": "deep"`, with the person's box and id):
one frame's glint is not a gun. Frames that do not escalate, and frames with nobody in view, pay
nothing. Built only when an exported weapon model is present and `weapon.enabled` is set: it is off
by default until it stops raising attack alarms on people who hold nothing (README, "Weapons").
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from core.detector import Flag
from core.events import ATTACK, EventSpec
from core.refiner import Refiner, register_refiner
from core.settings import Section
from features.person_crop import inside, region_input, widened
from pipeline.refiners.recent import Recent


class WeaponConfig(Section):
    """Stage 2: the weapon classifier on the people of escalated frames; see pipeline/refiners/weapon.py."""

    enabled: bool = Field(False, description="use the exported weapon model on escalated frames when there is one; off "
                                             "by default: on street and café footage without a weapon it still raised "
                                             "`weapon` (see the README), and `weapon` is an attack alarm")
    precision: str = Field("float", pattern="^(float|int8)$", description="which LiteRT export runs: float or int8")
    min_prob: float | None = Field(None, ge=0, le=1, description="P(armed) that counts as armed; empty: the model's")
    persist_frames: int = Field(3, ge=1, le=100, description="weapon needs this many armed frames of one person ...")
    window_s: float = Field(2.0, gt=0, le=60, description="... within this many seconds")
    max_people: int = Field(3, ge=1, le=20, description="people scored per escalated frame, largest first: bounds "
                                                       "stage 2's cost in a crowd")
    min_person_px: int = Field(48, ge=8, le=2000, description="people shorter than this (source pixels) are not judged")


@register_refiner
class WeaponRefiner(Refiner):
    name = "weapon"
    Settings = WeaponConfig
    events = {"weapon": EventSpec(ATTACK, description="stage 2: a person holding a gun or a knife")}

    def __init__(self, cfg: WeaponConfig, model: Any):
        self.cfg = cfg
        self.model = model
        self.model.runner.precision = cfg.precision
        self.threshold = cfg.min_prob if cfg.min_prob is not None else float(model.threshold_)
        self.model_calls = 0    # person crops scored (bench reads it)
        self.frames = 0         # escalated frames with somebody to score
        self.peak = 0.0         # the highest P(armed) seen
        self._armed: dict[int, Recent] = {}   # person id -> their armed frames within window_s

    @classmethod
    def build(cls, cfg: WeaponConfig | None, models: dict[str, Any]) -> "WeaponRefiner | None":
        model = models.get("weapon_lite")
        if model is None or cfg is None or not cfg.enabled:
            return None
        return cls(cfg, model)

    def summary(self) -> str:
        return (f"weapon check (LiteRT {self.cfg.precision}): {self.model_calls} person crops on {self.frames} "
                f"frames; highest P(armed) {self.peak:.2f}")

    def _crop(self, ctx, box) -> Any:
        h, w = ctx.motion.mask.shape[:2]
        if box[3] * ctx.to_source < self.cfg.min_person_px:
            return None
        crop = widened(box, w, h)
        x0, y0, x1, y1 = crop
        region = ctx.source_crop((x0, y0, x1 - x0, y1 - y0))
        return None if region is None else region_input(region, inside(box, crop))

    def _largest(self, people) -> list:
        """The people to score: the largest `max_people` first (bounds the cost in a crowd)."""
        return sorted(people or [], key=lambda p: p.box[2] * p.box[3], reverse=True)[:self.cfg.max_people]

    def score(self, ctx) -> float:
        """The highest P(armed) of this frame's people (bench prices stage 2 on every frame with it)."""
        crops = [c for c in (self._crop(ctx, p.box) for p in self._largest(ctx.people)) if c is not None]
        return max((float(self.model.predict_proba(c)[1]) for c in crops), default=0.0)

    def refine(self, ctx, flags: list[Flag]) -> list[Flag]:
        if not ctx.people:
            return flags
        self.frames += 1
        out = flags
        t = ctx.time_s
        for person in self._largest(ctx.people):
            crop = self._crop(ctx, person.box)
            if crop is None:
                continue
            self.model_calls += 1
            p = float(self.model.predict_proba(crop)[1])
            self.peak = max(self.peak, p)
            hits = self._armed.setdefault(person.id, Recent(self.cfg.window_s))
            if p >= self.threshold:
                hits.add(t)
            else:
                hits.forget_before(t)
            if len(hits) >= self.cfg.persist_frames and p >= self.threshold:
                out = [*out, Flag("weapon", round(p, 4), person.box, stage="deep",
                                  extra={"person_id": person.id, "threshold": round(self.threshold, 4)})]
        # People gone for a window are forgotten (a long shift must not grow this).
        for recent in self._armed.values():
            recent.forget_before(t)
        for pid in [k for k, v in self._armed.items() if not v]:
            del self._armed[pid]
        return out
