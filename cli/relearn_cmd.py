"""`relearn`: forget the ATM fascia the skimming check learnt, after an engineer serviced the machine
(a new card reader, a sticker the bank added). The running service learns it again, while nothing
moves in front of it, once told: `systemctl reload atm-sentinel` (SIGHUP) or a restart."""

from __future__ import annotations

import os
import sys

from core.errors import UserError
from detectors.skimming import reference_path
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
    print(f"deleted {path}; reload the service (systemctl reload atm-sentinel, or SIGHUP) or restart it, and it "
          f"learns the fascia again while nothing moves in front of the machine", file=sys.stderr)
    return 0
