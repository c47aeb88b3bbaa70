"""Stage 2: the deep CNN looks again at the frames the gate escalates (LiteRT on the kiosk).

On an escalated frame with a flag it may judge (`deep.veto`, by default `fight`), the CNN gives
P(fight) of the frame (features/deep_input.py). The decision reads the mean P(fight) of the last
`deep.confirm_frames` judged frames (within `deep.window_s`), not one frame's: one frame and its
motion mask are a noisy witness, and a flag the cheap stage holds lasts at least a hop. At or above
the model's threshold (or `deep.min_fight_prob`) the flag is confirmed and carries `"stage": "deep"`
and the CNN's probability; under it, or while fewer frames have been judged, the flag is vetoed for
this frame. Flags of other types pass untouched. Built only when an exported deep
model is present: without one, the cheap stage decides alone, as before.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from core.detector import Flag
from core.refiner import Refiner, register_refiner
from core.settings import Section
from features.deep_input import from_context
from pipeline.refiners.recent import Recent


class DeepConfig(Section):
    """Stage 2: the deep CNN on escalated frames; see pipeline/refiners/deep.py."""

    enabled: bool = Field(True, description="use the exported deep model on escalated frames when there is one")
    precision: str = Field("float", pattern="^(float|int8)$", description="which LiteRT export runs: float or int8")
    veto: list[str] = Field(default_factory=list,
                            description="flag types stage 2 judges: confirmed at or above the threshold, vetoed "
                                        "under it (others pass untouched); empty (the default: on unseen scenes "
                                        "it lost more fights than false alarms, see the README): the CNN is not run")
    min_fight_prob: float | None = Field(None, ge=0, le=1,
                                         description="P(fight) under which a flag is vetoed; empty: the model's")
    confirm_frames: int = Field(1, ge=1, le=50, description="the decision reads the mean P(fight) of this many judged "
                                                            "frames (1: each frame alone)")
    window_s: float = Field(1.5, gt=0, le=30, description="judged frames older than this are forgotten")


@register_refiner
class DeepRefiner(Refiner):
    name = "deep"
    Settings = DeepConfig

    def __init__(self, cfg: DeepConfig, model: Any):
        self.cfg = cfg
        self.model = model
        self.model.precision = cfg.precision
        self.threshold = cfg.min_fight_prob if cfg.min_fight_prob is not None else float(model.threshold_)
        self.judged = set(cfg.veto)
        self.fight = list(model.classes_).index("fight")
        self.model_calls = 0   # frames on which the model was asked (bench reads it)
        self.peak = 0.0        # the highest P(fight) seen (evaluation reads it)
        # The cascade's own margin on a judged frame: min(classical score / its threshold, P(fight) /
        # this threshold), at least 1 exactly when the flag stands; the highest seen (evaluation).
        self.peak_margin = 0.0
        self.vetoed = 0
        self.confirmed = 0
        self.held = 0          # judged frames that waited for `confirm_frames` witnesses
        self._recent = Recent(cfg.window_s, maxlen=cfg.confirm_frames)  # (time_s, P(fight)) of judged frames

    @classmethod
    def build(cls, cfg: DeepConfig | None, models: dict[str, Any]) -> "DeepRefiner | None":
        model = models.get("deep_lite")
        if model is None or cfg is None or not cfg.enabled or not cfg.veto:
            return None
        return cls(cfg, model)

    def score(self, ctx) -> float:
        """P(fight) of this frame (its input made, the model called)."""
        return float(self.model.predict_proba(from_context(ctx, self.model.variant))[self.fight])

    def summary(self) -> str:
        return (f"deep CNN (LiteRT {self.cfg.precision}): asked on {self.model_calls} frames; flags confirmed "
                f"{self.confirmed}, vetoed {self.vetoed}, waiting for {self.cfg.confirm_frames} judged frames "
                f"{self.held}")

    def refine(self, ctx, flags: list[Flag]) -> list[Flag]:
        if not any(f.type in self.judged for f in flags):
            return flags
        self.model_calls += 1
        recent = self._recent
        recent.add(ctx.time_s, self.score(ctx))
        if len(recent) < self.cfg.confirm_frames:
            # Too few witnesses yet: nothing judged stands on this frame (the cheap stage's flag holds
            # for a hop, so the next frames bring them).
            self.held += 1
            return [f for f in flags if f.type not in self.judged]
        p = recent.mean()
        self.peak = max(self.peak, p)
        out = []
        for f in flags:
            if f.type in self.judged:
                margin = p / self.threshold if self.threshold > 0 else 1.0
                if f.extra.get("threshold"):
                    margin = min(margin, f.score / f.extra["threshold"])
                self.peak_margin = max(self.peak_margin, margin)
            if f.type not in self.judged:
                out.append(f)
            elif p >= self.threshold:
                f.stage = "deep"
                f.extra["deep_prob"] = round(p, 4)
                self.confirmed += 1
                out.append(f)
            else:
                self.vetoed += 1
        return out
