"""The layering, enforced: a module imports only from layers below its own (or its own package), and
the bottom layer imports nothing of ours. Read from the source with `ast`, so an import inside a
function counts too."""

from __future__ import annotations

import ast
import os

from conftest import ROOT

# The data flow, bottom to top. Packages on one rank are siblings and do not import each other.
LAYERS = {
    "core": 0,
    "sources": 1, "features": 1, "hw_io": 1, "datasets": 1,
    "detectors": 2,
    "classifiers": 3,
    "pipeline": 4,
    "tasks": 5, "bench": 5,
    "cli": 6,
}


def _imports(path: str) -> set[str]:
    with open(path, encoding="utf-8") as fh:
        tree = ast.parse(fh.read(), path)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out & set(LAYERS)


def _modules():
    for package in LAYERS:
        folder = os.path.join(ROOT, package)
        for dirpath, _, files in os.walk(folder):
            for name in files:
                if name.endswith(".py"):
                    yield package, os.path.join(dirpath, name)


def test_every_layer_folder_exists_and_is_checked():
    found = {package for package, _ in _modules()}
    assert found == set(LAYERS)


def test_no_module_imports_a_layer_above_or_beside_its_own():
    wrong = []
    for package, path in _modules():
        for used in _imports(path):
            if used != package and LAYERS[used] >= LAYERS[package]:
                wrong.append(f"{os.path.relpath(path, ROOT)} imports {used}")
    assert wrong == []


def test_the_bottom_layer_imports_none_of_ours():
    for package, path in _modules():
        if package == "core":
            assert _imports(path) <= {"core"}, path


def test_the_checker_sees_a_violation(tmp_path):
    # The rule is not vacuous: an upward import, even inside a function, is found.
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from pipeline.config import Config\n    import cli.main\n")
    assert _imports(str(bad)) == {"pipeline", "cli"}


def test_the_kiosk_path_imports_no_training_library(small_video, tmp_path):
    """run, demo and bench load saved arrays: scikit-learn and SciPy (about 100 MB on a kiosk),
    matplotlib and the deep-learning stack stay in training and evaluation. Checked on the real
    entry point, as a kiosk starts it: `run.py run` and `run.py bench` on a clip, in one process."""
    import subprocess
    import sys

    out_file = tmp_path / "modules.txt"
    code = ("import sys; sys.path.insert(0, %r); from cli.main import dispatch; import cli.demo_cmd\n"
            "for argv in %r:\n"
            "    assert dispatch(argv) == 0, argv\n"
            "heavy = {m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy', 'matplotlib', 'tensorflow', 'keras'}\n"
            "open(%r, 'w').write(repr(sorted(heavy)))\n") % (
        ROOT, [["run", "--source", small_video, "--max-frames", "5", "--model-dir", str(tmp_path / "m"),
                "--set", f"storage_dir={tmp_path / 'var'}"],
               ["bench", "--source", small_video, "--repeat", "1", "--model-dir", str(tmp_path / "m"),
                "--out", str(tmp_path / "b.json")]], str(out_file))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert out_file.read_text() == "[]"
