"""Shoulder surfing on synthetic sequences of tracked people: who is the customer, who is a watcher,
when the PIN is being entered, and how long a watcher must stay."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from detectors.surfing import SurfingConfig, SurfingDetector
from features.people import Person

FPS = 10.0
FASCIA = (70, 20, 10, 10)   # motion pixels: the machine is on the right


def person(pid, x, first_s=0.0, w=10, h=30, y=15):
    return Person(pid, (x, y, w, h), first_s, first_s, confirmed=True)


def sequence(det, people_at, seconds, state="pin_entry", fascia=FASCIA):
    """Flags per frame for `seconds` of frames whose people are `people_at(t)`."""
    out = []
    for k in range(int(seconds * FPS)):
        t = k / FPS
        ctx = SimpleNamespace(time_s=t, people=people_at(t), state=state, fascia=fascia)
        out.append(det.detect(ctx))
    return out


def first_flag_s(flags):
    return next((k / FPS for k, f in enumerate(flags) if f), None)


@pytest.fixture
def det():
    return SurfingDetector(SurfingConfig(), FPS)


def test_a_watcher_close_behind_at_the_pin_prompt_is_raised_after_after_s(det):
    customer, watcher = person(1, 60), person(2, 45, first_s=1.0)      # 5 px apart, 30 px tall
    flags = sequence(det, lambda t: [customer] + ([watcher] if t >= 1.0 else []), 5.0)
    assert first_flag_s(flags) == pytest.approx(1.0 + det.cfg.after_s, abs=1.5 / FPS)
    flag = flags[-1][0]
    assert flag.type == "shoulder_surfing" and flag.extra["customer"] == 1 and flag.extra["watcher"] == 2
    assert flag.bbox == (45, 15, 25, 30)   # both people


def test_no_pin_being_entered_no_surfing(det):
    customer, watcher = person(1, 60), person(2, 45)
    assert not any(sequence(det, lambda t: [customer, watcher], 5.0, state="idle"))
    assert not any(sequence(det, lambda t: [customer, watcher], 5.0, state="dispensing"))


def test_someone_waiting_further_back_is_not_a_watcher(det):
    customer, queue = person(1, 60), person(2, 20)    # 30 px apart: a whole height away
    assert not any(sequence(det, lambda t: [customer, queue], 5.0))


def test_someone_nearer_the_machine_is_the_customer_not_the_watcher(det):
    # The one nearer the fascia uses it; the one behind watches, whichever arrived first.
    behind, at_machine = person(1, 45, first_s=0.0), person(2, 60, first_s=3.0)
    flags = sequence(det, lambda t: [behind, at_machine], 6.0)
    assert flags[-1] and flags[-1][0].extra == {**flags[-1][0].extra, "customer": 2, "watcher": 1}


def test_a_watcher_lost_for_a_frame_keeps_the_clock_but_one_gone_restarts_it(det):
    customer, watcher = person(1, 60), person(2, 45)
    flicker = sequence(det, lambda t: [customer] + ([] if abs(t - 1.0) < 0.05 else [watcher]), 4.0)
    assert first_flag_s(flicker) == pytest.approx(det.cfg.after_s, abs=1.5 / FPS)
    det.reset()
    gone = sequence(det, lambda t: [customer] + ([] if 1.0 <= t < 2.0 else [watcher]), 5.0)
    assert first_flag_s(gone) == pytest.approx(2.0 + det.cfg.after_s, abs=1.5 / FPS)


def test_without_a_state_a_person_at_the_fascia_is_a_customer(det):
    at_fascia, watcher = person(1, 62), person(2, 48)   # touches the fascia
    assert any(sequence(det, lambda t: [at_fascia, watcher], 4.0, state="unknown"))
    det.reset()
    away, other = person(1, 40), person(2, 26)           # nobody at the machine
    assert not any(sequence(det, lambda t: [away, other], 4.0, state="unknown"))


def test_unknown_states_are_refused():
    with pytest.raises(ValueError, match="unknown ATM state"):
        SurfingConfig(states=["pin_entri"])
