"""The skimmer-patch tool (datasets/skim_patch.py) and `evaluate --task skimming`, which pastes it into
footage and replays it through the cascade as `run` does."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from cli.main import dispatch
from core.errors import UserError
from datasets.skim_patch import FAINT, STYLES, Patcher, main, quiet_region
from datasets.synthetic_booth import booth_scenario
from detectors.skimming import HELD
from helpers.files import write_video
from pipeline.config import load_config
from tasks.skimming import evaluate_skimming

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "data")


def scene(n=40, w=320, h=240, seed=0):
    """The booth's empty background, sensor noise, and a person-sized block walking along the left."""
    bg = booth_scenario(w, h).background()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        f = np.clip(bg.astype(np.int16) + rng.normal(0, 2, bg.shape).round().astype(np.int16), 0, 255).astype(np.uint8)
        x = 10 + 3 * i
        cv2.rectangle(f, (x, 60), (x + 30, 200), (40, 50, 60), -1)
        out.append(f)
    return out


def test_the_patch_lies_inside_the_region_and_stays_from_the_onset():
    frames = scene()
    roi = [200, 40, 80, 60]
    p = Patcher(roi, 320, 240, seed=3)
    x, y, w, h = p.box
    assert roi[0] <= x and roi[1] <= y and x + w <= roi[0] + roi[2] and y + h <= roi[1] + roi[3]
    assert (w, h) == (32, 24)    # 40 % of the region's sides
    out = list(p.apply(frames, onset=20))
    assert all(a is b for a, b in zip(out[:20], frames[:20]))          # untouched before the onset
    patch = out[20][y:y + h, x:x + w]
    assert np.abs(patch.astype(int) - frames[20][y:y + h, x:x + w]).mean() > 30
    assert all(np.array_equal(o[y:y + h, x:x + w], patch) for o in out[20:])   # fitted, it stays
    assert np.array_equal(frames[25], scene()[25])                       # the input is not written to
    assert Patcher(roi, 320, 240, seed=3).box == p.box != Patcher(roi, 320, 240, seed=4).box
    with pytest.raises(ValueError, match="inside the 320x240 picture"):
        Patcher([300, 40, 80, 60], 320, 240)


def test_the_quiet_region_avoids_what_moves_and_where_people_were():
    frames = scene()
    x, y, w, h = quiet_region(frames)
    assert (w, h) == (48, 36)
    assert x > 10 + 3 * 40 + 30 or y > 200                    # away from the walker's path
    people = np.zeros((240, 320), np.float32)
    people[:, 160:] = 5                                       # someone stood still on the right
    x2, _, w2, _ = quiet_region(frames, people=people)
    assert x2 + w2 <= 160


def test_the_quiet_region_counts_the_looks_that_saw_movement_as_the_skimming_check_does():
    # Left: a faint flicker on every frame (12 grey levels, under the check's 18). Right: still but for
    # one frame 60 levels brighter. Summed, the left differs more; but the check could learn and
    # compare it on every look, and the right is held on two.
    frames = []
    for i in range(40):
        f = np.full((240, 320, 3), 100, np.uint8)
        f[:, :160] += np.uint8(12 * (i % 2))
        if i == 20:
            f[:, 160:] += 60
        frames.append(f)
    x, _, w, _ = quiet_region(frames)
    assert x + w <= 160
    # People near every window: the one they were near least often.
    people = np.full((240, 320), 5, np.float32)
    people[:, 160:] = 1
    assert quiet_region(frames, people=people)[0] >= 160
    # Left now speckled instead: 3 % of its pixels jump by 40 levels on every frame, a codec's noise
    # the check sees at the camera's resolution though it averages away at a quarter of it.
    rng = np.random.default_rng(0)
    for f in frames:
        f[:, :160] = 100
        f[:, :160][rng.random((240, 160)) < 0.03] = 140
    assert quiet_region(frames)[0] >= 160


def test_the_quiet_regions_idea_of_movement_is_the_skimming_checks():
    from datasets import skim_patch
    from detectors.skimming import SkimmingConfig

    cfg = SkimmingConfig()
    assert (skim_patch.LOOK_HZ, skim_patch.THRESHOLD, skim_patch.MOVING_SHARE) == (
        cfg.update_hz, cfg.motion_threshold, cfg.motion_share)
    # The same rule for a noisy camera.
    from features import fascia

    rng = np.random.default_rng(0)
    for sigma in (0, 8):
        g = np.clip(128 + 40 * np.sin(np.arange(320) / 9.0)[None, :] + rng.normal(0, sigma, (240, 320)), 0, 255)
        g = g.astype(np.uint8)
        assert skim_patch._noise_threshold(g, 18.0) == pytest.approx(
            fascia.movement_threshold(g.astype(np.float32), 18.0))


def test_the_command_writes_a_patched_video(tmp_path, capsys):
    src, out = str(tmp_path / "in.avi"), str(tmp_path / "out.avi")
    writer = cv2.VideoWriter(src, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    for f in scene(20):
        writer.write(f)
    writer.release()
    assert main(["--in", src, "--out", out, "--roi", "200,40,80,60", "--onset-frame", "5"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["roi"] == [200, 40, 80, 60] and info["onset_frame"] == 5
    cap = cv2.VideoCapture(out)
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 20
    assert main(["--in", src, "--out", out, "--roi", "200,40,80,60", "--style", "faint"]) == 0
    assert json.loads(capsys.readouterr().out)["style"] == "faint"
    assert main(["--in", src, "--out", out, "--roi", "1,2,3"]) == 2
    assert main(["--in", str(tmp_path / "missing.avi"), "--out", out]) == 2


def _clip_folder(tmp_path, n_clips=2):
    folder = tmp_path / "clips"
    folder.mkdir()
    rows = ["clip,label,source_video"]
    for k in range(n_clips):
        name = f"c{k}.avi"
        write_video(folder / name, scene(45, seed=k), 15.0)
        rows.append(f"{name},normal,v{k}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


def test_evaluation_finds_each_patch_once_and_nothing_on_the_recorded_clips(tmp_path):
    folder = _clip_folder(tmp_path)
    out = tmp_path / "out"
    summary = evaluate_skimming(str(folder), load_config(None, []), str(out), workers=1, progress=False)
    assert summary["clips"] == 2
    assert summary["recorded_events"] == 0
    assert summary["patched_detected_once_in_window"] == 2
    assert summary["latency_s"]["max"] <= summary["window_s"]
    rows = (out / "skimming_clips.csv").read_text().splitlines()
    assert len(rows) == 3 and "learnt_at_onset" in rows[0] and "held_margin" in rows[0]
    assert set(summary["missed_looks_held"]) == set(HELD) >= {"light", "person", "margin", "turned", "view", "whole"}
    # The command line, on one video file.
    assert dispatch(["evaluate", "--task", "skimming", "--dataset", str(folder / "c0.avi"), "--out",
                     str(tmp_path / "one"), "--model-dir", str(tmp_path / "none")]) == 0
    assert json.loads((tmp_path / "one" / "skimming.json").read_text())["patched_detected_once_in_window"] == 1


def test_each_missed_patch_says_what_kept_the_check_from_it(tmp_path):
    """A clip that ends too soon after the onset for any setting, and a camera jumping about so the
    fascia is never learnt, are missed; the per-clip rows and the summary say which was which, and the
    clip that is found has no reason."""
    folder = tmp_path / "site"
    folder.mkdir()
    rng = np.random.default_rng(7)
    clips = {"found": scene(45),
             "short": scene(8),   # 4 frames after the onset at 15 fps: 0.27 s, under settle_s + after_s
             "jumping": [np.roll(f, tuple(rng.integers(-20, 21, 2)), axis=(0, 1)) for f in scene(45)]}
    for name, frames in clips.items():
        write_video(folder / f"{name}.avi", frames, 15.0)
    out = tmp_path / "out"
    summary = evaluate_skimming(str(folder), load_config(None, ["skimming.roi=[200,40,80,60]"]), str(out),
                                workers=1, progress=False)
    with open(out / "skimming_clips.csv", newline="") as fh:
        why = {r["clip"]: r["why_missed"] for r in csv.DictReader(fh)}
    assert why == {"found.avi": "", "short.avi": "too_short", "jumping.avi": "not_learnt"}
    assert summary["missed_why"] == {"not_learnt": 1, "too_short": 1}


def test_a_faint_patch_blends_into_what_it_covers_and_a_bad_style_is_refused():
    frames = scene()
    roi = [200, 40, 80, 60]
    block, faint = Patcher(roi, 320, 240, seed=3), Patcher(roi, 320, 240, seed=3, style="faint")
    assert faint.box == block.box       # the same place, only its look differs
    x, y, w, h = faint.box
    under = frames[20][y:y + h, x:x + w].astype(float)
    pb = block.frame(20, frames[20], 20)[y:y + h, x:x + w].astype(float)
    pf = faint.frame(20, frames[20], 20)[y:y + h, x:x + w].astype(float)
    # Its mean colour is what it covers (the block is made to stand out from it), its texture within FAINT.
    assert np.abs(pf.mean(axis=(0, 1)) - under.mean(axis=(0, 1))).max() < 3
    assert np.abs(pb.mean(axis=(0, 1)) - under.mean(axis=(0, 1))).max() > 30
    assert np.abs(pf - under.mean(axis=(0, 1))).max() <= 2 * FAINT + 1 and pf.std() > 5
    # No outline: the border is as textured as the inside, where the block's is one colour.
    assert pf[0].std(axis=0).max() > 3 and pb[0].std(axis=0).max() < 1
    with pytest.raises(ValueError, match="style"):
        Patcher(roi, 320, 240, style="glossy")


def test_a_noise_patch_is_random_pixels_drawn_once_and_every_style_is_offered_by_evaluate():
    frames = scene()
    roi = [200, 40, 80, 60]
    noise = Patcher(roi, 320, 240, seed=3, style="noise")
    assert noise.box == Patcher(roi, 320, 240, seed=3).box
    x, y, w, h = noise.box
    first = noise.frame(20, frames[20], 20)[y:y + h, x:x + w]
    later = noise.frame(30, frames[30], 20)[y:y + h, x:x + w]
    # Fitted, it stays: the same pixels on every frame after the onset; each channel independent and
    # spread over the whole range (a block's texture is blocky: neighbours mostly equal).
    assert np.array_equal(first, later)
    assert first.std() > 60 and np.mean(first[:, 1:] == first[:, :-1]) < 0.05
    assert np.mean(first[..., 0] == first[..., 1]) < 0.05
    block = Patcher(roi, 320, 240, seed=3).frame(20, frames[20], 20)[y:y + h, x:x + w]
    assert np.mean(block[:, 1:] == block[:, :-1]) > 0.5
    # The command line offers exactly the styles the patcher makes.
    from cli.main import build_parser

    evaluate = next(a for a in build_parser()._subparsers._group_actions[0].choices["evaluate"]._actions
                    if "--patch-style" in a.option_strings)
    assert tuple(evaluate.choices) == STYLES


def test_a_folder_of_videos_without_labels_is_scored_and_so_is_a_faint_patch(tmp_path):
    folder = tmp_path / "footage"
    (folder / "cam2").mkdir(parents=True)
    for k, name in enumerate(("a.avi", "cam2/B.AVI")):   # as copied off a recorder: any case, in folders
        writer = cv2.VideoWriter(str(folder / name), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (320, 240))
        for f in scene(45, seed=k):
            writer.write(f)
        writer.release()
    (folder / "notes.txt").write_text("not a clip")
    out = tmp_path / "out"
    summary = evaluate_skimming(str(folder), load_config(None, []), str(out), workers=1, progress=False,
                                patch=("faint", 0.4))
    assert summary["clips"] == 2 and summary["patch"].startswith("style faint, 40 %")
    assert summary["recorded_events"] == 0 and summary["patched_detected_once_in_window"] == 2
    assert summary["recall"] == 1.0 and summary["false_alarms"] == 0
    clips = [r.split(",")[0] for r in (out / "skimming_clips.csv").read_text().splitlines()[1:]]
    assert clips == ["a.avi", os.path.join("cam2", "B.AVI")]
    # A folder with neither labels nor videos, and a patch that cannot be made: one clear error each.
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no labels.csv and no video files"):
        evaluate_skimming(str(tmp_path / "empty"), load_config(None, []), str(out), workers=1, progress=False)
    with pytest.raises(UserError, match="patch size"):
        evaluate_skimming(str(folder), load_config(None, []), str(out), workers=1, progress=False,
                          patch=("block", 1.5))


def test_the_camera_perturbs_the_pasted_skimmer_with_the_rest_of_the_scene(tmp_path):
    from pipeline.replay import replay_clip

    clip = str(_clip_folder(tmp_path, n_clips=1) / "c0.avi")
    seen = []

    class Probe:
        def on_frame(self, frame):
            seen.append(frame.raw[2:8, 2:8].astype(int))

    def paint(i, raw):
        out = raw.copy()
        out[:10, :10] = 250
        return out

    replay_clip(clip, load_config(None, []), {}, perturb=("brightness", 3, 0), edit=paint, sinks=lambda c: [Probe()])
    # Pasted first, then darkened by the camera (brightness 3: 80 grey levels), as a fitted skimmer is.
    assert len(seen) == 45 and all((v == 170).all() for v in seen)


def test_evaluate_perturb_scores_the_skimming_check_under_each_camera_perturbation(tmp_path):
    folder = _clip_folder(tmp_path, n_clips=1)
    out = tmp_path / "out"
    assert dispatch(["evaluate", "--task", "skimming", "--dataset", str(folder), "--out", str(out), "--perturb",
                     "--patch-size", "0.5", "--model-dir", str(tmp_path / "none")]) == 0
    result = json.loads((out / "perturb.json").read_text())
    rows = result["rows"]
    assert result["task"] == "skimming" and result["n"] == 1 and len(rows) == 1 + 6 * 3
    assert rows[0]["perturbation"] == "none" and rows[0]["recall"] == 1.0 and rows[0]["false_alarms"] == 0
    assert all({"recall", "false_alarms", "what"} <= set(r) for r in rows[1:])
    assert (out / "perturb.png").stat().st_size > 0
    assert json.loads((out / "shake_3" / "skimming.json").read_text())["patch"].startswith("style block, 50 %")


def _refused(folder, tmp_path, extra: list[str], said: str = "") -> list[str]:
    """`evaluate --task skimming` on `folder` with `extra` gives one line saying `said` and exit status 2:
    the lines it gave."""
    res = subprocess.run([sys.executable, "run.py", "evaluate", "--task", "skimming", "--dataset", str(folder),
                          "--out", str(tmp_path / "bad"), "--model-dir", str(tmp_path / "none"), *extra],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    err = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(err) == 1 and said in err[0], res.stderr
    return err


def test_evaluate_chooses_a_region_of_the_share_asked_and_refuses_one_it_cannot(tmp_path):
    folder = _clip_folder(tmp_path, n_clips=1)
    out = tmp_path / "out"
    assert dispatch(["evaluate", "--task", "skimming", "--dataset", str(folder), "--out", str(out),
                     "--roi-share", "0.3", "--model-dir", str(tmp_path / "none")]) == 0
    summary = json.loads((out / "skimming.json").read_text())
    assert summary["roi"].startswith("per clip: the window of 30 % of the picture's sides")
    row = next(csv.DictReader((out / "skimming_clips.csv").open()))
    assert json.loads(row["roi"])[2:] == [96, 72]          # 30 % of 320x240
    # Out of range, beside a configured region, or for another task: one clear line, exit status 2.
    for extra, said in ((["--roi-share", "0.9"], "--roi-share 0.9 must be from 0.05 to 0.5"),
                        (["--roi-share", "0.2", "--set", "skimming.roi=[10, 10, 40, 40]"], "sets skimming.roi"),
                        (["--roi-share", "0.2", "--task", "fight"], "applies to task skimming only")):
        _refused(folder, tmp_path, extra, said)


def test_a_sites_configured_fascia_is_the_region_evaluated_and_one_that_does_not_fit_is_refused(tmp_path):
    folder = _clip_folder(tmp_path, n_clips=1)
    roi = [200, 40, 80, 60]        # not where the quiet region would go: the site's own fascia
    assert quiet_region(scene(45)) != roi
    out = tmp_path / "out"
    summary = evaluate_skimming(str(folder), load_config(None, [f"skimming.roi={roi}"]), str(out), workers=1,
                                progress=False)
    assert summary["roi"] == f"configured: {roi}" and summary["patched_detected_once_in_window"] == 1
    row = (out / "skimming_clips.csv").read_text().splitlines()[1]
    assert '"[200, 40, 80, 60]"' in row
    # A region outside the clip's picture: one clear line, exit status 2, before any clip is run.
    err = _refused(folder, tmp_path, ["--set", "skimming.roi=[300, 40, 80, 60]"])
    assert "skimming.roi" in err[0] and "c0.avi" in err[0] and "320x240" in err[0]
    # So is one of more_rois (a site's second machine), though the patch goes into roi alone.
    with pytest.raises(UserError, match=r"skimming.more_rois \[400, 0, 20, 20\] lies outside the 320x240 .*c0.avi"):
        cfg = load_config(None, [f"skimming.roi={roi}", "skimming.more_rois=[[400, 0, 20, 20]]"])
        evaluate_skimming(str(folder), cfg, str(tmp_path / "bad2"), workers=1, progress=False)
    assert not (tmp_path / "bad2").exists()


def test_a_miss_says_held_joined_when_movement_at_the_edge_held_the_changed_cells():
    """why_missed: a look held whole (a person at the machine) comes first; else movement reaching the
    region's edge that held cells which differ on a quarter of the looks after the onset is
    `held_joined` (the hand-on-keypad rule held the patch), not `compared`."""
    from types import SimpleNamespace

    from tasks.skimming import _Onset

    at = object.__new__(_Onset)
    at.learnt = at.patch_learnt = 1.0
    at.looks, at.held, at.joined = 10, dict.fromkeys(HELD, 0), 2
    at.det = SimpleNamespace(looks=30, held=dict.fromkeys(HELD, 0), joined=7)   # 5 of the 20 looks since
    assert at.why_blind() == "held_joined"
    at.det.joined = 6
    assert at.why_blind() == "compared"
    at.det.joined, at.det.held["person"] = 20, 5
    assert at.why_blind() == "held_person"
    at.patch_learnt = 0.4
    assert at.why_blind() == "not_learnt"


def test_evaluate_traces_the_clips_named_with_what_the_live_check_did(tmp_path):
    """--trace CLIP: each of the clip's two runs writes skimming.trace_file, a row per look of the live
    detector; the patched run's first raised row is the event the summary scored (its latency), the
    recorded run's rows raise nothing, as its event count says. A clip that is not there, or a
    trace_file set in the config (the runs would write over each other): one clear line, exit status 2."""
    folder = _clip_folder(tmp_path, n_clips=2)
    out = tmp_path / "out"
    evaluate_skimming(str(folder), load_config(None, []), str(out), workers=1, progress=False, trace=["c1"])
    row = next(r for r in csv.DictReader((out / "skimming_clips.csv").open()) if r["clip"] == "c1.avi")
    assert sorted(p.name for p in (out / "trace").iterdir()) == ["c1-clean.csv", "c1-patched.csv"]
    clean = list(csv.DictReader((out / "trace" / "c1-clean.csv").open()))
    patched = list(csv.DictReader((out / "trace" / "c1-patched.csv").open()))
    assert int(row["looks"]) == len(patched) and len(clean) == len(patched)
    assert row["clean_events"] == "0" and not any(r["raised"] == "1" for r in clean)
    assert row["detected"] == "True"
    first = next(r for r in patched if r["raised"] == "1")
    onset = int(row["onset_frame"]) / float(row["fps"])
    assert float(first["time_s"]) - onset == pytest.approx(float(row["latency_s"]), abs=1e-3)
    assert not any(r["raised"] == "1" for r in patched if float(r["time_s"]) < onset)
    assert int(first["differ"]) >= 1 and float(first["strongest"]) >= 1.0
    for extra, said in ((["--trace", "nosuch"], "--trace nosuch: no such clip in"),
                        (["--set", f"skimming.trace_file={tmp_path / 't.csv'}"], "name the clips with --trace"),
                        (["--trace", "c1", "--task", "fight"], "--trace applies to task skimming only")):
        _refused(folder, tmp_path, extra, said)


def test_evaluate_seed_places_the_patches_anew_on_the_same_regions(tmp_path):
    """--seed N: the same clips and regions, each patch placed (and drawn) anew, to score the check on
    placements it was not tuned on; 0 is the default's placement. Without --cv, another task has no
    seed to take: one clear line, exit status 2, not a figure said to be from a seed it ignored."""
    folder = _clip_folder(tmp_path, n_clips=2)
    rows = {}
    for seed in (None, 0, 7):
        out = tmp_path / f"out{seed}"
        given = ["--seed", str(seed)] if seed is not None else []
        assert dispatch(["evaluate", "--task", "skimming", "--dataset", str(folder), "--out", str(out),
                         "--model-dir", str(tmp_path / "none"), *given]) == 0
        summary = json.loads((out / "skimming.json").read_text())
        assert summary["placement_seed"] == (seed or 0)
        rows[seed] = {r["clip"]: (r["roi"], r["patch"]) for r in csv.DictReader((out / "skimming_clips.csv").open())}
    assert rows[None] == rows[0]
    assert {c: roi for c, (roi, _) in rows[7].items()} == {c: roi for c, (roi, _) in rows[0].items()}
    assert all(rows[7][c][1] != rows[0][c][1] for c in rows[0])
    for extra, said in ((["--seed", "3", "--task", "fight"], "--seed goes with --cv, or with task skimming"),
                        (["--seed", "-1"], "--seed must be between 0")):
        _refused(folder, tmp_path, extra, said)


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED, "aboda")), reason="../shared/data/aboda is absent")
def test_evaluation_on_real_footage_from_a_fixed_camera(tmp_path):
    # ABODA's video4: a fixed camera indoors, people passing. Its first 20 s keep the test short.
    src = cv2.VideoCapture(os.path.join(SHARED, "aboda", "video4.avi"))
    fps = src.get(cv2.CAP_PROP_FPS)
    clip = str(tmp_path / "video4_20s.avi")
    ok, f = src.read()
    writer = cv2.VideoWriter(clip, cv2.VideoWriter_fourcc(*"MJPG"), fps, (f.shape[1], f.shape[0]))
    for _ in range(int(20 * fps)):
        writer.write(f)
        ok, f = src.read()
        if not ok:
            break
    writer.release()
    summary = evaluate_skimming(clip, load_config(None, []), str(tmp_path / "out"), workers=1, progress=False)
    assert summary["recorded_events"] == 0 and summary["patched_detected_once_in_window"] == 1


def test_a_snapshot_to_draw_the_fascia_on(tmp_path):
    from sources.snapshot import main as snapshot

    src = str(tmp_path / "in.avi")
    writer = cv2.VideoWriter(src, cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    for f in scene(10):
        writer.write(f)
    writer.release()
    out = str(tmp_path / "snap.png")
    assert snapshot(["--source", src, "--out", out, "--skip", "3"]) == 0
    assert cv2.imread(out).shape == (240, 320, 3)
    assert snapshot(["--source", str(tmp_path / "missing.avi"), "--out", out]) == 2
