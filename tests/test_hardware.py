"""`--hardware auto|mock|none`: which device doubles are chosen, and that mock drives real code paths."""

from __future__ import annotations

import pytest
from gpiozero import Device

from hw_io.buzzer import AlarmBuzzer, NullBuzzer
from hw_io.fake_modem import FakeModem
from hw_io.hardware import build_hardware
from hw_io.modem import LogSender, ModemSender
from pipeline.config import Config, load_config


@pytest.fixture(autouse=True)
def _fresh_pin_factory():
    saved = Device.pin_factory
    Device.pin_factory = None
    yield
    if Device.pin_factory is not None and Device.pin_factory is not saved:
        Device.pin_factory.close()
    Device.pin_factory = saved


def test_none_only_logs():
    hw = build_hardware("none", Config().hardware, Config().modem)
    try:
        assert isinstance(hw.buzzer, NullBuzzer) and isinstance(hw.sender, LogSender)
        assert hw.pin_history(17) == [] and hw.fake_modem is None
    finally:
        hw.close()


def test_mock_uses_mock_pins_and_a_fake_modem_through_the_real_driver():
    cfg = load_config(None, ["hardware.attack_buzz_s=0.5"])
    hw = build_hardware("mock", cfg.hardware, cfg.modem)
    try:
        assert isinstance(hw.buzzer, AlarmBuzzer) and isinstance(hw.sender, ModemSender)
        hw.buzzer.sound("attack")
        assert hw.pin_history(cfg.hardware.buzzer_pin)[-1][1] is True
        hw.sender.send("+15550100", "test alert")
        assert hw.fake_modem.received == [("+15550100", "test alert")]
    finally:
        hw.close()


def test_auto_with_mock_pin_factory_and_present_modem(monkeypatch):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    with FakeModem() as fake:
        cfg = load_config(None, [f"modem.port={fake.port}"])
        hw = build_hardware("auto", cfg.hardware, cfg.modem)
        try:
            assert isinstance(hw.buzzer, AlarmBuzzer)
            assert isinstance(hw.sender, ModemSender)
            hw.sender.send("+15550100", "via auto")
            assert fake.received == [("+15550100", "via auto")]
        finally:
            hw.close()


def test_auto_without_gpio_or_modem_falls_back_to_logging_with_notes(monkeypatch):
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "no-such-factory")
    hw = build_hardware("auto", Config().hardware, load_config(None, ["modem.port=/dev/no-such-modem"]).modem)
    try:
        assert isinstance(hw.buzzer, NullBuzzer) and isinstance(hw.sender, LogSender)
        text = hw.describe()
        assert "no GPIO here" in text and "/dev/no-such-modem not present" in text
    finally:
        hw.close()
