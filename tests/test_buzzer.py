"""AlarmBuzzer drives the pin through each severity's pattern; NullBuzzer records instead."""

import time

import pytest
from gpiozero.pins.mock import MockFactory

from hw_io.buzzer import AlarmBuzzer, NullBuzzer, Pattern, default_patterns

FAST = {"warning": Pattern(0.02, 0.02, 3), "door_warning": Pattern(0.03, 0.03, 2)}


@pytest.fixture
def buzzer(pins):
    b = AlarmBuzzer(pin=17, attack_s=5.0, patterns=FAST)
    yield b
    b.close()


def wait_states(pin, n, timeout_s=2.0):
    deadline = time.monotonic() + timeout_s
    while len(pin.states) < n and time.monotonic() < deadline:
        time.sleep(0.005)
    return [s.state for s in pin.states]


def test_default_patterns_match_the_spec():
    p = default_patterns()
    assert p["warning"] == Pattern(0.15, 0.15, 3)
    assert p["attack"] == Pattern(30.0, 0.0, 1)
    assert p["door_warning"] == Pattern(0.5, 0.5, 2)
    assert default_patterns(attack_s=12)["attack"].on_s == 12


def test_warning_is_three_beeps_then_off(buzzer, pins):
    pin = pins.pin(17)
    buzzer.sound("warning")
    assert wait_states(pin, 7) == [False, True, False, True, False, True, False]
    time.sleep(0.05)
    assert len(pin.states) == 7, "the pattern must stop after three beeps"
    on_times = [s.timestamp for s in pin.states[2::2]]  # time since the previous change = time spent on
    assert all(t >= 0.015 for t in on_times)


def test_door_warning_is_two_beeps(buzzer, pins):
    buzzer.sound("door_warning")
    assert wait_states(pins.pin(17), 5) == [False, True, False, True, False]


def test_attack_holds_the_pin_high_until_silenced(buzzer, pins):
    pin = pins.pin(17)
    t0 = time.monotonic()
    buzzer.sound("attack")
    assert time.monotonic() - t0 < 1.0, "sound() must return at once, not after attack_s (5 s)"
    assert wait_states(pin, 2) == [False, True]
    time.sleep(0.1)
    assert pin.state is True and buzzer.is_sounding
    assert [s.state for s in pin.states] == [False, True]
    buzzer.silence()
    assert pin.state is False
    time.sleep(0.05)
    assert [s.state for s in pin.states] == [False, True, False], "the pattern thread must not restart it"


def test_attack_ends_by_itself_after_attack_s(pins):
    with AlarmBuzzer(pin=17, attack_s=0.05) as b:
        b.sound("attack")
        assert wait_states(pins.pin(17), 3) == [False, True, False]


def test_a_new_severity_replaces_the_running_pattern(buzzer, pins):
    pin = pins.pin(17)
    buzzer.sound("warning")
    buzzer.sound("attack")
    wait_states(pin, 2)
    time.sleep(0.1)  # several of the warning's 0.02 s off phases
    assert pin.state is True, "attack must not be cut short by the warning's off phase"


def test_explicit_pin_factory_is_used():
    factory = MockFactory()
    with AlarmBuzzer(pin=22, pin_factory=factory, attack_s=5) as b:
        b.sound("attack")
        assert wait_states(factory.pin(22), 2) == [False, True]
        b.silence()
    factory.reset()


def test_unknown_severity_is_refused(buzzer):
    with pytest.raises(ValueError, match="severity"):
        buzzer.sound("panic")


def test_null_buzzer_records_calls():
    b = NullBuzzer()
    b.sound("warning")
    b.sound("attack")
    b.silence()
    assert b.severities() == ["warning", "attack"]
    assert b.calls[-1] == ("silence", None)
    with pytest.raises(ValueError):
        b.sound("panic")
