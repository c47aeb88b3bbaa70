"""The kiosk's devices as one bundle, chosen by `--hardware auto|mock|none`.

- `none`: nothing is driven; the buzzer and door only log, SMS are printed.
- `mock`: gpiozero's mock pins (their history can be read back) and a fake GSM modem on a pty, driven
  through the real modem driver, so the demo exercises the same code a kiosk runs.
- `auto`: gpiozero's own pin factory (real pins on a Pi; `GPIOZERO_PIN_FACTORY=mock` selects mock pins)
  and the configured modem port when it exists. A device that cannot be opened falls back to its
  logging double with a note, rather than stopping the watch: a kiosk without a buzzer must still text.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from core.settings import Section
from hw_io.buzzer import AlarmBuzzer, NullBuzzer
from hw_io.door import DoorLock, NullDoorLock
from hw_io.keypad import GpioKeypad, ScriptedKeypad
from hw_io.modem import LogSender, ModemConfig, ModemSender


class HardwareConfig(Section):
    buzzer_pin: int = Field(17, ge=0, le=40, description="GPIO (BCM) pin of the buzzer")
    attack_buzz_s: float = Field(30.0, gt=0, description="how long the buzzer sounds for an attack")
    door_relay_pin: int = Field(27, ge=0, le=40, description="GPIO pin of the door-lock relay (on = locked)")
    keypad_digit_pins: dict[str, int] = Field(
        default_factory=lambda: {"0": 5, "1": 6, "2": 12, "3": 13, "4": 16, "5": 19, "6": 20, "7": 21, "8": 26,
                                 "9": 22},
        description="GPIO pin per keypad digit (one wire per key)")
    keypad_enter_pin: int = Field(23, ge=0, le=40, description="GPIO pin of the keypad's enter key")
    otp_ttl_s: float = Field(120.0, gt=0, description="the door's one-time code expires after this")
    otp_attempts: int = Field(3, ge=1, le=10, description="wrong codes allowed before the door stays locked")
    atm_state: str | None = Field(None, description="where the ATM reports its state: serial:/dev/ttyUSB1@9600, "
                                                    "tcp:HOST:PORT or unix:/path (None: unknown)")


MODES = ("auto", "mock", "none")


@dataclass
class Hardware:
    mode: str
    buzzer: Any
    door: Any
    keypad: Any
    sender: Any                   # ModemSender (one conversation at a time, its own lock) or LogSender
    fake_modem: Any = None        # mock: the FakeModem, whose `received` lists the SMS it accepted
    pin_factory: Any = None       # mock: gpiozero's MockFactory, whose pins keep their state history
    notes: list[str] = field(default_factory=list)

    def pin_history(self, pin: int) -> list[tuple[float, bool]]:
        """(seconds since the previous change, state) for a mock pin; empty for real hardware."""
        if self.pin_factory is None:
            return []
        return [(float(s.timestamp), bool(s.state)) for s in self.pin_factory.pin(pin).states]

    def describe(self) -> str:
        parts = [f"hardware {self.mode}: buzzer {type(self.buzzer).__name__}, door {type(self.door).__name__}, "
                 f"keypad {type(self.keypad).__name__}, SMS {type(self.sender).__name__}"]
        return "; ".join(parts + self.notes)

    def close(self) -> None:
        for dev in (self.buzzer, self.door, self.keypad, self.sender):
            try:
                getattr(dev, "close", lambda: None)()
            except Exception:  # closing must not mask the reason we are shutting down
                pass
        if self.fake_modem is not None:
            self.fake_modem.stop()


def _none(h: HardwareConfig, modem: ModemConfig) -> Hardware:
    return Hardware("none", NullBuzzer(), NullDoorLock(), ScriptedKeypad([]), LogSender(sys.stderr))


def _mock(h: HardwareConfig, modem: ModemConfig, codes: list | None) -> Hardware:
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    from hw_io.fake_modem import FakeModem

    factory = MockFactory(pin_class=MockPWMPin)
    fake = FakeModem()
    fake.start()
    # A callable, because the fake's pty path changes when it is unplugged and plugged back.
    sender = ModemSender(lambda: fake.port, modem.baud)
    return Hardware("mock", AlarmBuzzer(h.buzzer_pin, pin_factory=factory, attack_s=h.attack_buzz_s),
                    DoorLock(h.door_relay_pin, pin_factory=factory), ScriptedKeypad(codes or []),
                    sender, fake_modem=fake, pin_factory=factory)


def _gpio_factory_problem() -> str | None:
    """Why gpiozero has no pin factory here (None when it has one); its fallback warnings stay quiet."""
    import warnings

    from gpiozero import Device

    if Device.pin_factory is not None:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            Device.pin_factory = Device._default_pin_factory()
        except Exception as exc:  # BadPinFactory on a machine with no GPIO at all
            return f"{type(exc).__name__}: {exc}"
    return None


def _auto(h: HardwareConfig, modem: ModemConfig) -> Hardware:
    notes: list[str] = []
    problem = _gpio_factory_problem()
    if problem:
        notes.append(f"no GPIO here ({problem}); buzzer, door and keypad only log")
        buzzer, door, keypad = NullBuzzer(), NullDoorLock(), ScriptedKeypad([])
    else:
        buzzer, door, keypad = _gpio_devices(h, notes)
    port = modem.port
    if port and os.path.exists(port):
        sender: Any = ModemSender(port, modem.baud)
    else:
        notes.append(f"modem port {port or '(not set)'} not present; SMS are printed instead")
        sender = LogSender(sys.stderr)
    return Hardware("auto", buzzer, door, keypad, sender, notes=notes)


def _gpio_devices(h, notes: list[str]):

    def attempt(what: str, make, fallback):
        try:
            return make()
        except Exception as exc:  # gpiozero raises a zoo of types for "no GPIO here"
            notes.append(f"{what} unavailable ({type(exc).__name__}: {exc}); logging instead")
            return fallback()

    buzzer = attempt("buzzer", lambda: AlarmBuzzer(h.buzzer_pin, attack_s=h.attack_buzz_s), NullBuzzer)
    door = attempt("door relay", lambda: DoorLock(h.door_relay_pin), NullDoorLock)
    keypad = attempt("keypad", lambda: GpioKeypad(h.keypad_digit_pins, h.keypad_enter_pin),
                     lambda: ScriptedKeypad([]))
    return buzzer, door, keypad


def build_hardware(mode: str, hardware: HardwareConfig, modem: ModemConfig,
                   keypad_codes: list | None = None) -> Hardware:
    """`keypad_codes`: what the mock keypad types (strings, or callables that return one)."""
    if mode == "none":
        return _none(hardware, modem)
    if mode == "mock":
        return _mock(hardware, modem, keypad_codes)
    if mode == "auto":
        return _auto(hardware, modem)
    raise ValueError(f"hardware mode must be one of {', '.join(MODES)}, got {mode!r}")
