"""Crowding on real CCTV clips from ../shared/data/fight_surv (skipped when absent).

Which clips show what was checked by eye: nofi019 is an ATM lobby with one customer at the machine
and a second person walking in; fi007 a bar terrace with several people; nofi039 one passenger
walking down a bus; nofi062 one man walking along a corridor.
"""

import pytest

from conftest import shared
from pipeline.classical import ClassicalStage
from pipeline.config import Config
from sources.frame_source import FrameSource


def _crowding_frames(path: str) -> int:
    cfg = Config()
    cfg.motion.calibrate_frames = 5
    cfg.crowding.persist_s = 1.0
    with FrameSource(path, process_width=cfg.source.process_width, reconnect=False) as src:
        stage = ClassicalStage(cfg, src.fps)
        return sum(any(f.type == "crowding" for f in stage.process(fr.raw).flags) for fr in src)


@pytest.mark.parametrize("clip", ["noFight/nofi019.mp4", "fight/fi007.mp4"])
def test_crowding_flagged_with_several_people(clip):
    assert _crowding_frames(shared("fight_surv", clip)) > 0


@pytest.mark.parametrize("clip", ["noFight/nofi039.mp4", "noFight/nofi062.mp4"])
def test_no_crowding_with_one_person(clip):
    assert _crowding_frames(shared("fight_surv", clip)) == 0
