"""GSM modem driver: AT commands over a serial port (pyserial), text-mode SMS only.

Every wait has a deadline; empty reads are normal (the port is polled with a short timeout) and a
port that vanishes (USB unplugged, pty closed) surfaces as `ModemGone`. Each exception says in one
line what the modem answered and whether retrying makes sense (`transient`); the outbox retries every
failure anyway, only slower for the ones that need a person (no SIM, PIN required).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from typing import Callable, Protocol, TextIO

import serial
from pydantic import Field

from core.settings import Section
from hw_io.gsm7 import fit_sms, to_ira

log = logging.getLogger(__name__)

class ModemConfig(Section):
    port: str | None = Field(None, description="serial device of the GSM modem, e.g. /dev/ttyUSB0")
    baud: int = Field(115200, gt=0, description="serial speed of the modem's line")


CTRL_Z = b"\x1a"
ESC = b"\x1b"
_POLL_S = 0.05  # serial read timeout; deadlines are enforced by the loops around it
_PROMPT = object()

try:
    import termios

    # pyserial lets termios.error (not an OSError) through from tcflush/tcdrain on a vanished port.
    _PORT_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError, termios.error)
except ImportError:  # Windows
    _PORT_ERRORS = (serial.SerialException, OSError)

CMS_MESSAGES = {
    300: "ME failure", 301: "SMS service of ME reserved", 302: "operation not allowed",
    303: "operation not supported", 304: "invalid PDU mode parameter", 305: "invalid text mode parameter",
    310: "SIM not inserted", 311: "SIM PIN required", 312: "PH-SIM PIN required", 313: "SIM failure",
    314: "SIM busy", 315: "SIM wrong", 316: "SIM PUK required", 317: "SIM PIN2 required",
    318: "SIM PUK2 required", 320: "memory failure", 321: "invalid memory index", 322: "memory full",
    330: "SMSC address unknown", 331: "no network service", 332: "network timeout",
    340: "no +CNMA acknowledgement expected", 500: "unknown error",
}
CME_MESSAGES = {
    0: "phone failure", 1: "no connection to phone", 2: "phone-adaptor link reserved",
    3: "operation not allowed", 4: "operation not supported", 5: "PH-SIM PIN required",
    10: "SIM not inserted", 11: "SIM PIN required", 12: "SIM PUK required", 13: "SIM failure",
    14: "SIM busy", 15: "SIM wrong", 16: "incorrect password", 17: "SIM PIN2 required",
    18: "SIM PUK2 required", 20: "memory full", 21: "invalid index", 22: "not found",
    23: "memory failure", 24: "text string too long", 30: "no network service", 31: "network timeout",
    32: "network not allowed - emergency calls only", 100: "unknown",
}
# Errors that wait for a person (insert the SIM, enter the PIN, fix the SMSC), not for time.
_CMS_PERMANENT = {310, 311, 312, 313, 315, 316, 317, 318, 330}
_CME_PERMANENT = {5, 10, 11, 12, 13, 15, 16, 17, 18}
CREG_STATES = {0: "not registered, not searching", 1: "registered, home network", 2: "searching",
               3: "registration denied", 4: "unknown", 5: "registered, roaming"}

_NUMBER = re.compile(r"\+?\d{3,20}")


def check_number(number: str) -> str:
    """The number without spaces, or ValueError when it does not look like a phone number."""
    cleaned = str(number).replace(" ", "")
    if not _NUMBER.fullmatch(cleaned):
        raise ValueError(f"not a phone number (want + and 3-20 digits): {number!r}")
    return cleaned


class ModemError(Exception):
    """Base of everything the modem or its port can go wrong with."""

    transient = True


class ModemTimeout(ModemError):
    """The modem did not answer within the deadline."""


class NoPrompt(ModemTimeout):
    """No "> " prompt after AT+CMGS; ESC was sent to abort the pending message."""


class ModemGone(ModemError):
    """The port could not be opened or vanished while open (unplugged, EIO)."""


class CommandError(ModemError):
    """A plain ERROR answer (error codes not enabled, or a command the modem does not know)."""


class _CodedError(ModemError):
    kind = ""
    messages: dict[int, str] = {}
    permanent: set[int] = set()

    def __init__(self, code: int | str):
        self.code = code
        meaning = self.messages.get(code, "unlisted code") if isinstance(code, int) else "text answer"
        super().__init__(f"modem error +{self.kind} ERROR: {code} ({meaning})")

    @property
    def transient(self) -> bool:  # type: ignore[override]
        return self.code not in self.permanent


class CmsError(_CodedError):
    """+CMS ERROR: an SMS service failure (27.005 codes)."""

    kind, messages, permanent = "CMS", CMS_MESSAGES, _CMS_PERMANENT


class CmeError(_CodedError):
    """+CME ERROR: a mobile equipment failure (27.007 codes)."""

    kind, messages, permanent = "CME", CME_MESSAGES, _CME_PERMANENT


class NotRegistered(ModemError):
    """AT+CREG? shows the modem is not registered on a network (stat other than 1 or 5)."""

    def __init__(self, stat: int):
        self.stat = stat
        super().__init__(f"modem not registered on the network: +CREG stat {stat} "
                         f"({CREG_STATES.get(stat, 'unlisted state')})")

    @property
    def transient(self) -> bool:  # type: ignore[override]
        return self.stat != 3


class SimNotReady(ModemError):
    """AT+CPIN? answered something other than READY (a PIN or PUK is needed)."""

    transient = False

    def __init__(self, status: str):
        self.status = status
        super().__init__(f"modem SIM not ready: +CPIN: {status} (needs a person)")


def _error_code(text: str) -> int | str:
    text = text.strip()
    return int(text) if text.isdigit() else text


class GsmModem:
    """One modem on one serial port, SMS in text mode with the IRA charset (see gsm7.to_ira).

    Not thread-safe: `ModemSender` serialises access. `serial_factory` is called like serial.Serial
    (port, baudrate, timeout=, write_timeout=, exclusive=)."""

    def __init__(self, port: str, baud: int = 115200, timeout: float = 2.0, send_timeout: float = 60.0,
                 serial_factory: Callable[..., serial.Serial] = serial.Serial):
        self.port = port
        self.baud = baud
        self.timeout = timeout
        self.send_timeout = send_timeout
        self._serial_factory = serial_factory
        self._ser: serial.Serial | None = None
        self._buf = bytearray()

    # --- port -------------------------------------------------------------------------------
    def open(self) -> "GsmModem":
        if self._ser is not None:
            return self
        try:
            # exclusive: two processes interleaving AT commands on one modem would corrupt both.
            self._ser = self._serial_factory(self.port, self.baud, timeout=_POLL_S,
                                             write_timeout=self.timeout, exclusive=True)
        except _PORT_ERRORS as e:
            raise ModemGone(f"modem gone: cannot open {self.port}: {e}") from e
        self._buf.clear()
        return self

    def close(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except _PORT_ERRORS:
                pass  # the port is already gone; nothing left to release

    @property
    def is_open(self) -> bool:
        return self._ser is not None

    def __enter__(self) -> "GsmModem":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _port(self) -> serial.Serial:
        if self._ser is None:
            raise ModemGone(f"modem gone: {self.port} is not open")
        return self._ser

    def _write(self, data: bytes) -> None:
        try:
            self._port().write(data)
            self._port().flush()
        except serial.SerialTimeoutException as e:
            raise ModemTimeout(f"modem timeout: write to {self.port} blocked for {self.timeout} s") from e
        except _PORT_ERRORS as e:
            raise ModemGone(f"modem gone: {self.port}: {e}") from e

    def _fill(self) -> None:
        try:
            ser = self._port()
            data = ser.read(ser.in_waiting or 1)
        except _PORT_ERRORS as e:
            raise ModemGone(f"modem gone: {self.port}: {e}") from e
        self._buf += data

    def _drain(self) -> None:
        """Drop stale input (late answers to a timed-out command, URCs) so they cannot be taken for
        the answer to the next command."""
        self._buf.clear()
        try:
            self._port().reset_input_buffer()
        except _PORT_ERRORS as e:
            raise ModemGone(f"modem gone: {self.port}: {e}") from e

    def _read_line(self, deadline: float, prompt: bool = False):
        """Next non-empty line, `_PROMPT` for "> " when `prompt`, or None at the deadline."""
        while True:
            start = 0
            while start < len(self._buf) and self._buf[start] in b"\r\n":
                start += 1
            del self._buf[:start]
            if prompt and self._buf.startswith(b">"):
                del self._buf[:2 if self._buf.startswith(b"> ") else 1]
                return _PROMPT
            ends = [i for i in (self._buf.find(b"\r"), self._buf.find(b"\n")) if i >= 0]
            if ends:
                end = min(ends)
                line = bytes(self._buf[:end]).decode("ascii", "replace").strip()
                del self._buf[:end + 1]
                if line:
                    return line
                continue
            if time.monotonic() >= deadline:
                return None
            self._fill()

    @staticmethod
    def _raise_if_error(line: str) -> None:
        if line == "ERROR":
            raise CommandError("modem error: ERROR")
        if line.startswith("+CMS ERROR:"):
            raise CmsError(_error_code(line[len("+CMS ERROR:"):]))
        if line.startswith("+CME ERROR:"):
            raise CmeError(_error_code(line[len("+CME ERROR:"):]))

    # --- commands ---------------------------------------------------------------------------
    def command(self, cmd: str, expect: str | None = None, timeout: float | None = None) -> list[str]:
        """Send `cmd`, wait for OK; return the answer lines starting with `expect`.

        Anything else before OK (echo, URCs such as +CMTI or RING) is ignored."""
        self._drain()
        self._write(cmd.encode("ascii") + b"\r")
        wait = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + wait
        info: list[str] = []
        while True:
            line = self._read_line(deadline)
            if line is None:
                raise ModemTimeout(f"modem timeout: no answer to {cmd} within {wait:g} s")
            if line == "OK":
                return info
            self._raise_if_error(line)
            if expect and line.startswith(expect):
                info.append(line[len(expect):].strip())

    def registration(self) -> int:
        """The <stat> of AT+CREG?."""
        for fields in self.command("AT+CREG?", expect="+CREG:"):
            parts = [p.strip() for p in fields.split(",")]
            # The query answer is "<n>,<stat>[,...]"; an unsolicited "+CREG: <stat>[,"lac",...]"
            # can arrive in between and must not be taken for it.
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1])
        raise ModemTimeout("modem timeout: AT+CREG? answered OK without a +CREG line")

    def setup(self) -> None:
        """Echo off, numeric errors, SIM ready, registered, text mode with ASCII text."""
        self.open()
        self.command("AT")
        self.command("ATE0")
        self.command("AT+CMEE=1")
        for status in self.command("AT+CPIN?", expect="+CPIN:"):
            if status != "READY":
                raise SimNotReady(status)
        stat = self.registration()
        if stat not in (1, 5):
            raise NotRegistered(stat)
        self.command("AT+CMGF=1")
        self.command('AT+CSCS="IRA"')  # see gsm7.to_ira for why not "GSM"

    def send_sms(self, number: str, text: str) -> int:
        """Send one SMS (text fitted with fit_sms); return the +CMGS message reference."""
        number = check_number(number)
        body = to_ira(fit_sms(text)).encode("ascii")
        self._drain()
        self._write(f'AT+CMGS="{number}"\r'.encode("ascii"))
        deadline = time.monotonic() + self.timeout
        while True:
            line = self._read_line(deadline, prompt=True)
            if line is _PROMPT:
                break
            if line is None:
                # Without ESC the modem could take our next command as message text and send it.
                self._write(ESC)
                raise NoPrompt(f"modem timeout: no '> ' prompt after AT+CMGS within {self.timeout:g} s "
                               "(sent ESC to abort)")
            self._raise_if_error(line)
        self._write(body + CTRL_Z)
        deadline = time.monotonic() + self.send_timeout
        ref = -1  # some modems answer a bare OK; the SMS was still accepted
        while True:
            line = self._read_line(deadline)
            if line is None:
                raise ModemTimeout(f"modem timeout: no +CMGS answer within {self.send_timeout:g} s "
                                   "(the SMS may or may not have gone out)")
            if line.startswith("+CMGS:"):
                digits = line[len("+CMGS:"):].strip().split(",")[0]
                ref = int(digits) if digits.isdigit() else -1
            elif line == "OK":
                return ref
            else:
                self._raise_if_error(line)


class SmsSender(Protocol):
    def send(self, number: str, text: str) -> str:
        """Send one SMS; return a reference. Raise (ModemError, ValueError) when it did not go out."""
        ...


class ModemSender:
    """SmsSender over a GsmModem, opened lazily and set up again after the port vanished or hung.

    `port` may be a callable returning the current path: a USB modem that is unplugged and plugged
    back can come back under another device name (and a FakeModem always does)."""

    def __init__(self, port: str | Callable[[], str], baud: int = 115200, timeout: float = 2.0,
                 send_timeout: float = 60.0, serial_factory: Callable[..., serial.Serial] = serial.Serial):
        self._port = port
        self.timeout = timeout  # both may be changed between sends; the next send uses them
        self.send_timeout = send_timeout
        self._kwargs = dict(baud=baud, serial_factory=serial_factory)
        self._modem: GsmModem | None = None
        self._lock = threading.Lock()

    def _ready_modem(self) -> GsmModem:
        if self._modem is None:
            port = self._port() if callable(self._port) else self._port
            modem = GsmModem(port, timeout=self.timeout, send_timeout=self.send_timeout, **self._kwargs)
            try:
                modem.setup()
            except BaseException:
                modem.close()
                raise
            self._modem = modem
        return self._modem

    def send(self, number: str, text: str) -> str:
        with self._lock:
            modem = self._ready_modem()
            modem.timeout, modem.send_timeout = self.timeout, self.send_timeout
            try:
                return str(modem.send_sms(number, text))
            except (ModemGone, ModemTimeout):
                # Re-open and set up next time: the modem may have been replugged or reset (echo on).
                self._modem = None
                modem.close()
                raise

    def close(self) -> None:
        with self._lock:
            if self._modem is not None:
                self._modem.close()
                self._modem = None


class LogSender:
    """Hardware `none`: the SMS is written to the log and a stream instead of a modem."""

    def __init__(self, stream: TextIO | None = None):
        self._stream = stream

    def send(self, number: str, text: str) -> str:
        number = check_number(number)
        log.info("SMS (not sent, no modem) to %s: %s", number, text)
        print(f"SMS to {number}: {fit_sms(text)}", file=self._stream or sys.stdout, flush=True)
        return "logged"


class RecordingSender:
    """Test double: records what it sends; `fail_next(n, exc)` makes the next n sends raise `exc`."""

    def __init__(self):
        self.sent: list[tuple[str, str]] = []
        self._failures: list[BaseException] = []
        self._lock = threading.Lock()

    def fail_next(self, n: int, exc: BaseException | None = None) -> None:
        with self._lock:
            self._failures = [exc or ModemTimeout("modem timeout: injected")] * n

    def send(self, number: str, text: str) -> str:
        with self._lock:
            if self._failures:
                raise self._failures.pop(0)
            self.sent.append((check_number(number), text))
            return f"rec-{len(self.sent)}"
