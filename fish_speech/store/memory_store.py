"""In-process store: the default for local runs. Lost on restart and not shared between
workers, so RunPod endpoints with more than one worker want SQLite on a volume or Redis."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from fish_speech.store.base import DEFAULT_MAX_TURNS, DEFAULT_TTL_S, ConversationStore, conflict
from fish_speech.store.conversation import Conversation, dump_message, load_message


@dataclass
class _Entry:
    system: bytes = b""
    messages: list[bytes] = field(default_factory=list)
    version: int = 0
    expires_at: float = float("inf")


class MemoryStore(ConversationStore):
    url = "memory"

    def __init__(self, ttl_s=DEFAULT_TTL_S, max_turns=DEFAULT_MAX_TURNS, clock=time.monotonic):
        super().__init__(ttl_s, max_turns)
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._appends = 0

    def _live(self, cid: str) -> _Entry | None:
        entry = self._entries.get(cid)
        if entry is not None and entry.expires_at <= self._clock():
            del self._entries[cid]
            entry = None
        return entry

    def _load(self, cid):
        with self._lock:
            entry = self._live(cid)
            if entry is None:
                return Conversation(cid)
            # Stored as bytes, so callers never share mutable state with the store.
            messages = [load_message(m) for m in entry.messages]
            return Conversation(cid, load_message(entry.system), messages, entry.version)

    def _append(self, cid, messages, system, expected_version):
        data = [dump_message(m) for m in messages]
        with self._lock:
            entry = self._live(cid) or _Entry()
            if expected_version is not None and expected_version != entry.version:
                raise conflict(cid)
            entry.messages.extend(data)
            if self.max_turns:
                del entry.messages[: -self.max_turns]
            if system is not None:
                entry.system = dump_message(system)
            entry.version += 1
            entry.expires_at = self._clock() + self.ttl_s if self.ttl_s else float("inf")
            self._entries[cid] = entry
            # Opportunistic sweep so abandoned conversations do not pile up forever.
            self._appends += 1
            if self._appends % 64 == 0:
                for other in list(self._entries):
                    self._live(other)
            return entry.version

    def _delete(self, cid):
        with self._lock:
            self._entries.pop(cid, None)
