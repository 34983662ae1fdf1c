"""The conversation store interface shared by the memory, SQLite and Redis backends.

Concurrency rule: `append` is one atomic step on the backend, so two jobs on the same
conversation that finish at the same time both keep their turns (appended in finishing order).
Callers that would rather detect the race pass `expected_version` and get a 409 when another
append landed since their `load`.

Jobs call the store through `run` (its own threads, bounded by `timeout_s`), never from the model
thread: a store that hangs or is locked by another process delays only the jobs of conversations,
by at most `timeout_s`, and they fail 503 naming the store. A stored record that cannot be decoded
is set aside on first read (409 naming the conversation); the next turn starts that conversation over.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor

from fish_speech.errors import FishError
from fish_speech.settings import Settings
from fish_speech.store.conversation import Conversation, Message, load_message, validate_conversation_id

DEFAULT_TTL_S = Settings.conversation_ttl
DEFAULT_MAX_TURNS = Settings.conversation_max_turns  # messages kept (a user or an assistant message each)
DEFAULT_TIMEOUT_S = Settings.store_timeout_s
IO_THREADS = 4  # store calls in flight at once per store; more wait (within their timeout) for a thread

log = logging.getLogger("fish_speech.store")


def conflict(cid: str) -> FishError:
    return FishError(409, "conversation_id", f"conversation {cid!r} changed while this job ran; retry")


class CorruptRecord(Exception):
    """A stored conversation that cannot be decoded (bad JSON, bad codes, a wrong Redis type)."""


def decode_conversation(cid: str, system, messages, version) -> Conversation:
    """A conversation from its stored pieces; CorruptRecord when any piece does not decode."""
    try:
        return Conversation(cid, load_message(system), [load_message(m) for m in messages], int(version))
    except (ValueError, TypeError, KeyError, AttributeError, FishError) as e:
        raise CorruptRecord(f"{type(e).__name__}: {e}") from e


class ConversationStore(ABC):
    """ttl_s: seconds a conversation lives after its last append (0 = forever).
    max_turns: how many messages are kept; older ones are dropped on append (0 = no cap).
    timeout_s: the longest one store call may take (see `run`)."""

    url = "memory"

    def __init__(self, ttl_s: float = DEFAULT_TTL_S, max_turns: int = DEFAULT_MAX_TURNS, timeout_s=DEFAULT_TIMEOUT_S):
        if ttl_s < 0 or max_turns < 0 or timeout_s <= 0:
            raise ValueError("ttl_s and max_turns must be >= 0, timeout_s > 0")
        self.ttl_s = float(ttl_s)
        self.max_turns = int(max_turns)
        self.timeout_s = float(timeout_s)
        self._pool: ThreadPoolExecutor | None = None

    async def run(self, fn, *args, **kwargs):
        """`fn(*args, **kwargs)` (a call on this store) on the store's own threads; a 503 naming the
        store when it takes longer than timeout_s (backends also give up on their own by then)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="conversation-store")
        future = asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        try:
            return await asyncio.wait_for(future, self.timeout_s + 0.5)
        except TimeoutError:
            raise self.unavailable(f"no answer within {self.timeout_s:g} s (STORE_TIMEOUT_S)") from None

    def unavailable(self, reason) -> FishError:
        return FishError(503, "conversation_id", f"conversation store {self.url} unavailable: {reason}")

    def load(self, cid: str) -> Conversation:
        """The conversation, or an empty one (version 0) if unknown or expired. A record that does
        not decode is moved aside (logged at ERROR) and the job gets a 409 naming the conversation."""
        cid = validate_conversation_id(cid)
        try:
            return self._load(cid)
        except CorruptRecord as e:
            where = self._quarantine(cid)
            log.error(
                "conversation %r in %s is corrupt (%s): set aside as %r; its history is lost", cid, self.url, e, where
            )
            raise FishError(
                409,
                "conversation_id",
                f"conversation {cid!r} was unreadable in the conversation store and has been reset (its history "
                "is lost); send the turn again to start it over",
            ) from None

    def append(
        self,
        cid: str,
        messages: list[Message],
        system: Message | None = None,
        expected_version: int | None = None,
    ) -> int:
        """Append messages (and replace the system message when one is given); returns the new
        version. Refreshes the TTL."""
        return self._append(validate_conversation_id(cid), list(messages), system, expected_version)

    def delete(self, cid: str) -> None:
        self._delete(validate_conversation_id(cid))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    @abstractmethod
    def _load(self, cid: str) -> Conversation:
        """Raises CorruptRecord (via decode_conversation) when the stored record does not decode."""

    @abstractmethod
    def _append(self, cid, messages, system, expected_version) -> int: ...

    @abstractmethod
    def _delete(self, cid: str) -> None: ...

    def _quarantine(self, cid: str) -> str:
        """Move a corrupt record out of the conversation's way; returns where it went."""
        self._delete(cid)
        return "(deleted)"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
