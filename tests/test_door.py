"""Door relay, keypads, and the one-time-code door flow."""

import io
import logging
import re
import threading

import pytest

import hw_io.door as door
from hw_io.buzzer import AlarmBuzzer, NullBuzzer
from hw_io.door import DoorLock, NullDoorLock, OtpDoorFlow, new_code
from hw_io.keypad import GpioKeypad, ScriptedKeypad, StdinKeypad

DIGIT_PINS = {str(d): 5 + d for d in range(10)}
ENTER_PIN = 16


class FakeClock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t

    def advance(self, s):
        self.t += s


class Sms(list):
    """send_sms double; `code()` pulls the OTP out of the first message as the guard would read it."""

    def __call__(self, text):
        self.append(text)

    def code(self):
        return re.search(r"code (\d+)", self[0]).group(1)


def wrong(sms):
    return lambda: str((int(sms.code()) + 1) % 10 ** 6).zfill(6)


def make_flow(store, keypad, sms, clock=None, lock=None, buzzer=None, **kw):
    clock = clock or FakeClock()
    return OtpDoorFlow(lock or NullDoorLock(), buzzer or NullBuzzer(), keypad, sms, store,
                       clock=clock, sleep=clock.advance, **kw)


def step_names(store, event_id):
    return [s["step"] for s in store.steps(event_id)]


# -- relay --------------------------------------------------------------------------------------------

def test_door_lock_drives_the_relay(pins):
    lock = DoorLock(relay_pin=27)
    try:
        assert not lock.locked
        lock.lock()
        assert lock.locked and pins.pin(27).state is True
        lock.unlock()
        assert not lock.locked
        assert [s.state for s in pins.pin(27).states] == [False, True, False]
    finally:
        lock.close()


def test_active_low_relay_board(pins):
    lock = DoorLock(relay_pin=27, active_high=False)
    try:
        assert pins.pin(27).state is True  # unlocked = relay input high on an active-low board
        lock.lock()
        assert lock.locked and pins.pin(27).state is False
    finally:
        lock.close()


# -- keypads ------------------------------------------------------------------------------------------

def press(pins, keys):
    for k in keys:
        pin = pins.pin(ENTER_PIN if k == "#" else DIGIT_PINS[k])
        pin.drive_low()
        pin.drive_high()


def test_gpio_keypad_collects_digits_until_enter(pins):
    pad = GpioKeypad(DIGIT_PINS, ENTER_PIN)
    try:
        press(pins, "9")  # before the prompt: must be dropped

        def guard():
            assert pad.reading.wait(2)
            press(pins, "0472#")

        t = threading.Thread(target=guard)
        t.start()
        assert pad.read_code(timeout_s=2) == "0472"
        t.join()
        assert pad.read_code(timeout_s=0.05) is None
    finally:
        pad.close()


def test_gpio_keypad_rejects_non_digit_keys(pins):
    with pytest.raises(ValueError):
        GpioKeypad({"*": 5}, ENTER_PIN)


def test_scripted_and_stdin_keypads():
    pad = ScriptedKeypad(["1", lambda: "2"])
    assert [pad.read_code(1), pad.read_code(1), pad.read_code(1)] == ["1", "2", None]
    err = io.StringIO()
    sk = StdinKeypad(stdin=io.StringIO(" 123456 \n"), stderr=err)
    assert sk.read_code(120) == "123456" and "120" in err.getvalue()
    assert sk.read_code(120) is None


# -- OTP flow -----------------------------------------------------------------------------------------

def test_right_code_unlocks(pins, store):
    sms = Sms()
    lock = DoorLock(relay_pin=27)
    buzzer = AlarmBuzzer(pin=17)
    try:
        flow = make_flow(store, ScriptedKeypad([sms.code]), sms, lock=lock, buzzer=buzzer)
        assert flow.run("ev1") == "unlocked"
        assert not lock.locked
        assert [s.state for s in pins.pin(27).states] == [False, True, False]
    finally:
        lock.close()
        buzzer.close()
    assert step_names(store, "ev1") == ["door_warning", "otp_sent", "door_locked", "door_unlocked"]
    assert len(sms) == 1 and sms[0].startswith("ATM-0001 door locked, code ")
    assert "valid 120 s" in sms[0] and sms[0].endswith("ev:ev1")


def test_customer_is_warned_before_the_door_locks(store):
    events = []
    clock = FakeClock()
    lock = NullDoorLock()
    lock.lock = lambda: events.append(("lock", clock()))
    flow = OtpDoorFlow(lock, NullBuzzer(), ScriptedKeypad([]), Sms(), store, clock=clock, sleep=clock.advance,
                       warn_s=2.0, status=lambda msg: events.append(("status", clock())))
    flow.run("ev1")
    assert events[0][0] == "status" and events[1] == ("lock", events[0][1] + 2.0)
    assert flow.buzzer.severities()[0] == "door_warning"


def test_one_wrong_code_then_the_right_one_unlocks(store):
    sms = Sms()
    lock = NullDoorLock()
    assert make_flow(store, ScriptedKeypad([wrong(sms), sms.code]), sms, lock=lock).run("ev1") == "unlocked"
    assert lock.history == ["lock", "unlock"]
    steps = store.steps("ev1")
    assert [s["step"] for s in steps][-2:] == ["otp_wrong", "door_unlocked"]
    assert steps[-2]["detail"] == {"attempt": 1, "of": 3}


def test_three_wrong_codes_keep_the_door_locked_and_alert(store):
    sms = Sms()
    lock, buzzer = NullDoorLock(), NullBuzzer()
    pad = ScriptedKeypad([wrong(sms)] * 3 + [sms.code])
    assert make_flow(store, pad, sms, lock=lock, buzzer=buzzer).run("ev1") == "lockout"
    assert lock.locked and lock.history == ["lock"]
    assert pad.reads == 3, "no code may be read after the lockout"
    steps = store.steps("ev1")
    assert [s["step"] for s in steps] == ["door_warning", "otp_sent", "door_locked", "otp_wrong", "otp_wrong",
                                          "otp_wrong", "otp_lockout", "alert_sent"]
    assert [s["detail"]["attempt"] for s in steps if s["step"] == "otp_wrong"] == [1, 2, 3]
    assert buzzer.severities()[-1] == "attack"
    assert len(sms) == 2 and "3 wrong codes, door stays locked" in sms[1] and "ev:ev1" in sms[1]


def test_expired_code_is_refused_even_when_right(store):
    sms = Sms()
    clock = FakeClock()
    lock = NullDoorLock()
    pad = ScriptedKeypad([sms.code], on_read=lambda timeout_s: clock.advance(121))  # the guard is late
    assert make_flow(store, pad, sms, clock=clock, lock=lock).run("ev1") == "expired"
    assert lock.locked
    steps = store.steps("ev1")
    assert steps[-2]["step"] == "otp_expired" and steps[-2]["detail"]["entered"] is True
    assert "door stays locked" in sms[-1]


def test_code_just_inside_the_ttl_still_works(store):
    sms = Sms()
    clock = FakeClock()
    pad = ScriptedKeypad([sms.code], on_read=lambda timeout_s: clock.advance(timeout_s))
    assert make_flow(store, pad, sms, clock=clock).run("ev1") == "unlocked"


def test_no_code_within_ttl_expires(store):
    sms = Sms()
    lock = NullDoorLock()
    assert make_flow(store, ScriptedKeypad([]), sms, lock=lock).run("ev1") == "expired"
    assert lock.locked and store.steps("ev1")[-2]["detail"]["entered"] is False


def test_otp_is_six_digits_random_and_never_stored_or_logged(store, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    codes = []
    for i in range(5):
        sms = Sms()
        make_flow(store, ScriptedKeypad([wrong(sms)] * 3), sms).run(f"ev{i}")
        codes.append(sms.code())
    assert all(re.fullmatch(r"\d{6}", c) for c in codes)
    assert len(set(codes)) > 1
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("events.db*"))
    for c in codes:
        assert c.encode() not in raw
        assert c not in caplog.text


def test_otp_comes_from_secrets_zero_padded(monkeypatch):
    monkeypatch.setattr(door.secrets, "randbelow", lambda n: 42 if n == 10 ** 6 else pytest.fail("range"))
    assert new_code(6) == "000042"


def test_failed_sms_is_recorded_without_the_code(store):
    seen = []

    def broken(text):
        seen.append(text)
        raise RuntimeError(f"modem refused {text!r}")

    lock = NullDoorLock()
    result = make_flow(store, ScriptedKeypad([]), broken, lock=lock).run("ev1")
    assert result == "not_locked"
    code = re.search(r"code (\d+)", seen[0]).group(1)
    failed = [s for s in store.steps("ev1") if s["step"] == "otp_send_failed"]
    assert failed and code not in failed[0]["detail"]["error"] and "******" in failed[0]["detail"]["error"]


class GuardModem:
    """A modem double with .send(number, text) that refuses the numbers in `bad`, as a real one would."""

    def __init__(self, bad=()):
        self.bad = set(bad)
        self.sent = []

    def send(self, number, text):
        if number in self.bad:
            raise ValueError(f"not a phone number: {number!r}")
        self.sent.append((number, text))

    def code(self):
        return re.search(r"code (\d+)", self.sent[0][1]).group(1)


def test_one_bad_guard_number_does_not_stop_the_others(store):
    modem = GuardModem(bad={"12ab"})
    flow = make_flow(store, ScriptedKeypad([modem.code]), modem, recipients=["12ab", "+15550101", "+15550102"])
    assert flow.run("ev1") == "unlocked"
    assert [n for n, _ in modem.sent] == ["+15550101", "+15550102"]
    steps = store.steps("ev1")
    assert [(s["step"], s["detail"]["to"]) for s in steps if s["step"].startswith("otp_se")] == [
        ("otp_send_failed", "12ab"), ("otp_sent", "+15550101"), ("otp_sent", "+15550102")]


def test_door_is_not_locked_when_no_guard_got_the_code(store):
    modem = GuardModem(bad={"12ab", "+15550101"})
    lock = NullDoorLock()
    pad = ScriptedKeypad([])
    assert make_flow(store, pad, modem, lock=lock, recipients=["12ab", "+15550101"]).run("ev1") == "not_locked"
    assert lock.history == [] and not lock.locked
    assert pad.reads == 0
    assert step_names(store, "ev1") == ["door_warning", "otp_send_failed", "otp_send_failed", "door_not_locked"]


def test_door_is_locked_only_after_a_code_went_out(store):
    order = []
    lock = NullDoorLock()
    lock.lock = lambda: order.append("lock")
    make_flow(store, ScriptedKeypad([]), lambda text: order.append("sms"), lock=lock).run("ev1")
    assert order[:2] == ["sms", "lock"]


def test_a_broken_keypad_releases_the_door(store):
    class BrokenKeypad:
        def read_code(self, timeout_s):
            raise OSError("keypad gone")

    lock = NullDoorLock()
    with pytest.raises(OSError):
        make_flow(store, BrokenKeypad(), Sms(), lock=lock).run("ev1")
    assert lock.history == ["lock", "unlock"]
    assert step_names(store, "ev1")[-1] == "door_released_on_error"


def test_sender_object_with_send_method(store):
    class Modem:
        def __init__(self):
            self.sent = []

        def send(self, number, text):
            self.sent.append((number, text))

    modem = Modem()
    make_flow(store, ScriptedKeypad([]), modem, recipients=["+15550100"]).run("ev1")
    assert modem.sent[0][0] == "+15550100" and "door locked" in modem.sent[0][1]
    with pytest.raises(ValueError):
        make_flow(store, ScriptedKeypad([]), modem)
