"""SQLite store: one file, survives worker restarts (put it on the RunPod network volume).

Appends run inside `BEGIN IMMEDIATE`, which takes SQLite's write lock before reading the
version, so concurrent appends from threads or processes are serialised and none is lost.
The default rollback journal is kept (not WAL): WAL needs shared memory, which network
filesystems such as RunPod volumes do not provide. A lock held elsewhere is waited for at most
`timeout_s` (STORE_TIMEOUT_S), then the call fails 503.

Faults stay local: a damaged file (broken header, truncated) is first reopened and, if it is still
damaged, renamed aside to `<file>.corrupt-<time>` and started afresh, logged at ERROR; an existing
0-byte file (a store whose history was wiped) is logged at ERROR too. Every call first checks that
the path still names the file it has open, so workers sharing the file follow it when one of them
sets it aside (or it is replaced or deleted). One undecodable row is set aside under a `~corrupt:`
id (see `ConversationStore.load`).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time

from fish_speech.store.base import (
    DEFAULT_MAX_TURNS,
    DEFAULT_TIMEOUT_S,
    DEFAULT_TTL_S,
    ConversationStore,
    conflict,
    decode_conversation,
)
from fish_speech.store.conversation import Conversation, dump_message

log = logging.getLogger("fish_speech.store")

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
_DAMAGED = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


def _damaged(e: sqlite3.Error) -> bool:
    """The file itself is broken (or was replaced under us), as opposed to locked or unreachable."""
    name = getattr(e, "sqlite_errorname", "") or ""
    text = str(e).lower()
    return (
        name.startswith(_DAMAGED)
        or "malformed" in text
        or "not a database" in text
        or ("no such table" in text and isinstance(e, sqlite3.OperationalError))
    )


class SQLiteStore(ConversationStore):
    def __init__(self, path: str, ttl_s=DEFAULT_TTL_S, max_turns=DEFAULT_MAX_TURNS, timeout_s=DEFAULT_TIMEOUT_S):
        super().__init__(ttl_s, max_turns, timeout_s)
        self.path = os.fspath(path)
        self.url = "sqlite://" + self.path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._recover_lock = threading.Lock()
        self._generation = 0  # bumped when the file is reopened: every thread then opens a new connection
        self._appends = 0
        self.quarantined: list[str] = []  # files this store renamed aside
        try:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        except OSError as e:
            raise self.unavailable(e) from e
        self._warn_if_empty()
        self._known = None  # (device, inode) of the file our connections have open
        self._guarded(self._create)

    # ---- connections and recovery -----------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is not None and self._local.generation != self._generation:
            db.close()  # each thread closes its own old connection (never one another thread is using)
            with self._all_lock:
                if db in self._all:
                    self._all.remove(db)
            db = None
        if db is None:
            # One connection per thread; isolation_level=None so we issue BEGIN ourselves.
            db = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None, check_same_thread=False)
            self._local.db, self._local.generation = db, self._generation
            with self._all_lock:
                self._all.append(db)
        return db

    def _tx(self, immediate=False):
        return _Transaction(self._db(), immediate)

    def _create(self):
        with self._tx(immediate=True) as db:
            # executescript would COMMIT our transaction first; run the statements one by one.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            self._sweep(db)
        self._known = self._file_id()

    def _file_id(self):
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def _guarded(self, op):
        """op(); a damaged file is recovered once and op retried; other SQLite errors are a 503."""
        generation = self._generation
        if self._known is not None and self._file_id() != self._known:
            try:
                self._reopen(generation)
            except (sqlite3.Error, OSError) as e:
                raise self.unavailable(e) from e
            generation = self._generation
        try:
            return op()
        except sqlite3.Error as e:
            if not _damaged(e):
                raise self.unavailable(e) from e
            damage = e
        try:
            self._recover(generation, damage)
            return op()
        except (sqlite3.Error, OSError) as e:
            raise self.unavailable(e) from e

    def _warn_if_empty(self):
        try:
            empty = os.path.isfile(self.path) and os.path.getsize(self.path) == 0
        except OSError:
            return
        if empty:
            log.error(
                "conversation store %s is an empty (0-byte) file: any conversation history it held is lost; "
                "starting a new store in it",
                self.path,
            )

    def _reopen(self, generation: int):
        """The path names another file than the one we have open (replaced, deleted, set aside by
        another worker): reopen it, loudly when the history is gone."""
        with self._recover_lock:
            if self._generation != generation:
                return  # another thread reopened already
            self._generation += 1
            if self._file_id() is None:
                log.error(
                    "conversation store %s disappeared: the conversation history it held is lost; starting a new one",
                    self.path,
                )
            elif os.path.getsize(self.path) == 0:
                self._warn_if_empty()
            else:
                log.warning("conversation store %s was replaced by another file: reopened it", self.path)
            self._create()

    def _recover(self, generation: int, error: sqlite3.Error):
        with self._recover_lock:
            if self._generation != generation:
                return  # another thread recovered already
            self._generation += 1
            self._warn_if_empty()
            if self._healthy():
                log.warning("conversation store %s: reopened after %s", self.path, error)
            else:
                # unique per process and event: two recoveries never overwrite each other's evidence
                aside = f"{self.path}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{len(self.quarantined)}"
                for suffix in ("", "-journal"):
                    if os.path.exists(self.path + suffix):
                        os.replace(self.path + suffix, aside + suffix)
                self.quarantined.append(aside)
                log.error(
                    "conversation store %s is damaged (%s): moved aside to %s and started afresh; "
                    "the conversation history it held is lost",
                    self.path,
                    error,
                    aside,
                )
            self._create()

    def _healthy(self) -> bool:
        """A fresh connection reads the whole file without finding damage."""
        try:
            with sqlite3.connect(self.path, timeout=self.timeout_s) as db:
                return db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        except sqlite3.Error as e:
            return not _damaged(e)

    def _close_all(self):
        with self._all_lock:
            for db in self._all:
                try:
                    db.close()
                except sqlite3.Error:
                    pass
            self._all.clear()

    # ---- the store --------------------------------------------------------------------------
    def _sweep(self, db):
        now = time.time()
        db.execute(
            "DELETE FROM messages WHERE conversation_id IN (SELECT id FROM conversations WHERE expires_at <= ?)",
            (now,),
        )
        db.execute("DELETE FROM conversations WHERE expires_at <= ?", (now,))

    def _load(self, cid):
        def read():
            with self._tx() as db:
                row = db.execute(
                    "SELECT system, version, expires_at FROM conversations WHERE id = ?", (cid,)
                ).fetchone()
                if row is None or (row[2] is not None and row[2] <= time.time()):
                    return None, []
                data = db.execute("SELECT data FROM messages WHERE conversation_id = ? ORDER BY seq", (cid,)).fetchall()
                return row, [d[0] for d in data]

        row, data = self._guarded(read)
        if row is None:
            return Conversation(cid)
        return decode_conversation(cid, row[0], data, row[1])

    def _append(self, cid, messages, system, expected_version):
        data = [dump_message(m) for m in messages]
        return self._guarded(lambda: self._write(cid, data, system, expected_version))

    def _write(self, cid, data, system, expected_version):
        now = time.time()
        expires_at = now + self.ttl_s if self.ttl_s else None
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
                db.execute("DELETE FROM messages WHERE conversation_id = ? AND seq <= ?", (cid, last - self.max_turns))
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

    def _delete(self, cid):
        def delete():
            with self._tx(immediate=True) as db:
                db.execute("DELETE FROM messages WHERE conversation_id = ?", (cid,))
                db.execute("DELETE FROM conversations WHERE id = ?", (cid,))

        self._guarded(delete)

    def _quarantine(self, cid):
        aside = f"~corrupt:{time.strftime('%Y%m%dT%H%M%S')}:{cid}"  # '~': no request can name it

        def move():
            with self._tx(immediate=True) as db:
                db.execute("UPDATE messages SET conversation_id = ? WHERE conversation_id = ?", (aside, cid))
                db.execute("UPDATE conversations SET id = ? WHERE id = ?", (aside, cid))

        self._guarded(move)
        return aside

    def close(self):
        self._close_all()
        self._local = threading.local()
        super().close()


class _Transaction:
    """BEGIN on enter; COMMIT on clean exit, ROLLBACK on any exception (FishError included)."""

    def __init__(self, db, immediate):
        self.db, self.immediate = db, immediate

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE" if self.immediate else "BEGIN")
        return self.db

    def __exit__(self, exc_type, *exc):
        if exc_type is None:
            self.db.execute("COMMIT")
            return False
        try:
            self.db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the error that got us here is the one to report (a damaged file fails ROLLBACK too)
        return False
