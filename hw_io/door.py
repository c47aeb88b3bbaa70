"""The booth door relay, and the one-time-code flow that locks it when a face is covered."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any, Callable, Protocol

log = logging.getLogger(__name__)


class DoorLock:
    """A door lock on a relay (BCM 27 by default); relay energised = locked.

    Wire a fail-safe lock (released when unpowered): a crash, a reboot or `close()` drops the relay and
    frees the door, so nobody can be shut in by a fault. `active_high=False` is for relay boards that
    switch on a low input.
    """

    def __init__(self, relay_pin: int | str = 27, pin_factory=None, active_high: bool = True):
        from gpiozero import OutputDevice

        self._relay = OutputDevice(relay_pin, active_high=active_high, initial_value=False,
                                   pin_factory=pin_factory)

    def lock(self) -> None:
        self._relay.on()

    def unlock(self) -> None:
        self._relay.off()

    @property
    def locked(self) -> bool:
        return bool(self._relay.is_active)

    def close(self) -> None:
        self._relay.close()


class NullDoorLock:
    """For `--hardware none` and tests: remembers the state and every change."""

    def __init__(self) -> None:
        self.locked = False
        self.history: list[str] = []

    def lock(self) -> None:
        log.info("door (none) would lock")
        self.locked = True
        self.history.append("lock")

    def unlock(self) -> None:
        log.info("door (none) would unlock")
        self.locked = False
        self.history.append("unlock")

    def close(self) -> None:
        pass


class _Store(Protocol):
    def add_step(self, event_id: str, step: str, detail: Any = None) -> None: ...


def new_code(digits: int = 6) -> str:
    # secrets, not random: random's Mersenne Twister can be predicted from earlier outputs.
    return str(secrets.randbelow(10 ** digits)).zfill(digits)


def _as_senders(send_sms, recipients: list[str] | None) -> list[tuple[str | None, Callable[[str], Any]]]:
    """(number, send(text)) per guard, so that each send succeeds or fails on its own."""
    if callable(send_sms):
        return [(None, send_sms)]
    if hasattr(send_sms, "send"):
        if not recipients:
            raise ValueError("send_sms has .send(number, text): give the guard's number(s) in recipients")
        return [(number, lambda text, number=number: send_sms.send(number, text)) for number in recipients]
    raise TypeError("send_sms must be a callable send_sms(text) or an object with .send(number, text)")


class OtpDoorFlow:
    """Face-covered response: warn, text the guards a one-time code, lock the door, unlock on that code.

    `run(event_id)` blocks until the door is unlocked, the code expires, or too many wrong codes are
    typed (up to `warn_s + ttl_s`), so run it off the frame loop. Each step is written to the store.
    The code exists only in memory and in the guard's SMS; the store and the log never see it.
    Outcomes: "unlocked"; "lockout" (door stays locked, attack alarm, guard alerted); "expired" (door
    stays locked, guard told; calling `run` again issues a fresh code); "not_locked" (no guard could be
    sent the code, so the door was never locked).
    """

    WARNING_MESSAGE = "Security check: the door will lock. Please stay calm; help is on the way."

    def __init__(self, lock, buzzer, keypad, send_sms, store: _Store, clock: Callable[[], float] = time.monotonic,
                 ttl_s: float = 120, attempts: int = 3, digits: int = 6, site_id: str = "ATM-0001",
                 warn_s: float = 2.0, sleep: Callable[[float], None] = time.sleep,
                 status: Callable[[str], None] | None = None, recipients: list[str] | None = None):
        if attempts < 1 or digits < 4:
            raise ValueError("attempts must be >= 1 and digits >= 4")
        self.lock = lock
        self.buzzer = buzzer
        self.keypad = keypad
        self._senders = _as_senders(send_sms, recipients)
        self.store = store
        self.clock = clock
        self.ttl_s = ttl_s
        self.attempts = attempts
        self.digits = digits
        self.site_id = site_id
        self.warn_s = warn_s
        self.sleep = sleep
        self.status = status

    def run(self, event_id: str) -> str:
        self._warn(event_id)
        code = new_code(self.digits)
        issued = self.clock()
        # The code goes out before the relay closes, and the door locks only if at least one guard's
        # send was accepted. Locking first and unlocking after failed sends would hold the customer
        # with no code out for as long as the sends take, and a hung modem can take a minute each.
        sent = self._sms(event_id, "otp_sent",
                         f"{self.site_id} door locked, code {code}, valid {self.ttl_s:.0f} s, ev:{event_id}",
                         {"ttl_s": self.ttl_s, "digits": self.digits}, secret=code)
        if not sent:
            self._step(event_id, "door_not_locked", {"reason": "the code reached no guard"})
            return "not_locked"
        try:
            self.lock.lock()
            self._step(event_id, "door_locked")
            return self._await_code(event_id, code, issued)
        except BaseException:
            # Fail safe, like the relay itself: once the flow is broken the keypad can no longer open
            # the door, so it must not hold anyone.
            self.lock.unlock()
            self._step(event_id, "door_released_on_error")
            raise

    def _await_code(self, event_id: str, code: str, issued: float) -> str:
        wrong = 0
        while True:
            remaining = self.ttl_s - (self.clock() - issued)
            entry = None if remaining <= 0 else self.keypad.read_code(timeout_s=remaining)
            late = self.clock() - issued > self.ttl_s
            if entry is None or late:
                return self._expired(event_id, entered=entry is not None)
            if entry == "":
                continue  # enter pressed alone: a slip, not a guess
            # Bytes, so non-ASCII input cannot raise inside compare_digest.
            if secrets.compare_digest(entry.encode(), code.encode()):
                self.lock.unlock()
                self.buzzer.silence()
                self._step(event_id, "door_unlocked", {"attempt": wrong + 1})
                return "unlocked"
            wrong += 1
            self._step(event_id, "otp_wrong", {"attempt": wrong, "of": self.attempts})
            if wrong >= self.attempts:
                return self._lockout(event_id, wrong)

    def _warn(self, event_id: str) -> None:
        self.buzzer.sound("door_warning")
        if self.status is not None:
            self.status(self.WARNING_MESSAGE)
        self._step(event_id, "door_warning", {"message": self.WARNING_MESSAGE, "lock_in_s": self.warn_s})
        # The customer gets time to react (or step out) before the relay closes.
        if self.warn_s > 0:
            self.sleep(self.warn_s)

    def _lockout(self, event_id: str, wrong: int) -> str:
        self._step(event_id, "otp_lockout", {"wrong": wrong})
        self.buzzer.sound("attack")
        self._sms(event_id, "alert_sent",
                  f"{self.site_id} ALERT: {wrong} wrong codes, door stays locked, ev:{event_id}", {"reason": "lockout"})
        return "lockout"

    def _expired(self, event_id: str, entered: bool) -> str:
        self._step(event_id, "otp_expired", {"entered": entered, "ttl_s": self.ttl_s})
        # Someone may still be inside a locked booth: the guard must know the code no longer works.
        self._sms(event_id, "alert_sent",
                  f"{self.site_id} door code expired, door stays locked, ev:{event_id}", {"reason": "expired"})
        return "expired"

    def _sms(self, event_id: str, step: str, text: str, detail: dict, secret: str | None = None) -> int:
        """Send `text` to every guard, each on its own; return how many sends were accepted."""
        sent = 0
        for number, send in self._senders:
            to = {} if number is None else {"to": number}
            try:
                send(text)
            except Exception as exc:  # a bad number or a dead modem must not keep the code from the others
                msg = f"{type(exc).__name__}: {exc}"
                if secret:
                    msg = msg.replace(secret, "*" * len(secret))  # an error may echo the text back
                log.error("SMS for event %s to %s failed: %s", event_id, number or "guard", msg)
                self._step(event_id, step.replace("_sent", "_send_failed"), {**detail, **to, "error": msg})
                continue
            sent += 1
            self._step(event_id, step, {**detail, **to})
        return sent

    def _step(self, event_id: str, step: str, detail: dict | None = None) -> None:
        log.info("door flow %s: %s %s", event_id, step, detail or "")
        self.store.add_step(event_id, step, detail)
