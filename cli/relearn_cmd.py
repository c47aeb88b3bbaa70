"""`relearn`: forget the ATM fascia the skimming check learnt, after an engineer serviced the machine
(a new card reader, a sticker the bank added): that of `skimming.roi` and of each of `skimming.more_rois`.
The running service notices within seconds (detectors/skimming.py, RECHECK_S) and learns each again
while nothing moves in front of it."""

from __future__ import annotations

import os
import sys

from core.errors import UserError
from detectors.skimming import RECHECK_S, reference_paths
from pipeline.config import load_config


def relearn(args) -> int:
    cfg = load_config(args.config, args.overrides)
    paths = [p for p in reference_paths(cfg.skimming, cfg.storage_dir) if os.path.exists(p)]
    if not paths:
        print(f"no learnt fascia at {reference_paths(cfg.skimming, cfg.storage_dir)[0]}: nothing to forget",
              file=sys.stderr)
        return 0
    for path in paths:
        try:
            os.remove(path)
        except OSError as exc:
            raise UserError(f"{path}: cannot delete it ({exc.strerror or exc})") from None
    print(f"deleted {', '.join(paths)}; the running service learns the fascia again within {RECHECK_S:g} s, while "
          f"nothing moves in front of the machine", file=sys.stderr)
    return 0
