"""`relearn`: forget the ATM fascia the skimming check learnt, after an engineer serviced the machine
(a new card reader, a sticker the bank added). The running service notices within seconds
(detectors/skimming.py, RECHECK_S) and learns it again while nothing moves in front of it."""

from __future__ import annotations

import os
import sys

from core.errors import UserError
from detectors.skimming import RECHECK_S, reference_path
from pipeline.config import load_config


def relearn(args) -> int:
    cfg = load_config(args.config, args.overrides)
    path = reference_path(cfg.skimming, cfg.storage_dir)
    if not os.path.exists(path):
        print(f"no learnt fascia at {path}: nothing to forget", file=sys.stderr)
        return 0
    try:
        os.remove(path)
    except OSError as exc:
        raise UserError(f"{path}: cannot delete it ({exc.strerror or exc})") from None
    print(f"deleted {path}; the running service learns the fascia again within {RECHECK_S:g} s, while nothing "
          f"moves in front of the machine", file=sys.stderr)
    return 0
