"""Conversation memory for agent mode: one small interface, three backends.

`CONVERSATION_STORE` picks the backend:
  memory                      in-process (default when nothing else applies)
  sqlite:///path/to/file.db   a file; default /runpod-volume/conversations.db when that volume exists
  redis://[:password@]host:port/db   shared by all workers (rediss:// for TLS)
`CONVERSATION_TTL` (seconds after the last turn, 0 = keep forever) and `CONVERSATION_MAX_TURNS`
(messages kept per conversation, 0 = no cap) apply to every backend.
"""

from __future__ import annotations

from fish_speech.errors import FishError
from fish_speech.store.base import DEFAULT_MAX_TURNS, DEFAULT_TTL_S, ConversationStore
from fish_speech.store.conversation import (
    Conversation,
    Message,
    TextPart,
    VQPart,
    validate_conversation_id,
)

__all__ = [
    "Conversation",
    "ConversationStore",
    "Message",
    "TextPart",
    "VQPart",
    "open_store",
    "store_from_settings",
    "validate_conversation_id",
]


def open_store(url: str, ttl_s: float = DEFAULT_TTL_S, max_turns: int = DEFAULT_MAX_TURNS) -> ConversationStore:
    url = url.strip()
    if url == "memory":
        from fish_speech.store.memory_store import MemoryStore

        return MemoryStore(ttl_s, max_turns)
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :]
        if not path:
            raise FishError(500, "CONVERSATION_STORE", "sqlite store needs a path: sqlite:///path/to/file.db")
        from fish_speech.store.sqlite_store import SQLiteStore

        return SQLiteStore(path, ttl_s, max_turns)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from fish_speech.store.redis_store import RedisStore

        return RedisStore(url, ttl_s, max_turns)
    raise FishError(500, "CONVERSATION_STORE", "expected 'memory', 'sqlite:///path' or 'redis://host:port/db'")


def store_from_settings(settings) -> ConversationStore:
    """The store named by CONVERSATION_STORE (see `fish_speech.settings`)."""
    return open_store(settings.default_store_url(), settings.conversation_ttl, settings.conversation_max_turns)
