"""SQLite store: one file, survives worker restarts (put it on the RunPod network volume).

Appends run inside `BEGIN IMMEDIATE`, which takes SQLite's write lock before reading the
version, so concurrent appends from threads or processes are serialised and none is lost.
The default rollback journal is kept (not WAL): WAL needs shared memory, which network
filesystems such as RunPod volumes do not provide.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time

from fish_speech.errors import FishError
from fish_speech.store.base import DEFAULT_MAX_TURNS, DEFAULT_TTL_S, ConversationStore, conflict
from fish_speech.store.conversation import Conversation, dump_message, load_message

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    system BLOB,
    version INTEGER NOT NULL,
    expires_at REAL
);
CREATE TABLE IF NOT EXISTS messages (
    conversation_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);
CREATE INDEX IF NOT EXISTS conversations_expiry ON conversations (expires_at);
"""
_SWEEP_EVERY = 100  # appends between purges of expired conversations


class SQLiteStore(ConversationStore):
    def __init__(self, path: str, ttl_s=DEFAULT_TTL_S, max_turns=DEFAULT_MAX_TURNS, timeout_s: float = 30.0):
        super().__init__(ttl_s, max_turns)
        self.path = os.fspath(path)
        self.url = "sqlite://" + self.path
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._appends = 0
        parent = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(parent, exist_ok=True)
            with self._tx(immediate=True) as db:
                # executescript would COMMIT our transaction first; run the statements one by one.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                self._sweep(db)
        except sqlite3.Error as e:
            raise FishError(503, "conversation_id", f"conversation store {self.url} unavailable: {e}") from e

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            # One connection per thread; isolation_level=None so we issue BEGIN ourselves.
            db = sqlite3.connect(self.path, timeout=self._timeout_s, isolation_level=None, check_same_thread=False)
            self._local.db = db
            with self._all_lock:
                self._all.append(db)
        return db

    def _tx(self, immediate=False):
        return _Transaction(self._db(), immediate)

    def _sweep(self, db):
        now = time.time()
        db.execute(
            "DELETE FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE expires_at <= ?)",
            (now,),
        )
        db.execute("DELETE FROM conversations WHERE expires_at <= ?", (now,))

    def _load(self, cid):
        try:
            with self._tx() as db:
                row = db.execute(
                    "SELECT system, version, expires_at FROM conversations WHERE id = ?", (cid,)
                ).fetchone()
                if row is None or (row[2] is not None and row[2] <= time.time()):
                    return Conversation(cid)
                data = db.execute("SELECT data FROM messages WHERE conversation_id = ? ORDER BY seq", (cid,)).fetchall()
        except sqlite3.Error as e:
            raise self._unavailable(e) from e
        return Conversation(cid, load_message(row[0]), [load_message(d[0]) for d in data], row[1])

    def _append(self, cid, messages, system, expected_version):
        data = [dump_message(m) for m in messages]
        now = time.time()
        expires_at = now + self.ttl_s if self.ttl_s else None
        try:
            with self._tx(immediate=True) as db:
                row = db.execute("SELECT version, expires_at FROM conversations WHERE id = ?", (cid,)).fetchone()
                if row is not None and row[1] is not None and row[1] <= now:
                    db.execute("DELETE FROM messages WHERE conversation_id = ?", (cid,))
                    db.execute("DELETE FROM conversations WHERE id = ?", (cid,))
                    row = None
                version = row[0] if row else 0
                if expected_version is not None and expected_version != version:
                    raise conflict(cid)
                last = db.execute("SELECT MAX(seq) FROM messages WHERE conversation_id = ?", (cid,)).fetchone()[0]
                last = -1 if last is None else last
                db.executemany(
                    "INSERT INTO messages (conversation_id, seq, data) VALUES (?, ?, ?)",
                    [(cid, last + 1 + i, d) for i, d in enumerate(data)],
                )
                last += len(data)
                if self.max_turns:
                    db.execute(
                        "DELETE FROM messages WHERE conversation_id = ? AND seq <= ?", (cid, last - self.max_turns)
                    )
                if row is None:
                    db.execute(
                        "INSERT INTO conversations (id, system, version, expires_at) VALUES (?, ?, 1, ?)",
                        (cid, dump_message(system), expires_at),
                    )
                else:
                    db.execute(
                        "UPDATE conversations SET version = ?, expires_at = ?, system = COALESCE(?, system) WHERE id = ?",
                        (version + 1, expires_at, None if system is None else dump_message(system), cid),
                    )
                self._appends += 1
                if self._appends % _SWEEP_EVERY == 0:
                    self._sweep(db)
                return version + 1
        except sqlite3.Error as e:
            raise self._unavailable(e) from e

    def _delete(self, cid):
        try:
            with self._tx(immediate=True) as db:
                db.execute("DELETE FROM messages WHERE conversation_id = ?", (cid,))
                db.execute("DELETE FROM conversations WHERE id = ?", (cid,))
        except sqlite3.Error as e:
            raise self._unavailable(e) from e

    def _unavailable(self, e) -> FishError:
        return FishError(503, "conversation_id", f"conversation store {self.url} unavailable: {e}")

    def close(self):
        with self._all_lock:
            for db in self._all:
                db.close()
            self._all.clear()
        self._local = threading.local()


class _Transaction:
    """BEGIN on enter; COMMIT on clean exit, ROLLBACK on any exception (FishError included)."""

    def __init__(self, db, immediate):
        self.db, self.immediate = db, immediate

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE" if self.immediate else "BEGIN")
        return self.db

    def __exit__(self, exc_type, *exc):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        return False
