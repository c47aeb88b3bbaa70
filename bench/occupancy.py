"""How many people the live path counts, against counts made by eye: `tests/fixtures/people_counts.csv`
(clip, frame, count; clips relative to a data root like ../shared/data).

Each clip is replayed from its first frame through the live frame loop (source -> cascade, as `run`)
and, at each fixture frame, two counts are read from the classical stage: the occupancy stage's
(`ctx.people`: motion regions, HOG people detector, tracks) and the blob-only estimate crowding used
before it (person-sized moving blobs). Both count only people who move or were seen moving: someone
standing still since the clip began is in neither, and the fixture counts everyone in view.

    python -m bench.occupancy --data ../shared/data --out occupancy.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections import defaultdict

import numpy as np

from bench.report import finish
from core.errors import UserError
from detectors.crowding import CrowdingDetector
from pipeline.cascade import Cascade
from pipeline.config import load_config
from sources.frame_source import FrameSource

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "fixtures",
                       "people_counts.csv")


def read_fixture(path: str) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"clip", "frame", "count"} <= set(rows[0]):
        raise UserError(f"{path}: expected a header clip,frame,count[,note]")
    out = []
    for line, r in enumerate(rows, start=2):
        try:
            out.append({"clip": r["clip"], "frame": int(r["frame"]), "count": int(r["count"])})
        except (TypeError, ValueError):
            raise UserError(f"{path}:{line}: frame and count must be whole numbers") from None
    return out


def count_clip(path: str, frames: list[int], cfg) -> dict[int, tuple[int, int]]:
    """frame -> (occupancy count, blob-only count) at each of `frames`, replaying the clip live."""
    wanted, out = set(frames), {}
    with FrameSource(path, process_width=cfg.source.process_width, reconnect=False) as src:
        cascade = Cascade(cfg, src.fps, {})
        blob_only = CrowdingDetector(cfg.crowding, src.fps)
        for frame in src:
            cascade.process(frame)
            if frame.index in wanted:
                ctx = cascade.classical.last.ctx
                blobs = 0 if ctx.motion.calibrating else len(blob_only.people(ctx.blobs, ctx.motion.mask.size))
                out[frame.index] = (len(ctx.people or []), blobs)
            if frame.index >= max(wanted):
                break
    missing = wanted - set(out)
    if missing:
        raise UserError(f"{path}: ended before frame {min(missing)}")
    return out


def evaluate(data_root: str, fixture: str = FIXTURE, cfg=None) -> dict:
    cfg = cfg or load_config()
    rows = read_fixture(fixture)
    by_clip: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        by_clip[r["clip"]].append(r["frame"])
    counts = {}
    for clip, frames in by_clip.items():
        path = os.path.join(data_root, clip)
        if not os.path.isfile(path):
            raise UserError(f"clip not found: {path}")
        for f, c in count_clip(path, frames, cfg).items():
            counts[(clip, f)] = c
    table = [{**r, "occupancy": counts[(r["clip"], r["frame"])][0], "blob_only": counts[(r["clip"], r["frame"])][1]}
             for r in rows]

    def mae(sel, key):
        return round(float(np.mean([abs(t[key] - t["count"]) for t in sel])), 3) if sel else None

    groups = {"all": table}
    for t in table:
        groups.setdefault(t["clip"].split("/")[0], []).append(t)
    return {"fixture": os.path.abspath(fixture), "n": len(table),
            "mae": {g: {"occupancy": mae(sel, "occupancy"), "blob_only": mae(sel, "blob_only"), "n": len(sel)}
                    for g, sel in groups.items()},
            "rows": table}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=os.path.join("..", "shared", "data"), help="data root the fixture's clips are in")
    ap.add_argument("--fixture", default=FIXTURE)
    ap.add_argument("--config", help="YAML configuration (as run)")
    ap.add_argument("--out", help="write the JSON here as well")
    args = ap.parse_args(argv)
    return finish(lambda: evaluate(args.data, args.fixture, load_config(args.config)), args.out,
                  lambda result: json.dumps(result["mae"]))


if __name__ == "__main__":
    sys.exit(main())
