"""The booth's alarm buzzer: one beep pattern per severity, played in the background."""

from __future__ import annotations

import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pattern:
    on_s: float
    off_s: float
    n: int


def default_patterns(attack_s: float = 30.0) -> dict[str, Pattern]:
    return {
        "warning": Pattern(0.15, 0.15, 3),
        # One long "beep" rather than on(): gpiozero then ends it by itself after attack_s.
        "attack": Pattern(attack_s, 0.0, 1),
        # Tells the customer the door is about to lock, so nobody is startled or caught in it.
        "door_warning": Pattern(0.5, 0.5, 2),
    }


SEVERITIES = tuple(default_patterns())


class AlarmBuzzer:
    """An active buzzer on a GPIO pin (BCM 17 by default).

    `sound()` returns at once; gpiozero's background thread plays the pattern. A new `sound()` replaces
    the pattern in progress, because the latest severity is what the booth should hear.
    """

    def __init__(self, pin: int | str = 17, pin_factory=None, attack_s: float = 30.0,
                 patterns: dict[str, Pattern] | None = None):
        from gpiozero import Buzzer  # imported here so `NullBuzzer` works where gpiozero is absent

        self.patterns = default_patterns(attack_s)
        if patterns:
            self.patterns.update(patterns)
        self._buzzer = Buzzer(pin, active_high=True, initial_value=False, pin_factory=pin_factory)

    def sound(self, severity: str) -> None:
        try:
            p = self.patterns[severity]
        except KeyError:
            raise ValueError(f"unknown buzzer severity {severity!r}; known: {sorted(self.patterns)}") from None
        log.info("buzzer %s (%.2fs on / %.2fs off x%d)", severity, p.on_s, p.off_s, p.n)
        self._buzzer.beep(on_time=p.on_s, off_time=p.off_s, n=p.n, background=True)

    def silence(self) -> None:
        # off() also stops gpiozero's pattern thread, so the pattern cannot switch it back on.
        self._buzzer.off()

    @property
    def is_sounding(self) -> bool:
        return bool(self._buzzer.is_active)

    def close(self) -> None:
        self._buzzer.close()

    def __enter__(self) -> "AlarmBuzzer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NullBuzzer:
    """For `--hardware none` and tests: logs and records what would have sounded."""

    def __init__(self, severities=SEVERITIES) -> None:
        self.known = tuple(severities)
        self.calls: list[tuple[str, str | None]] = []

    def sound(self, severity: str) -> None:
        # Same check as the real buzzer, so a misspelt severity fails under `none` too.
        if severity not in self.known:
            raise ValueError(f"unknown buzzer severity {severity!r}; known: {sorted(self.known)}")
        log.info("buzzer (none) would sound %s", severity)
        self.calls.append(("sound", severity))

    def silence(self) -> None:
        self.calls.append(("silence", None))

    @property
    def is_sounding(self) -> bool:
        return False

    def close(self) -> None:
        self.calls.append(("close", None))

    def severities(self) -> list[str]:
        return [s for c, s in self.calls if c == "sound"]
