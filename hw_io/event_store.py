"""SQLite record of events, door-flow steps and evidence files, shared by the pipeline and hardware threads."""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
import time
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id         TEXT PRIMARY KEY,
    time       REAL,
    type       TEXT NOT NULL,
    frame      INTEGER,
    score      REAL,
    bbox       TEXT,
    payload    TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT NOT NULL,
    step       TEXT NOT NULL,
    detail     TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS steps_event ON steps(event_id);
CREATE TABLE IF NOT EXISTS evidence (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('snapshot', 'clip')),
    path       TEXT NOT NULL,
    bytes      INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS evidence_event ON evidence(event_id);
CREATE INDEX IF NOT EXISTS evidence_path ON evidence(path);
"""


class EventStore:
    """Events, door-flow steps and evidence in one SQLite file.

    WAL lets a reader (a status page, the quota sweep) run while the pipeline writes; synchronous=FULL
    because an alarm record lost to a power cut is worse than a slower commit. One connection is shared
    across threads behind a lock, which is simpler than a connection per thread and fast enough for a
    few writes per event.
    """

    def __init__(self, path: str, clock=time.time):
        self.path = path
        self._clock = clock
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)

    # -- events ---------------------------------------------------------------------------------------

    def add_event(self, event: dict[str, Any]) -> str:
        """Stores an event dict (as `Event.to_dict()` gives) and returns its new short id."""
        bbox = event.get("bbox")
        payload = json.dumps(event, default=str)
        now = self._clock()
        with self._lock:
            # 32 random bits: collisions are unlikely but possible over years of events, so retry.
            for _ in range(8):
                event_id = secrets.token_hex(4)
                try:
                    self._db.execute(
                        "INSERT INTO events (id, time, type, frame, score, bbox, payload, created_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (event_id, event.get("time_s", event.get("time")), str(event.get("type", "unknown")),
                         event.get("frame"), event.get("score"),
                         None if bbox is None else json.dumps(list(bbox)), payload, now))
                    return event_id
                except sqlite3.IntegrityError:
                    continue
        raise RuntimeError("could not allocate a unique event id")

    def list_events(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM events ORDER BY created_at, rowid").fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["bbox"] = None if d["bbox"] is None else json.loads(d["bbox"])
            d["payload"] = json.loads(d["payload"])
            out.append(d)
        return out

    # -- door-flow steps ------------------------------------------------------------------------------

    def add_step(self, event_id: str, step: str, detail: Any = None) -> None:
        text = None if detail is None else json.dumps(detail, default=str)
        with self._lock:
            self._db.execute("INSERT INTO steps (event_id, step, detail, created_at) VALUES (?, ?, ?, ?)",
                             (event_id, step, text, self._clock()))

    def steps(self, event_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT step, detail, created_at FROM steps WHERE event_id = ? ORDER BY seq",
                                    (event_id,)).fetchall()
        return [{"step": r["step"], "detail": None if r["detail"] is None else json.loads(r["detail"]),
                 "created_at": r["created_at"]} for r in rows]

    # -- evidence -------------------------------------------------------------------------------------

    def add_evidence(self, event_id: str, kind: str, path: str) -> int:
        """Records a file already on disk; returns its size in bytes."""
        size = os.path.getsize(path)
        with self._lock:
            self._db.execute("INSERT INTO evidence (event_id, kind, path, bytes, created_at) VALUES (?, ?, ?, ?, ?)",
                             (event_id, kind, path, size, self._clock()))
        return size

    def evidence_for(self, event_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT event_id, kind, path, bytes, created_at FROM evidence"
                                    " WHERE event_id = ? ORDER BY seq", (event_id,)).fetchall()
        return [dict(r) for r in rows]

    def all_evidence(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT event_id, kind, path, bytes, created_at FROM evidence ORDER BY seq").fetchall()
        return [dict(r) for r in rows]

    def total_bytes(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(SUM(bytes), 0) FROM evidence").fetchone()[0])

    def oldest_evidence(self) -> dict[str, Any] | None:
        # seq, not created_at, orders ties and survives a wall clock stepped back by NTP.
        with self._lock:
            row = self._db.execute("SELECT event_id, kind, path, bytes, created_at FROM evidence"
                                   " ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else dict(row)

    def delete_evidence(self, path: str) -> int:
        """Removes the rows for `path` (not the file: the caller owns the disk); returns rows removed."""
        with self._lock:
            return self._db.execute("DELETE FROM evidence WHERE path = ?", (path,)).rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "EventStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
