"""A kiosk command run in a fresh interpreter, and which heavy libraries it imported: what proves that
`run` with exported models loads LiteRT, never TensorFlow, Keras or scikit-learn."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[2])
WATCHED = ("tensorflow", "keras", "ai_edge_litert", "sklearn")


def kiosk_modules(argv: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, list[str]]:
    """(the finished process, the WATCHED top-level modules it had imported when the command ended)."""
    out_file = cwd / "modules.txt"
    code = ("import sys; sys.path.insert(0, %r); from cli.main import dispatch\n"
            "assert dispatch(%r) == 0\n"
            "mods = {m.split('.')[0] for m in sys.modules}\n"
            "open(%r, 'w').write(repr(sorted(mods & set(%r))))\n") % (ROOT, argv, str(out_file), WATCHED)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=str(cwd))
    return res, (eval(out_file.read_text()) if out_file.exists() else [])  # noqa: S307  (our own repr of a list)
