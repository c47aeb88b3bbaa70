"""How a `python -m bench.<tool>` ends: the result computed (a user's mistake is one line on stderr
and exit status 2, as every command), written as JSON where asked, and its summary printed."""

from __future__ import annotations

import json
import sys
from typing import Callable

from core.errors import UserError


def finish(compute: Callable[[], dict], out: str | None, summary: Callable[[dict], str]) -> int:
    try:
        result = compute()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if out:
        with open(out, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(result, indent=2))
    print(summary(result))
    return 0
