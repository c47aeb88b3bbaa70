"""The bench over every clip of one size in a labelled folder: one clip's ratio is noisy, the median is not.

    python -m bench.sweep --dataset ../shared/data/fight_surv --size 640x360 --out out/bench-sweep.json

Each clip is measured by bench.measure exactly as `run.py bench` measures it (decode, classical stage
and cascade timed in one run on the same frames); the report keeps every clip's figures and their
median and quartiles, and the median of each part of the classical stage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import cv2
import numpy as np

from bench.measure import measure
from core.errors import UserError
from datasets.labelled import read_labels
from pipeline.config import load_config
from pipeline.runtime import use_opencv_threads


def _size(path: str) -> tuple[int, int]:
    cap = cv2.VideoCapture(path)
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    finally:
        cap.release()


def sweep(dataset: str, size: tuple[int, int], repeat: int = 3, overrides: list[str] | None = None) -> dict:
    cfg = load_config(None, overrides or [])
    use_opencv_threads(cfg)  # as run.py runs
    paths = [it.path for it in read_labels(dataset, "fight") if _size(it.path) == size]
    if not paths:
        raise UserError(f"no {size[0]}x{size[1]} clips in {dataset}")
    rows = []
    for p in paths:
        r = measure(p, cfg, {}, repeat=repeat)
        rows.append({k: r[k] for k in ("source", "frames", "decode_ms", "classical_ms", "tamper_ms",
                                       "classical_over_decode", "decode_cpu_ms", "classical_cpu_ms",
                                       "classical_over_decode_cpu", "classical_parts_ms", "flow_calls_per_frame")})
    ratios = np.array([r["classical_over_decode"] for r in rows])
    cpu = np.array([r["classical_over_decode_cpu"] for r in rows], float)
    return {"dataset": os.path.abspath(dataset), "size": list(size), "clips": len(rows),
            "overrides": list(overrides or []),
            "classical_over_decode": {"median": float(np.median(ratios)), "q25": float(np.percentile(ratios, 25)),
                                      "q75": float(np.percentile(ratios, 75))},
            "clips_at_most_half": int((ratios <= 0.5).sum()),
            "classical_over_decode_cpu": {"median": float(np.median(cpu)), "q25": float(np.percentile(cpu, 25)),
                                          "q75": float(np.percentile(cpu, 75))},
            "clips_at_most_half_cpu": int((cpu <= 0.5).sum()),
            "classical_ms_median": float(np.median([r["classical_ms"] for r in rows])),
            "decode_ms_median": float(np.median([r["decode_ms"] for r in rows])),
            "tamper_ms_median": float(np.median([r["tamper_ms"] for r in rows])),
            "classical_parts_ms_median": {k: float(np.median([r["classical_parts_ms"][k] for r in rows]))
                                          for k in rows[0]["classical_parts_ms"]},
            "per_clip": rows}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench.sweep")
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--out", required=True)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    a = ap.parse_args(argv)
    try:
        w, h = (int(v) for v in a.size.lower().split("x"))
        report = sweep(a.dataset, (w, h), a.repeat, a.overrides)
    except ValueError:
        print(f"error: --size must look like 640x360, got {a.size}", file=sys.stderr)
        return 2
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
    s, c, n = report["classical_over_decode"], report["classical_over_decode_cpu"], report["clips"]
    print(f"{n} clips: classical/decode wall clock median {s['median']:.3f} (q25 {s['q25']:.3f}, q75 {s['q75']:.3f}), "
          f"<= 0.5 on {report['clips_at_most_half']}; CPU time median {c['median']:.3f} (q25 {c['q25']:.3f}, "
          f"q75 {c['q75']:.3f}), <= 0.5 on {report['clips_at_most_half_cpu']}; classical {report['classical_ms_median']:.3f} ms, "
          f"decode {report['decode_ms_median']:.3f} ms, tamper {report['tamper_ms_median']:.3f} ms per frame")
    parts = ", ".join(f"{k} {v:.3f}" for k, v in report["classical_parts_ms_median"].items())
    print(f"classical stage by part, median ms per frame: {parts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
