"""Snapshots, pre/post clips, the disk quota, and the event store rows behind them."""

import os

import cv2
import numpy as np
import pytest

from hw_io.evidence import EvidenceRecorder, FrameRing

W, H, FPS = 160, 120, 10


def frame(i):
    # Brightness encodes the frame index, so a clip read back shows which frames it holds.
    return np.full((H, W, 3), (i * 5) % 250, np.uint8)


def feed(rec, start, stop):
    for i in range(start, stop):
        rec.push(i, i / FPS, frame(i))


def read_clip(path):
    cap = cv2.VideoCapture(path)
    means = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        means.append(float(img.mean()))
    cap.release()
    return means


def files_on_disk(root):
    return {os.path.join(root, f) for f in os.listdir(root) if not f.endswith(".part")}


def test_snapshot_is_a_jpeg_with_the_box_drawn(store, tmp_path):
    root = str(tmp_path / "ev")
    with EvidenceRecorder(store, root, fps=FPS, pre_s=1, post_s=1) as rec:
        feed(rec, 0, 5)
        eid = store.add_event({"type": "weapon", "frame": 4, "time_s": 0.4, "bbox": [40, 30, 50, 60], "score": 0.9})
        snap = rec.trigger(eid, "weapon", [[40, 30, 50, 60]], np.full((H, W, 3), 100, np.uint8))
        assert os.path.exists(snap), "the snapshot must exist as soon as trigger returns"
    with open(snap, "rb") as fh:
        assert fh.read(2) == b"\xff\xd8"
    img = cv2.imread(snap)
    assert img.shape == (H, W, 3)
    b, g, r = (int(v) for v in img[31, 65])  # on the top edge of the box
    assert r > 180 and g < 70 and b < 70
    assert abs(int(img[60, 65].mean()) - 100) < 10, "inside the box stays as it was"
    assert abs(int(img[5, 5].mean()) - 100) < 10
    kinds = {e["kind"]: e for e in store.evidence_for(eid)}
    assert kinds["snapshot"]["path"] == snap and kinds["snapshot"]["bytes"] == os.path.getsize(snap)


def test_clip_holds_pre_roll_and_post_roll(store, tmp_path):
    root = str(tmp_path / "ev")
    with EvidenceRecorder(store, root, fps=FPS, pre_s=1, post_s=1) as rec:
        feed(rec, 0, 30)
        rec.trigger("e1", "fight", [], frame(29))
        feed(rec, 30, 45)  # five more than the post-roll: they must not end up in the clip
        rec.flush()
        clips = [e for e in store.evidence_for("e1") if e["kind"] == "clip"]
        assert len(clips) == 1 and clips[0]["path"].endswith(".avi")
        means = read_clip(clips[0]["path"])
    assert len(means) == 20
    assert abs(means[0] - 20 * 5) < 4 and abs(means[9] - 29 * 5) < 4 and abs(means[-1] - 39 * 5) < 4
    assert files_on_disk(root) == {e["path"] for e in store.all_evidence()}


def test_flush_ends_an_open_clip_at_end_of_stream(store, tmp_path):
    with EvidenceRecorder(store, str(tmp_path / "ev"), fps=FPS, pre_s=1, post_s=3, codec="mp4v") as rec:
        feed(rec, 0, 4)  # less pre-roll than asked for: the stream just started
        rec.trigger("e1", "loitering", None, frame(3))
        feed(rec, 4, 7)
        rec.flush()
        clip = [e for e in store.evidence_for("e1") if e["kind"] == "clip"][0]
    assert clip["path"].endswith(".mp4") and len(read_clip(clip["path"])) == 7


def test_overlapping_triggers_get_a_clip_each(store, tmp_path):
    with EvidenceRecorder(store, str(tmp_path / "ev"), fps=FPS, pre_s=1, post_s=1) as rec:
        feed(rec, 0, 20)
        rec.trigger("e1", "fight", [], frame(19))
        feed(rec, 20, 25)
        rec.trigger("e2", "crowding", [], frame(24))
        feed(rec, 25, 40)
        rec.flush()
        lengths = {e: len(read_clip(x["path"])) for e in ("e1", "e2")
                   for x in store.evidence_for(e) if x["kind"] == "clip"}
    assert lengths == {"e1": 20, "e2": 20}


def test_quota_deletes_the_oldest_evidence(store, tmp_path):
    root = str(tmp_path / "ev")
    rec = EvidenceRecorder(store, root, fps=FPS, pre_s=0.5, post_s=0.5)
    noise = np.random.default_rng(0)

    def push_noise(n):
        for i in range(n):
            rec.push(i, i / FPS, noise.integers(0, 255, (H, W, 3), np.uint8))

    def event(eid):  # noise does not compress, so every event takes about the same space
        rec.trigger(eid, "fight", [[10, 10, 40, 40]], noise.integers(0, 255, (H, W, 3), np.uint8))
        push_noise(5)
        rec.flush()

    push_noise(5)
    event("e1")
    one_event = store.total_bytes()
    rec.quota_bytes = int(one_event * 2.5)
    for eid in ("e2", "e3", "e4"):
        event(eid)
    rec.close()
    assert store.total_bytes() <= rec.quota_bytes
    assert store.evidence_for("e1") == [] and store.evidence_for("e2") == [], "the oldest files go first"
    for eid in ("e3", "e4"):  # and only as many as needed
        assert {e["kind"] for e in store.evidence_for(eid)} == {"snapshot", "clip"}
    on_disk = files_on_disk(root)
    assert on_disk == {e["path"] for e in store.all_evidence()}
    assert sum(os.path.getsize(p) for p in on_disk) == store.total_bytes()
    assert not any(os.path.basename(p).startswith(("e1-", "e2-")) for p in on_disk)


def test_quota_keeps_the_file_just_written(store, tmp_path):
    with EvidenceRecorder(store, str(tmp_path / "ev"), fps=FPS, pre_s=0.1, post_s=0, quota_mb=0) as rec:
        snap = rec.trigger("e1", "fight", [], frame(0))
        assert os.path.exists(snap)


def test_bad_codec_is_refused(store, tmp_path):
    with pytest.raises(ValueError, match="codec"):
        EvidenceRecorder(store, str(tmp_path), fps=FPS, codec="avc1")


def test_frame_ring_keeps_the_last_seconds_by_reference_or_copy():
    ring = FrameRing(seconds=1, max_frames=100)
    for i in range(12):
        ring.push(i, i / 5, frame(i))
    assert [f.index for f in ring.frames()] == [7, 8, 9, 10, 11]
    capped = FrameRing(seconds=10, max_frames=50)
    for i in range(80):
        capped.push(i, i / 30, frame(i))
    assert len(capped) == 50

    shared = np.zeros((2, 2, 3), np.uint8)
    by_ref, copied = FrameRing(1), FrameRing(1, copy=True)
    by_ref.push(0, 0.0, shared)
    copied.push(0, 0.0, shared)
    shared[:] = 9  # a source that reuses its buffer
    assert by_ref.latest().image[0, 0, 0] == 9 and copied.latest().image[0, 0, 0] == 0


def test_pre_roll_and_clip_rate_come_from_the_frames_timestamps(store, tmp_path):
    """A source that declares 25 fps and delivers 30: the pre-roll is still 3 s, and the clip is
    written at the rate the frames came, so it plays in real time (6 s for 3 s + 3 s)."""
    root = str(tmp_path / "ev")
    declared, real = 25.0, 30.0
    with EvidenceRecorder(store, root, fps=declared, pre_s=3, post_s=3, background=False) as rec:
        for i in range(240):
            rec.push(i, i / real, frame(i))
            if i == 120:
                rec.trigger("e30", "fight", [], frame(i))
    (clip,) = [e["path"] for e in store.evidence_for("e30") if e["kind"] == "clip"]
    cap = cv2.VideoCapture(clip)
    fps, n = cap.get(cv2.CAP_PROP_FPS), int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    assert n == 90 + 90                       # 3 s before (trigger frame included) and 3 s after, at 30/s
    assert fps == pytest.approx(real, abs=0.1)
    assert n / fps == pytest.approx(6.0, abs=0.05)


def test_clip_frames_kept_as_jpeg_at_most_max_fps(store, tmp_path):
    """What `run` uses by default: a 30-fps source keeps every other frame for clips, as JPEG."""
    fps = 30
    root = str(tmp_path / "ev")
    with EvidenceRecorder(store, root, fps=fps, pre_s=1, post_s=1, keep="jpeg", max_fps=15) as rec:
        for i in range(60):
            rec.push(i, i / fps, frame(i))
        held = rec.ring.frames()
        assert all(f.image.ndim == 1 and f.image.nbytes < frame(0).nbytes / 10 for f in held)  # JPEG bytes
        assert [f.index for f in held] == list(range(30, 60, 2))    # under 1 s at 15 fps, the newest last
        rec.trigger("e1", "fight", [], frame(59))
        for i in range(60, 100):
            rec.push(i, i / fps, frame(i))
        rec.flush()
        (clip,) = [e for e in store.evidence_for("e1") if e["kind"] == "clip"]
        means = read_clip(clip["path"])
    cap = cv2.VideoCapture(clip["path"])
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(15, abs=0.6)   # plays in real time
    cap.release()
    assert 28 <= len(means) <= 31
    assert abs(means[0] - 30 * 5) < 5 and abs(means[-1] - (88 * 5 % 250)) < 5
    with pytest.raises(ValueError):
        EvidenceRecorder(store, root, fps=fps, keep="png")
