"""What share of frames the gate sends to stage 2, over every clip of a labelled folder, per label.

`bench` measures one clip; a site wants the share over its own normal footage (the gate's promise
is that normal footage rarely pays for stage 2). Each clip is replayed through the live cascade
(source -> classical stage -> gate -> refiners -> decision, as `run`) with the folder's models, and
the gate's own counts are summed per label: frames escalated, and those escalated on suspicion
alone; plus, per event type of stage 2's own (`anomaly`, `weapon`), the clips in which it was raised.

    python -m bench.escalation --dataset ../shared/data/fight_surv --model-dir models/ [--set gate.suspicion=0.8]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict

from bench.report import finish
from datasets.labelled import read_labels
from pipeline.cascade import Cascade
from pipeline.config import load_config
from pipeline.models import load_models
from sources.frame_source import FrameSource


def escalation(dataset: str, model_dir: str | None, cfg) -> dict:
    from core.refiner import refiners

    cfg, models, _ = load_models(model_dir, cfg)
    own = {name for cls in refiners() for name in cls.events}
    totals: dict[str, dict] = defaultdict(lambda: {"clips": 0, "frames": 0, "escalated": 0, "by_suspicion": 0,
                                                   "clips_with_stage2_event": defaultdict(int)})
    for item in read_labels(dataset, None):
        with FrameSource(item.path, process_width=cfg.source.process_width, reconnect=False) as src:
            cascade = Cascade(cfg, src.fps, models)
            raised: set[str] = set()   # stage 2's own event types (a confirmed flag keeps its classical type)
            for frame in src:
                raised |= {e.type for e in cascade.process(frame) if e.is_start and e.type in own}
        t = totals[item.label or "unlabelled"]
        t["clips"] += 1
        t["frames"] += cascade.gate.seen
        t["escalated"] += cascade.gate.escalated
        t["by_suspicion"] += cascade.gate.by_suspicion
        for kind in raised:
            t["clips_with_stage2_event"][kind] += 1
    out = {}
    for label, t in totals.items():
        share = (lambda k: round(t[k] / t["frames"], 4) if t["frames"] else None)  # noqa: E731
        out[label] = {**t, "clips_with_stage2_event": dict(t["clips_with_stage2_event"]),
                      "escalated_fraction": share("escalated"), "by_suspicion_fraction": share("by_suspicion")}
    return {"dataset": dataset, "model_dir": model_dir, "gate_suspicion": cfg.gate.suspicion, "per_label": out}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", required=True, help="a labelled clip folder (labels.csv)")
    ap.add_argument("--model-dir", default="models")
    ap.add_argument("--config", help="YAML configuration (as run)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", help="write the JSON here as well")
    args = ap.parse_args(argv)
    return finish(lambda: escalation(args.dataset, args.model_dir, load_config(args.config, args.overrides)),
                  args.out, lambda result: json.dumps(result["per_label"]))


if __name__ == "__main__":
    sys.exit(main())
