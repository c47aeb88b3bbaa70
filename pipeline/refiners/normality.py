"""Stage 2: does this escalated frame look like normal behaviour for the ATM's state? (LiteRT.)

On every frame the gate escalates, the Siamese tower embeds the frame (features/deep_input.py) and
the normality dictionary gives its distance to the nearest normal frames of its state: the ATM's from
the state reader when the dictionary knows it, otherwise the scene's (nobody, one person, more).
Distance over the state's threshold is the frame's margin. When `normality.persist_frames` of the
escalated frames within `normality.window_s` reach `normality.min_margin`, stage 2 raises `anomaly`
(`"stage": "deep"`): one odd frame is not an incident. Flags whose types `normality.veto` lists are
vetoed on a frame that looks normal (margin under `normality.veto_below`); by default it vetoes
nothing. Built only when an exported normality model is present.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from core.detector import Flag
from core.events import WARNING, EventSpec
from core.refiner import Refiner, register_refiner
from core.settings import Section
from features.boxes import union_bbox
from features.deep_input import from_context
from pipeline.refiners.recent import Recent


class NormalityConfig(Section):
    """Stage 2: the Siamese normality check on escalated frames; see pipeline/refiners/normality.py."""

    enabled: bool = Field(True, description="use the exported normality model on escalated frames when there is one")
    precision: str = Field("float", pattern="^(float|int8)$", description="which LiteRT export runs: float or int8")
    min_margin: float = Field(1.0, gt=0, le=10,
                              description="a frame is abnormal when its distance reaches this many times its "
                                          "state's threshold (1: the threshold saved with the model)")
    persist_frames: int = Field(3, ge=1, le=100, description="anomaly needs this many abnormal escalated frames ...")
    window_s: float = Field(2.0, gt=0, le=60, description="... within this many seconds")
    veto: list[str] = Field(default_factory=list,
                            description="flag types vetoed on a frame that looks normal for its state (empty: none)")
    veto_below: float = Field(0.8, gt=0, le=10, description="a frame looks normal under this margin")


@register_refiner
class NormalityRefiner(Refiner):
    name = "normality"
    Settings = NormalityConfig
    events = {"anomaly": EventSpec(WARNING, description="stage 2: escalated frames unlike normal behaviour for the "
                                                        "ATM's state")}

    def __init__(self, cfg: NormalityConfig, model: Any):
        self.cfg = cfg
        self.model = model
        self.model.runner.precision = cfg.precision
        self.vetoes = set(cfg.veto)
        self.model_calls = 0    # frames embedded (bench reads it)
        self.peak_margin = 0.0  # the highest distance over threshold seen (evaluation reads it)
        self.vetoed = 0
        self._abnormal = Recent(cfg.window_s)  # abnormal escalated frames within window_s

    @classmethod
    def build(cls, cfg: NormalityConfig | None, models: dict[str, Any]) -> "NormalityRefiner | None":
        model = models.get("normality_lite")
        if model is None or cfg is None or not cfg.enabled:
            return None
        return cls(cfg, model)

    def _measure(self, ctx) -> tuple[float, float, float, str]:
        """(margin, distance, threshold, dictionary key) of this frame: the input made, the tower called."""
        distance, threshold, key = self.model.distance(from_context(ctx, self.model.variant), ctx.state, ctx.people)
        return (distance / threshold if threshold > 0 else float("inf")), distance, threshold, key

    def score(self, ctx) -> float:
        """This frame's margin (bench prices stage 2 on every frame with it)."""
        return self._measure(ctx)[0]

    def summary(self) -> str:
        return (f"normality check (LiteRT {self.cfg.precision}): {self.model_calls} frames compared with normal "
                f"behaviour; highest distance {self.peak_margin:.2f}x its state's threshold; flags vetoed "
                f"{self.vetoed}")

    def refine(self, ctx, flags: list[Flag]) -> list[Flag]:
        self.model_calls += 1
        margin, distance, threshold, key = self._measure(ctx)
        self.peak_margin = max(self.peak_margin, margin)
        abnormal = self._abnormal
        if margin >= self.cfg.min_margin:
            abnormal.add(ctx.time_s)
        else:
            abnormal.forget_before(ctx.time_s)
        out = flags
        if self.vetoes and margin < self.cfg.veto_below:
            out = [f for f in flags if f.type not in self.vetoes]
            self.vetoed += len(flags) - len(out)
        if len(abnormal) >= self.cfg.persist_frames and margin >= self.cfg.min_margin:
            out = [*out, Flag("anomaly", round(margin, 4), union_bbox(ctx.blobs), stage="deep",
                              extra={"distance": round(distance, 4), "threshold": round(threshold, 4),
                                     "dictionary": key})]
        return out
