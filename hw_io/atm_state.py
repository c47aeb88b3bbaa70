"""The ATM's own state (idle, card inserted, dispensing...), read from a serial, TCP or Unix-socket link.

The ATM sends one line per change. The state lets the pipeline judge events in context, e.g. a person
lingering while the machine is idle versus in the middle of a transaction.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Callable

log = logging.getLogger(__name__)

KNOWN_STATES = frozenset({
    "idle", "card_inserted", "pin_entry", "transaction", "dispensing", "cash_taken", "card_ejected",
    "deposit", "maintenance", "out_of_service",
})
UNKNOWN = "unknown"
MAX_LINE = 256  # a link spewing bytes with no newline must not grow the buffer forever

OnChange = Callable[[str, str], None]


def check_known(states) -> None:
    """A config's ATM states, refused (ValueError) unless known: a misspelt state would never match
    what the ATM reports, and silently change nothing."""
    for state in states:
        if state not in KNOWN_STATES:
            raise ValueError(f"unknown ATM state {state!r} (known: {', '.join(sorted(KNOWN_STATES))})")


class _SocketLink:
    def __init__(self, sock: socket.socket, poll_s: float):
        sock.settimeout(poll_s)
        self._sock = sock

    def read(self) -> bytes:
        """Bytes received; b"" when nothing arrived within the poll interval. Raises when the link is gone."""
        try:
            data = self._sock.recv(4096)
        except socket.timeout:
            return b""
        if not data:
            raise ConnectionError("peer closed the connection")
        return data

    def close(self) -> None:
        self._sock.close()


class _SerialLink:
    def __init__(self, port: str, baud: int, poll_s: float):
        import serial

        self._ser = serial.Serial(port, baud, timeout=poll_s)

    def read(self) -> bytes:
        # pyserial returns b"" on timeout and raises SerialException when the device goes away.
        return self._ser.read(self._ser.in_waiting or 1)

    def close(self) -> None:
        self._ser.close()


class _FileLink:
    """Replays a recorded file; its end is the end of the run, not a dropped link."""

    def __init__(self, path: str):
        self._fh = open(path, "rb")

    def read(self) -> bytes:
        data = self._fh.read(4096)
        if not data:
            raise EOFError
        return data

    def close(self) -> None:
        self._fh.close()


def parse_source(source: str) -> tuple[str, tuple]:
    """`serial:/dev/ttyUSB1[@9600]`, `tcp:HOST:PORT`, `unix:/path` or `file:/path` -> (kind, args)."""
    kind, sep, rest = source.partition(":")
    if not sep or not rest:
        raise ValueError(f"ATM state source {source!r}: expected serial:, tcp:, unix: or file:")
    if kind == "serial":
        port, _, baud = rest.partition("@")
        return kind, (port, int(baud) if baud else 9600)
    if kind == "tcp":
        host, _, port = rest.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"ATM state source {source!r}: expected tcp:HOST:PORT")
        return kind, (host.strip("[]"), int(port))
    if kind in ("unix", "file"):
        return kind, (rest,)
    raise ValueError(f"ATM state source {source!r}: unknown kind {kind!r}")


class AtmStateReader:
    """Follows the ATM's state on a background thread; `current` is always the latest valid state.

    Lines are stripped and lower-cased; blank lines are skipped; a state not in `KNOWN_STATES` (plus
    `extra_states`) is logged and ignored. While the link is down `current` is "unknown": a stale
    "maintenance" must not keep suppressing alarms after the cable is pulled. A dropped link is
    reopened with exponential backoff (`backoff_s` = first, max), reset after each good connection.
    `on_change(old, new)` runs on the reader thread; it should return quickly.
    """

    def __init__(self, source: str, on_change: OnChange | None = None, extra_states=(),
                 backoff_s: tuple[float, float] = (0.5, 30.0), poll_s: float = 0.5, connect_timeout_s: float = 5.0):
        self.source = source
        self.kind, self._args = parse_source(source)
        self.on_change = on_change
        self.known = frozenset(KNOWN_STATES | {s.strip().lower() for s in extra_states})
        self.backoff_s = backoff_s
        self.poll_s = poll_s
        self.connect_timeout_s = connect_timeout_s
        self._state = UNKNOWN
        self._connected = False
        self.connections = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- public ---------------------------------------------------------------------------------------

    @property
    def current(self) -> str:
        with self._cond:
            return self._state

    @property
    def connected(self) -> bool:
        with self._cond:
            return self._connected

    def start(self) -> "AtmStateReader":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="atm-state", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def wait_for(self, predicate: Callable[["AtmStateReader"], bool] | str, timeout_s: float) -> bool:
        """Blocks until `predicate(self)` holds (or `current` equals the given state); False on timeout."""
        pred = (lambda r: r._state == predicate) if isinstance(predicate, str) else predicate
        with self._cond:
            return self._cond.wait_for(lambda: pred(self), timeout_s)

    def __enter__(self) -> "AtmStateReader":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- thread ---------------------------------------------------------------------------------------

    def _open(self):
        if self.kind == "serial":
            port, baud = self._args
            return _SerialLink(port, baud, self.poll_s)
        if self.kind == "tcp":
            host, port = self._args
            return _SocketLink(socket.create_connection((host, port), timeout=self.connect_timeout_s), self.poll_s)
        if self.kind == "unix":
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.connect_timeout_s)
            try:
                sock.connect(self._args[0])
            except OSError:
                sock.close()
                raise
            return _SocketLink(sock, self.poll_s)
        return _FileLink(self._args[0])

    def _run(self) -> None:
        delay = self.backoff_s[0]
        while not self._stop.is_set():
            try:
                link = self._open()
            except (OSError, ValueError) as exc:  # pyserial's SerialException is an OSError
                log.warning("ATM state: cannot open %s (%s); retrying in %.1f s", self.source, exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self.backoff_s[1])
                continue
            delay = self.backoff_s[0]
            self._set_connected(True)
            try:
                self._pump(link)
            except EOFError:
                log.info("ATM state: end of %s", self.source)
                self._stop.set()
            except (OSError, ConnectionError) as exc:
                log.warning("ATM state: link %s dropped (%s)", self.source, exc)
            finally:
                link.close()
                # A live link's state is unknown once it drops; a replay's end or our own stop() keeps it.
                self._set_connected(False, forget=self.kind != "file" and not self._stop.is_set())
            if not self._stop.is_set():
                self._stop.wait(delay)

    def _pump(self, link) -> None:
        buf = b""
        while not self._stop.is_set():
            buf += link.read()
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                self._line(line)
            if len(buf) > MAX_LINE:
                log.warning("ATM state: %d bytes without a newline from %s; discarded", len(buf), self.source)
                buf = b""

    def _line(self, raw: bytes) -> None:
        state = raw.decode("utf-8", "replace").strip().lower()
        if not state:
            return
        if state not in self.known:
            log.warning("ATM state: unknown state %r from %s ignored", state[:64], self.source)
            return
        self._set_state(state)

    def _set_connected(self, up: bool, forget: bool = True) -> None:
        with self._cond:
            self._connected = up
            if up:
                self.connections += 1
            self._cond.notify_all()
        if not up and forget:
            self._set_state(UNKNOWN)

    def _set_state(self, state: str) -> None:
        with self._cond:
            old, self._state = self._state, state
            self._cond.notify_all()
        if old != state and self.on_change is not None:
            try:
                self.on_change(old, state)
            except Exception:
                log.exception("ATM state: on_change callback failed")


class FixedState:
    """Test double and `--hardware none` stand-in: the state never changes unless `set()` is called."""

    def __init__(self, state: str = "idle", on_change: OnChange | None = None):
        self._state = state
        self.on_change = on_change
        self.connected = True

    @property
    def current(self) -> str:
        return self._state

    def set(self, state: str) -> None:
        old, self._state = self._state, state
        if old != state and self.on_change is not None:
            self.on_change(old, state)

    def start(self) -> "FixedState":
        return self

    def stop(self, timeout_s: float = 2.0) -> None:
        pass

    def __enter__(self) -> "FixedState":
        return self

    def __exit__(self, *exc: object) -> None:
        pass
