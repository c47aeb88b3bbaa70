"""`bench`: the cost of each stage on a real clip, as JSON."""

from __future__ import annotations

import json
import os

from bench.measure import measure
from core.errors import UserError
from pipeline.config import load_config
from pipeline.models import load_models
from pipeline.runtime import use_opencv_threads
from sources.frame_source import parse_source


def bench(args) -> int:
    cfg = load_config(args.config, args.overrides)
    use_opencv_threads(cfg)
    kind, _ = parse_source(args.source)
    if kind != "file":
        raise UserError(f"bench needs a video file, not a {kind}: {args.source}")
    cfg, models, _ = load_models(args.model_dir, cfg)
    result = measure(args.source, cfg, models, repeat=args.repeat)
    parent = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(parent, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)
    print(json.dumps(result))
    return 0
