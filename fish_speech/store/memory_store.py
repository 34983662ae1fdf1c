"""In-process store: the default for local runs. Lost on restart and not shared between
workers, so RunPod endpoints with more than one worker want SQLite on a volume or Redis.

Bounded: at most `max_items` conversations and `max_bytes` of stored messages
(CONVERSATION_MEMORY_ITEMS, CONVERSATION_MEMORY_BYTES); the least recently used go first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from fish_speech.settings import Settings
from fish_speech.store.base import (
    DEFAULT_MAX_TURNS,
    DEFAULT_TIMEOUT_S,
    DEFAULT_TTL_S,
    ConversationStore,
    conflict,
    decode_conversation,
)
from fish_speech.store.conversation import Conversation, dump_message


@dataclass
class _Entry:
    system: bytes = b""
    messages: list[bytes] = field(default_factory=list)
    version: int = 0
    expires_at: float = float("inf")

    @property
    def size(self) -> int:
        return len(self.system) + sum(len(m) for m in self.messages)


class MemoryStore(ConversationStore):
    url = "memory"

    def __init__(
        self,
        ttl_s=DEFAULT_TTL_S,
        max_turns=DEFAULT_MAX_TURNS,
        clock=time.monotonic,
        timeout_s=DEFAULT_TIMEOUT_S,
        max_items: int = Settings.conversation_memory_items,
        max_bytes: int = Settings.conversation_memory_bytes,
    ):
        super().__init__(ttl_s, max_turns, timeout_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Entry] = OrderedDict()  # least recently used first
        self._sizes: dict[str, int] = {}
        self.max_items, self.max_bytes = int(max_items), int(max_bytes)
        self.held_bytes = 0
        self._appends = 0

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, cid: str) -> None:
        if self._entries.pop(cid, None) is not None:
            self.held_bytes -= self._sizes.pop(cid)

    def _live(self, cid: str) -> _Entry | None:
        entry = self._entries.get(cid)
        if entry is not None and entry.expires_at <= self._clock():
            self._drop(cid)
            entry = None
        return entry

    def _load(self, cid):
        with self._lock:
            entry = self._live(cid)
            if entry is None:
                return Conversation(cid)
            self._entries.move_to_end(cid)
            system, messages, version = entry.system, list(entry.messages), entry.version
        # Stored as bytes, so callers never share mutable state with the store.
        return decode_conversation(cid, system, messages, version)

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
            if self.max_bytes:  # one conversation alone over the cap keeps its newest messages
                while entry.messages and entry.size > self.max_bytes:
                    del entry.messages[0]
            entry.version += 1
            entry.expires_at = self._clock() + self.ttl_s if self.ttl_s else float("inf")
            self._drop(cid)
            self._entries[cid], self._sizes[cid] = entry, entry.size
            self.held_bytes += entry.size
            self._evict()
            # Opportunistic sweep so abandoned conversations do not pile up forever.
            self._appends += 1
            if self._appends % 64 == 0:
                for other in list(self._entries):
                    self._live(other)
            return entry.version

    def _evict(self) -> None:
        """Least recently used first, until both caps hold (the newest conversation always stays)."""
        while len(self._entries) > 1 and (
            (self.max_items and len(self._entries) > self.max_items)
            or (self.max_bytes and self.held_bytes > self.max_bytes)
        ):
            self._drop(next(iter(self._entries)))

    def _delete(self, cid):
        with self._lock:
            self._drop(cid)
