"""`relearn`: forget the ATM fascia the skimming check learnt, after an engineer serviced the machine
(a new card reader, a sticker the bank added): that of `skimming.roi` and of each of `skimming.more_rois`.
The running service notices within seconds (detectors/skimming.py, RECHECK_S) and learns each again
while nothing moves in front of it."""

from __future__ import annotations

import os
import sys

from core.errors import UserError
from detectors.skimming import RECHECK_S, reference_path, reference_paths
from pipeline.config import load_config


def relearn(args) -> int:
    cfg = load_config(args.config, args.overrides)
    sk = cfg.skimming
    by_region = reference_paths(sk, cfg.storage_dir)
    paths = list(by_region.values()) or [reference_path(sk, cfg.storage_dir)]
    if args.roi is not None:
        # Only the machine that was serviced: the others keep what they learnt (relearning a fascia with a
        # skimmer on it would learn the skimmer).
        roi = tuple(_region(args.roi))
        if roi not in by_region:
            raise UserError(f"--roi {args.roi}: not a configured region (skimming.roi, skimming.more_rois: "
                            f"{', '.join(str(list(r)) for r in by_region) or 'none'})")
        paths = [by_region[roi]]
    kept = [p for p in paths if os.path.exists(p)]
    if not kept:
        print(f"no learnt fascia at {paths[0]}: nothing to forget", file=sys.stderr)
        return 0
    for path in kept:
        try:
            os.remove(path)
        except OSError as exc:
            raise UserError(f"{path}: cannot delete it ({exc.strerror or exc})") from None
    print(f"deleted {', '.join(kept)}; the running service learns the fascia again within {RECHECK_S:g} s, while "
          f"nothing moves in front of the machine", file=sys.stderr)
    return 0


def _region(text: str) -> list[int]:
    """`x,y,w,h` (or `[x, y, w, h]`) as a list of 4 ints."""
    try:
        box = [int(v) for v in text.strip().strip("[]").split(",")]
    except ValueError:
        box = []
    if len(box) != 4:
        raise UserError(f"--roi {text}: expected x,y,w,h in source pixels, e.g. 244,110,52,34")
    return box
