"""SQLite outbox for SMS alerts: an alert is on disk before anyone tries to send it, and stays until
the modem confirmed it.

Delivery is at-least-once. A duplicate SMS is possible only when the process dies (or the modem stops
answering) after the modem accepted the text but before its +CMGS/OK was recorded here: the row is
still `sending` (or failed with a timeout) and is sent again. A message is never dropped: every
failure is retried with exponential backoff, the slowest rate for errors that need a person.

States: queued -> sending -> sent; a failed send goes back to queued with a later next_try_at. Rows
left in `sending` by a process that no longer runs go back to queued when an Outbox is opened.
Several threads may share one Outbox; several processes may open the same file (WAL, and a row is
claimed with one conditional UPDATE, so two workers never send the same row at once).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from typing import Callable

from hw_io.modem import CmsError, ModemError, SmsSender

log = logging.getLogger(__name__)

QUEUED, SENDING, SENT = "queued", "sending", "sent"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  REAL    NOT NULL,
    event_id    TEXT,
    recipient   TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending', 'sent')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_try_at REAL    NOT NULL,
    last_error  TEXT,
    sent_at     REAL,
    ref         TEXT,
    claimed_by  INTEGER,
    claimed_at  REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_try_at);
"""


@dataclass(frozen=True)
class Message:
    id: int
    created_at: float
    event_id: str | None
    recipient: str
    text: str
    state: str
    attempts: int
    next_try_at: float
    last_error: str | None
    sent_at: float | None
    ref: str | None


_COLUMNS = "id, created_at, event_id, recipient, text, state, attempts, next_try_at, last_error, sent_at, ref"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Outbox:
    def __init__(self, path: str, clock: Callable[[], float] = time.time, backoff_initial_s: float = 5.0,
                 backoff_factor: float = 2.0, backoff_max_s: float = 300.0, lease_s: float = 600.0):
        """`lease_s`: a row `sending` for longer than this is taken as abandoned (a hung process, or a
        pid reused after a reboot) and becomes due again; keep it above the modem's send timeout."""
        self.path = path
        self._clock = clock
        self.backoff_initial_s = backoff_initial_s
        self.backoff_factor = backoff_factor
        self.backoff_max_s = backoff_max_s
        self.lease_s = lease_s
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        self._lock = threading.RLock()
        # Autocommit (isolation_level=None): every statement is its own durable transaction.
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA busy_timeout = 30000")
        mode = self._db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            log.warning("outbox %s: journal_mode is %s, not WAL (filesystem without shared memory?)", path, mode)
        # FULL: a commit is fsynced before enqueue() returns, so a power cut right after cannot lose it.
        self._db.execute("PRAGMA synchronous = FULL")
        self._db.executescript(_SCHEMA)
        self._requeue_orphans()

    def _requeue_orphans(self) -> None:
        me = os.getpid()
        with self._lock:
            rows = self._db.execute("SELECT id, claimed_by FROM outbox WHERE state = ?", (SENDING,)).fetchall()
            for row_id, pid in rows:
                # Our own pid can only be a previous run whose pid was reused (e.g. after a reboot).
                if pid is None or pid == me or not _pid_alive(pid):
                    self._db.execute("UPDATE outbox SET state = ?, claimed_by = NULL WHERE id = ? AND state = ?",
                                     (QUEUED, row_id, SENDING))
                    log.warning("outbox: message %d was being sent when its process died; re-sending "
                                "(the recipient may get it twice)", row_id)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Outbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _now(self, now: float | None) -> float:
        return self._clock() if now is None else now

    # --- writing ----------------------------------------------------------------------------
    def enqueue(self, recipient: str, text: str, event_id: str | None = None, now: float | None = None) -> int:
        """Store a message, durably, and return its id. Nothing is sent here."""
        t = self._now(now)
        with self._lock:
            cur = self._db.execute(
                "INSERT INTO outbox (created_at, event_id, recipient, text, next_try_at) VALUES (?, ?, ?, ?, ?)",
                (t, event_id, recipient, text, t))
            return int(cur.lastrowid)

    def mark_sending(self, msg_id: int, now: float | None = None) -> bool:
        """Claim a due message for sending; False when it is not due or another worker has it."""
        t = self._now(now)
        with self._lock:
            cur = self._db.execute(
                "UPDATE outbox SET state = ?, attempts = attempts + 1, claimed_by = ?, claimed_at = ? "
                "WHERE id = ? AND ((state = ? AND next_try_at <= ?) OR (state = ? AND claimed_at <= ?))",
                (SENDING, os.getpid(), t, msg_id, QUEUED, t, SENDING, t - self.lease_s))
            return cur.rowcount == 1

    def mark_sent(self, msg_id: int, ref: str, now: float | None = None) -> None:
        t = self._now(now)
        with self._lock:
            self._db.execute("UPDATE outbox SET state = ?, sent_at = ?, ref = ?, last_error = NULL, "
                             "claimed_by = NULL WHERE id = ?", (SENT, t, str(ref), msg_id))

    def backoff_s(self, attempts: int, transient: bool = True) -> float:
        """Delay before the next try after `attempts` tries; errors that need a person wait the longest."""
        if not transient:
            return self.backoff_max_s
        delay = self.backoff_initial_s * self.backoff_factor ** max(attempts - 1, 0)
        return min(delay, self.backoff_max_s)

    def mark_failed(self, msg_id: int, error: BaseException | str, now: float | None = None,
                    transient: bool | None = None) -> float:
        """Back to queued, due after the backoff; returns the time of the next try."""
        t = self._now(now)
        if transient is None:
            transient = bool(getattr(error, "transient", True))
        with self._lock:
            row = self._db.execute("SELECT attempts FROM outbox WHERE id = ?", (msg_id,)).fetchone()
            if row is None:
                raise KeyError(f"no outbox message {msg_id}")
            next_try = t + self.backoff_s(row[0], transient)
            self._db.execute("UPDATE outbox SET state = ?, next_try_at = ?, last_error = ?, claimed_by = NULL "
                             "WHERE id = ? AND state != ?", (QUEUED, next_try, str(error), msg_id, SENT))
            return next_try

    # --- reading ----------------------------------------------------------------------------
    def due(self, now: float | None = None, limit: int = 100) -> list[Message]:
        """Messages to try now, oldest first."""
        t = self._now(now)
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE (state = ? AND next_try_at <= ?) "
                "OR (state = ? AND claimed_at <= ?) ORDER BY id LIMIT ?",
                (QUEUED, t, SENDING, t - self.lease_s, limit)).fetchall()
        return [Message(*r) for r in rows]

    def get(self, msg_id: int) -> Message:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM outbox WHERE id = ?", (msg_id,)).fetchone()
        if row is None:
            raise KeyError(f"no outbox message {msg_id}")
        return Message(*row)

    def pending_count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM outbox WHERE state != ?", (SENT,)).fetchone()[0]

    def stats(self) -> dict:
        """Counts per state, the oldest unsent message's creation time and the latest error."""
        with self._lock:
            counts = dict(self._db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall())
            oldest = self._db.execute("SELECT MIN(created_at) FROM outbox WHERE state != ?", (SENT,)).fetchone()[0]
            err = self._db.execute("SELECT last_error FROM outbox WHERE state != ? AND last_error IS NOT NULL "
                                   "ORDER BY id DESC LIMIT 1", (SENT,)).fetchone()
        return {QUEUED: counts.get(QUEUED, 0), SENDING: counts.get(SENDING, 0), SENT: counts.get(SENT, 0),
                "oldest_pending_at": oldest, "last_error": err[0] if err else None}


class OutboxWorker:
    """Sends what the outbox has due through an SmsSender; `pump()` once, or `start()` a thread."""

    def __init__(self, outbox: Outbox, sender: SmsSender, clock: Callable[[], float] = time.time):
        self.outbox = outbox
        self.sender = sender
        self.clock = clock
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def pump(self, now: float | None = None) -> int:
        """Try every due message once, in order; return how many were sent. Never raises for send
        failures: they are recorded on the message and logged in one line."""
        t = self.clock() if now is None else now
        sent = 0
        for msg in self.outbox.due(t):
            if not self.outbox.mark_sending(msg.id, t):
                continue  # another worker claimed it
            try:
                ref = self.sender.send(msg.recipient, msg.text)
            except Exception as e:  # noqa: BLE001 - a bad number must not stop the worker either
                transient = e.transient if isinstance(e, ModemError) else False
                next_try = self.outbox.mark_failed(msg.id, e, t if now is not None else self.clock(), transient)
                log.warning("sms %d to %s failed (try %d, next in %.0f s): %s", msg.id, msg.recipient,
                            msg.attempts + 1, next_try - t, e)
                if isinstance(e, ModemError) and not isinstance(e, CmsError):
                    break  # the modem itself is unavailable: the rest would fail the same way
                continue
            self.outbox.mark_sent(msg.id, ref, t if now is not None else self.clock())
            sent += 1
        return sent

    def wake(self) -> None:
        """Pump now rather than at the next interval (call after enqueue)."""
        self._wake.set()

    def start(self, interval_s: float = 1.0) -> "OutboxWorker":
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, args=(interval_s,), name="outbox-worker", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float | None = None) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self, interval_s: float) -> None:
        while not self._stop.is_set():
            try:
                self.pump()
            except Exception:  # noqa: BLE001 - e.g. a locked or full disk; keep trying
                log.exception("outbox worker: pump failed")
            self._wake.wait(interval_s)
            self._wake.clear()
