"""A fake GSM modem on a pseudo-terminal, for tests and the demo.

The driver under test opens `port` (the pty slave, e.g. /dev/pts/7) with pyserial exactly as it would
open /dev/ttyUSB2, from this process or another one; a background thread plays the modem on the
master side, answering AT commands with \\r\\n-framed responses. Faults are plain attributes that can
be flipped while it runs:

    with FakeModem() as fm:
        fm.no_network = True          # AT+CREG? -> +CREG: 0,2; AT+CMGS -> +CMS ERROR: 331
        fm.fail_next(2, code=500)     # the next 2 submitted texts -> +CMS ERROR: 500
        fm.no_prompt = True           # AT+CMGS gets no "> " prompt
        fm.stall = True               # swallow everything: the driver times out
        fm.sim_busy = True            # AT+CPIN? -> +CME ERROR: 14   (sim_absent: 10)
        fm.hang_after_prompt = True   # take the text, never answer +CMGS
        fm.urc_noise = True           # sprinkle +CMTI / RING / +CREG: 1 before every answer
        fm.unplug(); fm.replug()      # pty closed (driver sees EIO), then a new one: `port` changes
"""

from __future__ import annotations

import os
import pty
import select
import threading
import tty

CTRL_Z, ESC = 0x1A, 0x1B
UNPLUGGED_PORT = "/dev/null/fake-modem-unplugged"  # under a file, so opening it always fails


class FakeModem:
    def __init__(self) -> None:
        self.received: list[tuple[str, str]] = []   # SMS accepted (+CMGS answered)
        self.attempts: list[tuple[str, str]] = []   # every text submitted with Ctrl-Z, accepted or not
        self.commands: list[str] = []               # every command line, in order
        self.escapes = 0                            # ESC bytes seen (aborted messages)
        self.no_network = False
        self.no_prompt = False
        self.stall = False
        self.sim_busy = False
        self.sim_absent = False
        self.hang_after_prompt = False
        self.urc_noise = False
        self.cms_error: int | None = None
        self.cms_error_count: int | None = None  # None: every send fails while cms_error is set
        self._echo = True
        self._ref = 0
        self._cmd = bytearray()
        self._text: bytearray | None = None  # not None while in text entry after "> "
        self._number = ""
        self._master: int | None = None
        self._slave: int | None = None
        self._port: str | None = None
        self._gen = 0
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- life cycle -------------------------------------------------------------------------
    @property
    def port(self) -> str:
        """Path of the current pty slave; changes after replug().

        While unplugged it names a device that cannot exist, as a real modem's node vanishes: the
        old /dev/pts number may be handed to any other pty on the machine in the meantime."""
        if self._port is None:
            if self._thread is None:
                raise RuntimeError("FakeModem has no port: call start() first")
            return UNPLUGGED_PORT
        return self._port

    def start(self) -> "FakeModem":
        if self._thread is not None:
            return self
        self.replug()
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name="fake-modem", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self.unplug()

    def __enter__(self) -> "FakeModem":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def unplug(self) -> None:
        """Close the pty: a client reading or writing the slave gets EIO, reopening it fails."""
        with self._lock:
            for fd in (self._master, self._slave):
                if fd is not None:
                    os.close(fd)
            self._master = self._slave = self._port = None
            self._gen += 1  # the serving thread may still hold the old fd number from select()
            self._text = None
            self._cmd.clear()

    def replug(self) -> None:
        """A fresh pty, as after a USB modem was plugged back in: a new path, echo on again."""
        with self._lock:
            self.unplug()
            master, slave = pty.openpty()
            # Raw before any client opens it: a cooked pty would echo our answers back to us.
            tty.setraw(slave)
            # Keeping our own slave fd open means a client closing the port does not hang up the
            # master (reads would raise EIO); the next client just opens the same path.
            self._master, self._slave, self._port = master, slave, os.ttyname(slave)
            self._echo = True

    # --- fault helpers ----------------------------------------------------------------------
    def fail_next(self, n: int, code: int = 500) -> None:
        with self._lock:
            self.cms_error, self.cms_error_count = code, n

    def clear_faults(self) -> None:
        with self._lock:
            self.no_network = self.no_prompt = self.stall = False
            self.sim_busy = self.sim_absent = self.hang_after_prompt = self.urc_noise = False
            self.cms_error = self.cms_error_count = None

    def wait_for(self, predicate, timeout: float = 5.0) -> bool:
        """Wait until predicate(self) holds (checked whenever the fake handles input)."""
        with self._changed:
            return self._changed.wait_for(lambda: predicate(self), timeout)

    # --- serving ----------------------------------------------------------------------------
    def _serve(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                fd, gen = self._master, self._gen
            if fd is None:
                self._stop.wait(0.02)
                continue
            try:
                ready, _, _ = select.select([fd], [], [], 0.05)
            except (OSError, ValueError):
                continue  # closed by unplug() while we waited
            if not ready:
                continue
            with self._lock:
                if gen != self._gen:
                    continue
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    data = b""  # EIO: no client has the slave open; wait for the next one
                if data:
                    self._feed(data)
                    self._changed.notify_all()
            if not data:
                self._stop.wait(0.02)

    def _send(self, data: bytes) -> None:
        if self._master is not None:
            try:
                os.write(self._master, data)
            except OSError:
                pass  # client went away mid-answer; a real modem would not notice either

    def _answer(self, *lines: str) -> None:
        if self.urc_noise:
            self._send(b'\r\n+CMTI: "SM",3\r\n\r\nRING\r\n\r\n+CREG: 1\r\n')
        self._send(b"".join(b"\r\n" + line.encode("ascii") + b"\r\n" for line in lines))

    def _feed(self, data: bytes) -> None:
        for byte in data:
            if self.stall:
                continue
            if self._text is not None:
                if byte == CTRL_Z:
                    self._submit()
                elif byte == ESC:
                    self.escapes += 1
                    self._text = None
                else:
                    self._text.append(byte)
            elif byte == ESC:
                self.escapes += 1
                self._cmd.clear()
            elif byte in b"\r\n":
                if self._cmd:
                    line = self._cmd.decode("ascii", "replace")
                    self._cmd.clear()
                    self._command(line)
            else:
                self._cmd.append(byte)

    def _command(self, line: str) -> None:
        self.commands.append(line)
        if self._echo:
            self._send(line.encode("ascii", "replace") + b"\r")
        cmd = line.strip().upper()
        if cmd in ("AT", "AT+CMEE=1", "AT+CMGF=1") or cmd.startswith("AT+CSCS="):
            self._answer("OK")
        elif cmd in ("ATE0", "ATE1"):
            self._echo = cmd == "ATE1"
            self._answer("OK")
        elif cmd == "AT+CPIN?":
            if self.sim_absent:
                self._answer("+CME ERROR: 10")
            elif self.sim_busy:
                self._answer("+CME ERROR: 14")
            else:
                self._answer("+CPIN: READY", "OK")
        elif cmd == "AT+CREG?":
            self._answer(f"+CREG: 0,{2 if self.no_network else 1}", "OK")
        elif cmd.startswith("AT+CMGS="):
            if self.no_network:
                self._answer("+CMS ERROR: 331")
            elif not self.no_prompt:
                self._number = line.strip()[len("AT+CMGS="):].strip('"')
                self._text = bytearray()
                self._send(b"\r\n> ")
        else:
            self._answer("ERROR")

    def _submit(self) -> None:
        number, text = self._number, self._text.decode("latin-1")
        self._text = None
        self.attempts.append((number, text))
        if self.no_network:
            self._answer("+CMS ERROR: 331")
        elif self.cms_error is not None and self.cms_error_count != 0:
            if self.cms_error_count is not None:
                self.cms_error_count -= 1
            self._answer(f"+CMS ERROR: {self.cms_error}")
        elif self.hang_after_prompt:
            pass
        else:
            self._ref = self._ref % 255 + 1
            self.received.append((number, text))
            self._answer(f"+CMGS: {self._ref}", "OK")
