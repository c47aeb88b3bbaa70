"""Keypads that return a typed code: digits then enter."""

from __future__ import annotations

import logging
import queue
import re
import sys
import threading
import time
from functools import partial
from typing import Callable, Iterable, Union

log = logging.getLogger(__name__)

ENTER = "enter"


class GpioKeypad:
    """A simple wired keypad: every key is its own push button between a GPIO pin and ground.

    A matrix keypad (rows x columns) needs a scanner that drives rows and reads columns; this class does
    not cover that. Buttons use the Pi's internal pull-ups, so a pressed key reads low.
    """

    def __init__(self, digit_pins: dict[str, int], enter_pin: int, pin_factory=None,
                 bounce_s: float | None = 0.02, max_digits: int = 16):
        from gpiozero import Button

        bad = [k for k in digit_pins if len(k) != 1 or not k.isdigit()]
        if bad:
            raise ValueError(f"digit_pins keys must be single digits, got {bad}")
        self.max_digits = max_digits
        self._keys: queue.Queue[str] = queue.Queue()
        # Set while read_code() waits, so a display (or a test) can tell when typing will count.
        self.reading = threading.Event()
        self._buttons = []
        for key, pin in sorted(digit_pins.items()):
            self._buttons.append(self._button(Button, pin, key, pin_factory, bounce_s))
        self._buttons.append(self._button(Button, enter_pin, ENTER, pin_factory, bounce_s))

    def _button(self, cls, pin, key, pin_factory, bounce_s):
        b = cls(pin, pull_up=True, bounce_time=bounce_s, pin_factory=pin_factory)
        b.when_pressed = partial(self._keys.put, key)
        return b

    def read_code(self, timeout_s: float) -> str | None:
        """Digits typed before enter, or None if enter did not come within `timeout_s`.

        Keys pressed before this call are dropped: a half-typed code from earlier (or a customer
        prodding the pad) must not prefix the guard's code.
        """
        self._drain()
        digits: list[str] = []
        deadline = time.monotonic() + timeout_s
        self.reading.set()
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                try:
                    key = self._keys.get(timeout=remaining)
                except queue.Empty:
                    return None
                if key == ENTER:
                    return "".join(digits)
                if len(digits) < self.max_digits:
                    digits.append(key)
        finally:
            self.reading.clear()

    def _drain(self) -> None:
        while True:
            try:
                self._keys.get_nowait()
            except queue.Empty:
                return

    def close(self) -> None:
        for b in self._buttons:
            b.close()


Entry = Union[str, None, Callable[[], Union[str, None]]]


class ScriptedKeypad:
    """Test double: returns the scripted entries in order, then None (as if nobody typed in time).

    An entry may be a callable, evaluated when read, for codes the test only learns later (an OTP sent
    by SMS). `on_read(timeout_s)` runs before each read, e.g. to advance a fake clock by typing time.
    """

    def __init__(self, codes: Iterable[Entry], on_read: Callable[[float], None] | None = None):
        self._codes = list(codes)
        self._on_read = on_read
        self.reads = 0

    def read_code(self, timeout_s: float) -> str | None:
        self.reads += 1
        if self._on_read is not None:
            self._on_read(timeout_s)
        if not self._codes:
            return None
        entry = self._codes.pop(0)
        return entry() if callable(entry) else entry

    def close(self) -> None:
        pass


class StdinKeypad:
    """For bench runs without a keypad: prompts on stderr and reads one line from stdin.

    The timeout is only shown, not enforced: a blocking stdin read cannot be interrupted portably,
    and on a bench the operator is the one waiting.
    """

    def __init__(self, stdin=None, stderr=None, prompt: str = "code"):
        self._in = stdin if stdin is not None else sys.stdin
        self._err = stderr if stderr is not None else sys.stderr
        self.prompt = prompt

    def read_code(self, timeout_s: float) -> str | None:
        self._err.write(f"{self.prompt} ({timeout_s:.0f} s): ")
        self._err.flush()
        line = self._in.readline()
        if not line:
            return None
        return line.strip()

    def close(self) -> None:
        pass


_CODE = re.compile(r"\bcode (\d{4,})\b")


class GuardKeypad:
    """Stand-in for the guard at the booth (the demo, tests): reads the one-time code from the newest
    SMS that carries one, as a guard would, and types it once. `messages()` returns the texts
    received so far. One reader at a time, like the door flow that reads it (the responder runs one
    flow at a time); a code from an earlier flow is never typed into a later one."""

    def __init__(self, messages: Callable[[], list[str]], poll_s: float = 0.05):
        self._messages = messages
        self._poll_s = poll_s
        self._typed: set[str] = set()
        self.reads = 0

    def _newest_code(self) -> str | None:
        for text in reversed(self._messages()):
            m = _CODE.search(text)
            if m:
                return m.group(1)
        return None

    def read_code(self, timeout_s: float) -> str | None:
        self.reads += 1
        deadline = time.monotonic() + timeout_s
        while True:
            code = self._newest_code()
            if code is not None and code not in self._typed:
                self._typed.add(code)
                return code
            if time.monotonic() >= deadline:
                return None
            time.sleep(self._poll_s)

    def close(self) -> None:
        pass
