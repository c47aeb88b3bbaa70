"""`evaluate --task skimming`: every clip of a labelled folder, of a folder of videos (a site's own
footage needs no labels: every clip is scored as recorded and patched), or one video file, as recorded
and with a skimmer-like patch pasted into its fascia from the middle frame on (datasets/skim_patch.py;
`--patch-style`, `--patch-size`), through the
whole cascade exactly as `run` builds it, with `skimming.roi` over the clip's stillest part (its sides
`--roi-share` of the picture's, 0.15 by default: a site draws its own larger or smaller), or, when
the config sets `skimming.roi` (a site's own fascia, for footage of its own camera), that region for
every clip.

Both runs go through `pipeline/replay.py`, the live path (FrameSource, cascade, decision, frame loop);
the patch is pasted into each decoded frame at the source's resolution (the fascia is in source
pixels). With `--perturb`, each camera perturbation of datasets/perturb.py is applied after the patch
(the camera sees the skimmer as it sees the rest), to both runs; the region is chosen on the footage
as recorded, so every perturbation is scored on the same fascia.
Each clip gets its own seed (from its path), so the patch's place and texture vary between clips but
not between runs; `--seed N` (N > 0) mixes N into every clip's seed: the same clips and regions with
the patches placed and drawn anew, to score the check on placements it was not tuned on (0, the
default, is the placement every figure in the README was measured with). Time is clip time.

Per clip: `skimmer_suspected` starts on the recorded clip (each a false alarm), and on the patched one
before the onset (false) and after it: detected when exactly one comes within `skimming.after_s` + 1 s
of the onset. With it, what the check could do: the share of the fascia learnt by the onset, how
often something was compared after it, and why looks compared nothing (`held_light`, `held_person`,
`held_margin`, `held_turned`) or set their comparison aside (`held_view`: the surroundings changed too,
`held_whole`: all of the fascia did), as shares of the patched run's looks: the detector's own counts.
`held_joined` is the share of looks in which movement reaching the region's edge held cells that
differ (what a hand resting on the keypad is held by; it holds a patch beside someone moving there too).
A patched clip with no event at all says what most likely kept the check from the patch (`why_missed`:
`too_short`, `not_learnt`, a `held_*` reason, or `compared`; `_Onset.why_blind`), and the summary
counts them (`missed_why`). `--trace CLIP` writes the detector's own look-by-look trace
(`skimming.trace_file`) of a clip's two runs under `out/trace/`: why it raised or did not, from the
runs that were scored.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import zlib
from collections import Counter

import numpy as np

from core.errors import UserError
from datasets.labelled import read_labels
from datasets.skim_patch import SHARE, SIZE, Patcher, check_patch, quiet_region
from detectors.skimming import HELD, SkimmingConfig, SkimmingDetector
from pipeline.config import Config
from pipeline.replay import parallel_map, replay_clip
from sources.frame_source import FrameSource
from tasks.registry import Task, register_task

EVENT = "skimmer_suspected"
SLACK_S = 1.0
# --roi-share's range: a region of under 5 % of the picture's sides is a few pixels on a small stream;
# over half of them leaves quiet_region's margin nowhere to go.
ROI_SHARES = (0.05, 0.5)
# What a folder without labels.csv is searched for (any case), in it and below it.
VIDEO_SUFFIXES = (".avi", ".mp4", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm", ".ts")


def clip_jobs(dataset: str) -> list[tuple[str, str]]:
    """(name, path) of every clip: a labelled folder's, a folder's videos (no labels.csv: the check's
    score needs no labels, so a site's footage is scored as it was copied off the recorder), or one
    video file."""
    if os.path.isfile(dataset):
        return [(os.path.basename(dataset), dataset)]
    if os.path.isdir(dataset) and not os.path.isfile(os.path.join(dataset, "labels.csv")):
        found = []
        for root, dirs, files in os.walk(dataset):
            dirs.sort()
            found += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith(VIDEO_SUFFIXES)]
        if not found:
            raise UserError(f"{dataset}: no labels.csv and no video files ({', '.join(VIDEO_SUFFIXES)}) in it")
        return [(os.path.relpath(p, dataset), p) for p in found]
    return [(it.rel, it.path) for it in read_labels(dataset, None)]


def _read(path: str) -> tuple[list, float]:
    """The clip's decoded pictures (to choose where its fascia goes) and its rate."""
    with FrameSource(path, reconnect=False) as src:
        return [f.raw for f in src], src.fps


class _People:
    """A frame-loop sink: per source pixel, in how many frames the occupancy stage had a person there.
    A sink sees each frame before the cascade does, so it adds the previous frame's people."""

    def __init__(self, cascade, shape: tuple[int, int]):
        self.cascade, self.map = cascade, np.zeros(shape, np.float32)

    def on_frame(self, frame) -> None:
        self.add()

    def add(self) -> None:
        last = self.cascade.classical.last
        if last is None:
            return
        ctx = last.ctx
        for p in ctx.people or ():
            x, y, w, h = (int(round(v * ctx.to_source)) for v in p.box)
            self.map[max(0, y):y + h, max(0, x):x + w] += 1


class _Onset:
    """A frame-loop sink: when the patch appears, and what the skimming check had done by then."""

    def __init__(self, cascade, onset: int, patch: tuple[int, int, int, int]):
        self.det, self.onset, self.patch = cascade.classical.detector("skimming"), onset, patch
        self.time_s, self.learnt, self.looks, self.compared, self.patch_learnt = None, 0.0, 0, 0, 0.0
        self.joined = 0
        self.held: dict[str, int] = {}

    def on_frame(self, frame) -> None:
        if frame.index == self.onset:
            self.time_s = frame.time_s
            # The region's own cells, as the check's rule counts them (not its margin's).
            self.learnt, self.looks, self.compared = self.det.learnt(), self.det.looks, self.det.compared
            self.joined = self.det.joined
            # The cells under the patch: learnt after it appeared, they learn it as the fascia.
            self.patch_learnt = self.det.learnt(self.patch)
            self.held = dict(self.det.held)

    def why_blind(self) -> str:
        """What most likely kept the check from a patch it missed: under half of the fascia, or of the
        cells under the patch, learnt by the onset (`not_learnt`: nothing to compare with, or the patch
        learnt as the fascia), else the reason that held at least a quarter of
        the looks after the onset (`held_person`, `held_turned`, ...), else `held_joined` when movement
        reaching the region's edge held cells that differ on at least a quarter of them (the rule that
        keeps a hand resting on the keypad from being raised held what was fitted beside someone moving
        there), else `compared` (compared, and not raised in time)."""
        if min(self.learnt, self.patch_learnt) < 0.5:
            return "not_learnt"
        looks = self.det.looks - self.looks
        why, n = max(((w, self.det.held[w] - self.held.get(w, 0)) for w in HELD), key=lambda t: t[1])
        if looks and n >= 0.25 * looks:
            return f"held_{why}"
        return "held_joined" if looks and self.det.joined - self.joined >= 0.25 * looks else "compared"

    def after(self) -> dict:
        looks = self.det.looks - self.looks
        return {"learnt_at_onset": round(self.learnt, 2), "patch_learnt_at_onset": round(self.patch_learnt, 2),
                "compared_after_onset": round((self.det.compared - self.compared) / max(1, looks), 2),
                "looks": self.det.looks,
                **{f"held_{why}": round(n / max(1, self.det.looks), 2) for why, n in self.det.held.items()},
                "held_joined": round(self.det.joined / max(1, self.det.looks), 2)}


def _starts(replay) -> list[float]:
    return [e.time_s for e in replay.events if e.type == EVENT and e.is_start]


def _clip_job(args) -> dict:
    rel, path, cfg_data, (style, size), perturb, share, placement = args
    cfg = Config.model_validate(cfg_data)
    frames, fps = _read(path)
    if len(frames) < 4:
        return {"clip": rel, "error": "fewer than 4 frames"}
    H, W = frames[0].shape[:2]
    made: dict = {}

    def sink(name, cls, *args):
        """A sink factory for replay_clip that also keeps the sink it made."""
        def make(cascade):
            made[name] = cls(cascade, *args)
            return [made[name]]
        return make

    sk = cfg.skimming
    trace, sk.trace_file = sk.trace_file, None   # each of the two runs below writes its own
    if sk.roi is None:   # a configured one is the site's fascia (checked to fit by _check_roi)
        # Where a site would draw a fascia: a part of the scene nothing moves over and nobody stands in.
        if cfg.people.enabled:
            replay_clip(path, cfg, {}, probe=lambda _c: made["people"].add(), sinks=sink("people", _People, (H, W)))
        sk.roi = quiet_region(frames, share, people=made["people"].map if cfg.people.enabled else None,
                              step=max(1, int(round(fps / sk.update_hz))), threshold=sk.motion_threshold,
                              moving_share=sk.motion_share)
    roi = list(sk.roi)
    sk.reference_file = None
    onset = len(frames) // 2
    seed = patch_seed(rel, placement)
    patcher = Patcher(roi, W, H, seed=seed, size=size, style=style)
    camera = None if perturb is None else (*perturb, seed)   # the same noise on both runs
    # Both through the live path: FrameSource, cascade, decision, as `run` has them.
    sk.trace_file = trace and f"{os.path.splitext(trace)[0]}-clean.csv"
    clean = _starts(replay_clip(path, cfg, {}, perturb=camera))
    sk.trace_file = trace and f"{os.path.splitext(trace)[0]}-patched.csv"
    patched = _starts(replay_clip(path, cfg, {}, perturb=camera, edit=lambda i, raw: patcher.frame(i, raw, onset),
                                  sinks=sink("onset", _Onset, onset, patcher.box)))
    at = made["onset"]
    t_on = at.time_s if at.time_s is not None else onset / fps
    early = [t for t in patched if t < t_on - 1e-9]
    window = [t for t in patched if t_on - 1e-9 <= t <= t_on + cfg.skimming.after_s + SLACK_S + 1e-9]
    detected = len(window) == 1 and len(patched) == 1
    # A miss, and why: a clip that ends before a change could have stayed still for settle_s and then
    # held for after_s is too short for any setting; else what the check's own counts say.
    short = (len(frames) - 1 - onset) / fps < sk.settle_s + sk.after_s - 1e-9   # the last frame's time after it
    why = "" if detected or patched else "too_short" if short else at.why_blind()
    return {"clip": rel, "fps": round(fps, 3), "frames": len(frames), "width": W, "height": H,
            "roi": roi, "patch": list(patcher.box), "onset_frame": onset,
            "clean_events": len(clean), "patched_events": len(patched), "before_onset": len(early),
            "detected": detected, "why_missed": why,
            "latency_s": round(window[0] - t_on, 3) if window else "", **at.after()}


def patch_seed(rel: str, placement: int = 0) -> int:
    """The seed of clip `rel`'s patch (its place, its texture, a perturbation's noise): from its path, and,
    for `placement` above 0, from that too (`--seed`)."""
    key = rel if placement == 0 else f"{rel}#{placement}"
    return zlib.crc32(key.encode("utf-8")) % 100000


def summarize(rows: list[dict], after_s: float, roi: list[int] | None = None,
              patch: tuple[str, float] = ("block", SIZE), share: float = SHARE, placement: int = 0) -> dict:
    ok = [r for r in rows if "error" not in r]
    lat = [r["latency_s"] for r in ok if r["latency_s"] != ""]
    missed = [r for r in ok if r["latency_s"] == ""]
    return {
        "clips": len(ok),
        "unreadable": [r["clip"] for r in rows if "error" in r],
        "roi": f"configured: {list(roi)}" if roi is not None else
               f"per clip: the window of {100 * share:g} % of the picture's sides (and a margin of a quarter of "
               "them) where the occupancy stage saw people least often, then where the fewest of the check's "
               "looks saw movement",
        "onset": "middle frame (n_frames // 2) of each clip",
        "patch": f"style {patch[0]}, {round(100 * patch[1])} % of the roi's sides (datasets/skim_patch.py)",
        "placement_seed": placement,
        "window_s": round(after_s + SLACK_S, 3),
        "recorded_clips_with_event": sum(r["clean_events"] > 0 for r in ok),
        # The same two counts under the names other tasks' `--perturb` rows use.
        "false_alarms": sum(r["clean_events"] > 0 for r in ok),
        "recall": round(sum(r["detected"] for r in ok) / max(1, len(ok)), 4),
        "recorded_events": sum(r["clean_events"] for r in ok),
        "patched_detected_once_in_window": sum(r["detected"] for r in ok),
        "patched_missed": [r["clip"] for r in missed],
        "patched_more_than_one": [r["clip"] for r in ok if r["patched_events"] > 1],
        "patched_before_onset": sum(r["before_onset"] for r in ok),
        # The patched clips with no event at all, by what kept the check from the patch (why_missed).
        "missed_why": dict(sorted(Counter(r["why_missed"] for r in ok if r.get("why_missed")).items())),
        # Why the missed clips' looks compared nothing, as a share of those looks (the patched runs).
        "missed_looks_held": {why: round(sum(r[f"held_{why}"] * r["looks"] for r in missed) / max(1, sum(
            r["looks"] for r in missed)), 3) for why in HELD},
        "latency_s": {"median": round(statistics.median(lat), 3) if lat else None,
                      "max": round(max(lat), 3) if lat else None},
    }


def evaluate_skimming(dataset: str, cfg: Config, out: str, workers: int = 2, progress: bool = True,
                      patch: tuple[str | None, float | None] | None = None,
                      perturb: tuple[str, int] | None = None, roi_share: float | None = None,
                      trace: list[str] | None = None, seed: int = 0) -> dict:
    """`patch`: (style, size) of datasets/skim_patch.Patcher, either None for its default (block, SIZE);
    `perturb`: (kind, level) of datasets/perturb.py applied to every frame of both runs; `roi_share`: the
    sides of the region chosen in each clip, as a share of the picture's (None: SHARE), when the config
    sets none; `trace`: clips (their path under the dataset, file name or name without extension) whose
    two runs write the live detector's look-by-look trace (skimming.trace_file) to
    out/trace/<clip>-clean.csv and -patched.csv; `seed`: mixed into each clip's patch seed (0: the
    clip's path alone, patch_seed)."""
    style, size = patch or (None, None)
    patch = (style or "block", SIZE if size is None else size)
    try:
        check_patch(patch[1], patch[0])
    except ValueError as exc:
        raise UserError(f"invalid patch: {exc}") from None
    if roi_share is not None and cfg.skimming.roi is not None:
        raise UserError("--roi-share chooses the fascia in each clip, but the config sets skimming.roi")
    share = SHARE if roi_share is None else roi_share
    if not ROI_SHARES[0] <= share <= ROI_SHARES[1]:
        raise UserError(f"--roi-share {share:g} must be from {ROI_SHARES[0]:g} to {ROI_SHARES[1]:g}")
    if cfg.skimming.trace_file:
        raise UserError("evaluate writes each clip's trace under --out: name the clips with --trace, "
                        "not skimming.trace_file")
    jobs = [(rel, path, cfg.model_dump(), patch, perturb, share, seed) for rel, path in clip_jobs(dataset)]
    if not jobs:
        raise UserError(f"{dataset}: no clips")
    for name in trace or ():
        hits = [job for job in jobs if name in (job[0], os.path.basename(job[0]),
                                                os.path.splitext(os.path.basename(job[0]))[0])]
        if not hits:
            raise UserError(f"--trace {name}: no such clip in {dataset}")
        for job in hits:
            job[2]["skimming"]["trace_file"] = os.path.join(out, "trace", os.path.splitext(job[0])[0] + ".csv")
    if cfg.skimming.roi is not None:
        _check_roi(cfg.skimming, jobs)
    # Clips differ in length: one at a time to a worker (each with one OpenCV thread: with OpenCV's own
    # threads, one clip's quiet region once came out differently between runs).
    rows = parallel_map(_clip_job, jobs, workers, desc="skimming: clips", min_items=2, chunksize=1,
                        progress=progress)
    rows.sort(key=lambda r: r["clip"])
    summary = summarize(rows, cfg.skimming.after_s, cfg.skimming.roi, patch, share, seed)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "skimming.json"), "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2)
    fields = ["clip", "fps", "frames", "width", "height", "roi", "patch", "onset_frame", "clean_events",
              "patched_events", "before_onset", "detected", "why_missed", "latency_s", "learnt_at_onset",
              "patch_learnt_at_onset", "compared_after_onset", "looks", *(f"held_{why}" for why in HELD),
              "held_joined", "error"]
    with open(os.path.join(out, "skimming_clips.csv"), "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    print(f"skimming: {summary['clips']} clips; recorded: {summary['recorded_events']} skimmer_suspected on "
          f"{summary['recorded_clips_with_event']} clips; patched: one event within {summary['window_s']:g} s of "
          f"the onset on {summary['patched_detected_once_in_window']}, missed {len(summary['patched_missed'])}, "
          f"more than one on {len(summary['patched_more_than_one'])}; latency median {summary['latency_s']['median']} "
          f"s, max {summary['latency_s']['max']} s")
    return summary


def _check_roi(sk: SkimmingConfig, jobs: list[tuple]) -> None:
    """A configured fascia must fit every clip's picture (as decoded, and as the patch needs it), and so
    must each of `more_rois` (as `run` checks them): said before any clip is run."""
    check = SkimmingDetector(sk.model_copy(update={"reference_file": None}), 10.0)
    for rel, path, *_ in jobs:
        with FrameSource(path, reconnect=False) as src:
            W, H = src.source_size
        try:
            Patcher(sk.roi, W, H)
        except ValueError as exc:
            raise UserError(f"invalid config: skimming.{exc} ({rel})") from None
        try:
            check.check_source(W, H)
        except UserError as exc:
            raise UserError(f"{exc} ({rel})") from None


def _evaluate(dataset: str, model_dir: str, out: str, cfg: Config, perturb: tuple[str, int] | None = None,
              patch: tuple[str | None, float | None] | None = None, roi_share: float | None = None,
              trace: list[str] | None = None, seed: int = 0) -> dict:
    return evaluate_skimming(dataset, cfg, out, patch=patch, perturb=perturb, roi_share=roi_share, trace=trace,
                             seed=seed)


register_task(Task("skimming", evaluate=_evaluate,
                   untrained="the fascia is learnt on the kiosk, from its own camera"))
