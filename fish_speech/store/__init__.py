"""Conversation memory for agent mode: one small interface, three backends.

`CONVERSATION_STORE` picks the backend:
  memory                      in-process (default when nothing else applies)
  sqlite:///path/to/file.db   a file; default /runpod-volume/conversations.db when that volume exists
  redis://[:password@]host:port/db   shared by all workers (rediss:// for TLS)
`CONVERSATION_TTL` (seconds after the last turn, 0 = keep forever), `CONVERSATION_MAX_TURNS`
(messages kept per conversation, 0 = no cap) and `STORE_TIMEOUT_S` (longest store call) apply to every
backend; `CONVERSATION_MEMORY_ITEMS` and `CONVERSATION_MEMORY_BYTES` cap the memory store.
"""

from __future__ import annotations

from fish_speech.errors import FishError
from fish_speech.store.base import DEFAULT_MAX_TURNS, DEFAULT_TIMEOUT_S, DEFAULT_TTL_S, ConversationStore
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


def open_store(
    url: str,
    ttl_s: float = DEFAULT_TTL_S,
    max_turns: int = DEFAULT_MAX_TURNS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    **memory_caps,
) -> ConversationStore:
    """memory_caps: max_items, max_bytes of the memory store (ignored by the others)."""
    url = url.strip()
    if url == "memory":
        from fish_speech.store.memory_store import MemoryStore

        return MemoryStore(ttl_s, max_turns, timeout_s=timeout_s, **memory_caps)
    if url.startswith("sqlite://"):
        path = url[len("sqlite://") :]
        if not path:
            raise FishError(500, "CONVERSATION_STORE", "sqlite store needs a path: sqlite:///path/to/file.db")
        from fish_speech.store.sqlite_store import SQLiteStore

        return SQLiteStore(path, ttl_s, max_turns, timeout_s)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from fish_speech.store.redis_store import RedisStore

        return RedisStore(url, ttl_s, max_turns, timeout_s)
    raise FishError(500, "CONVERSATION_STORE", "expected 'memory', 'sqlite:///path' or 'redis://host:port/db'")


def store_from_settings(settings) -> ConversationStore:
    """The store named by CONVERSATION_STORE (see `fish_speech.settings`)."""
    return open_store(
        settings.default_store_url(),
        settings.conversation_ttl,
        settings.conversation_max_turns,
        settings.store_timeout_s,
        max_items=settings.conversation_memory_items,
        max_bytes=settings.conversation_memory_bytes,
    )
