"""One seam for every detector: a toy detector and a toy stage-2 refiner defined in this file alone,
with no edit anywhere else, get their config section, their events in `run`'s JSON lines (start and
end), their default severity, escalation to stage 2 and their own line in `bench`'s timings."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import yaml
from pydantic import Field

import run as run_py
from core.detector import Detector, Flag, register, unregister
from core.errors import UserError
from core.events import ATTACK, WARNING, EventSpec, default_severities, escalating_types
from core.refiner import Refiner, register_refiner, unregister_refiner
from core.settings import Section
from pipeline.alerts import AlertPolicy
from pipeline.config import example_yaml, load_config

FPS = 10.0


class ToyConfig(Section):
    """A toy detector: a bright frame."""

    level: float = Field(0.5, ge=0, le=1, description="flag when the frame's mean grey exceeds this share of white")


class ToyDetector(Detector):
    name = "toy"
    Settings = ToyConfig
    events = {"toy_bright": EventSpec(ATTACK, escalate=True, description="the frame is bright")}

    def detect(self, ctx) -> list[Flag]:
        level = float(ctx.grey_tamper.mean()) / 255.0
        return [Flag("toy_bright", level, bbox=(1, 1, 4, 4))] if level > self.cfg.level else []


class ToyRefiner(Refiner):
    name = "toy_check"
    events = {"toy_confirmed": EventSpec(WARNING, description="stage 2 agrees")}
    calls: list[tuple[int, tuple[str, ...]]] = []

    def refine(self, ctx, flags: list[Flag]) -> list[Flag]:
        ToyRefiner.calls.append((ctx.index, tuple(f.type for f in flags)))
        assert ctx.pixels() is not None  # the decoded pixels, on demand
        return flags + [Flag("toy_confirmed", 1.0, stage="deep")]


@pytest.fixture
def toys():
    register(ToyDetector)
    register_refiner(ToyRefiner)
    ToyRefiner.calls = []
    yield
    unregister(ToyDetector.name)
    unregister_refiner(ToyRefiner.name)


@pytest.fixture
def bright_clip(tmp_path):
    """4 s dark, 2 s bright, 4 s dark, textured, at 10 fps."""
    path = str(tmp_path / "toy.avi")
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 40, (120, 160), dtype=np.uint8)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), FPS, (160, 120))
    for i in range(100):
        base = 180 if 40 <= i < 60 else 40
        grey = cv2.add(texture, np.full_like(texture, base))
        writer.write(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def test_its_config_section_is_derived_validated_and_documented(toys, tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(yaml.safe_dump({"toy": {"level": 0.3}, "alerts": {"severity": {"toy_bright": "warning"}}}))
    cfg = load_config(str(site))
    assert cfg.toy.level == 0.3 and cfg.alerts.severity == {"toy_bright": "warning"}
    assert load_config().toy.level == 0.5
    for bad, where in (({"toy": {"level": 2}}, "toy.level"), ({"toy": {"lvl": 0.2}}, "toy.lvl")):
        site.write_text(yaml.safe_dump(bad))
        with pytest.raises(UserError, match=where):
            load_config(str(site))
    text = example_yaml()
    assert "toy:\n  # flag when the frame's mean grey exceeds this share of white\n  level: 0.5" in text


def test_its_event_types_severity_and_escalation_come_from_its_declaration(toys):
    assert default_severities()["toy_bright"] == ATTACK and default_severities()["toy_confirmed"] == WARNING
    assert "toy_bright" in escalating_types() and "toy_confirmed" not in escalating_types()
    policy = AlertPolicy("ATM-1", [])
    assert policy.severity_of("toy_bright") == ATTACK
    unregister(ToyDetector.name)
    assert "toy_bright" not in default_severities()
    with pytest.raises(UserError, match="toy"):
        load_config(None, ["toy.level=0.2"])


def test_run_writes_its_start_and_end_and_stage2_sees_only_escalated_frames(toys, bright_clip, tmp_path, capsys):
    events = tmp_path / "ev.jsonl"
    assert run_py.main(["run", "--source", bright_clip, "--events", str(events), "--hardware", "none",
                        "--model-dir", str(tmp_path / "none"), "--set", f"storage_dir={tmp_path / 'var'}"]) == 0
    lines = [json.loads(x) for x in events.read_text().splitlines()]
    toy = [e for e in lines if e["type"] == "toy_bright"]
    assert [e.get("phase", "start") for e in toy] == ["start", "end"]
    start, end = toy
    assert start["frame"] == 40 and start["stage"] == "classical"
    assert start["bbox"] == [2, 2, 8, 8]  # motion pixels (80 wide) to the source's (160)
    assert end["duration_s"] == pytest.approx(1.9, abs=0.15) and end["evidence_id"]
    # Stage 2 ran on the escalated frames only, and its own flag became a deep event.
    frames = sorted({i for i, _ in ToyRefiner.calls})
    assert frames and all(40 <= i < 60 for i in frames)
    assert all("toy_bright" in types for _, types in ToyRefiner.calls)
    deep = [e for e in lines if e["type"] == "toy_confirmed"]
    assert deep and deep[0]["stage"] == "deep"
    capsys.readouterr()


def test_bench_gives_it_a_line_of_its_own(toys, bright_clip, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert run_py.main(["bench", "--source", bright_clip, "--out", str(out), "--repeat", "1",
                        "--model-dir", str(tmp_path / "none")]) == 0
    parts = json.loads(out.read_text())["classical_parts_ms"]
    assert parts["toy"] > 0 and {"tamper", "crowding", "fight", "rest"} <= set(parts)
    capsys.readouterr()
