"""The conversation store interface shared by the memory, SQLite and Redis backends.

Concurrency rule: `append` is one atomic step on the backend, so two jobs on the same
conversation that finish at the same time both keep their turns (appended in finishing order).
Callers that would rather detect the race pass `expected_version` and get a 409 when another
append landed since their `load`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from fish_speech.errors import FishError
from fish_speech.settings import Settings
from fish_speech.store.conversation import Conversation, Message, validate_conversation_id

DEFAULT_TTL_S = Settings.conversation_ttl
DEFAULT_MAX_TURNS = Settings.conversation_max_turns  # messages kept (a user or an assistant message each)


def conflict(cid: str) -> FishError:
    return FishError(409, "conversation_id", f"conversation {cid!r} changed while this job ran; retry")


class ConversationStore(ABC):
    """ttl_s: seconds a conversation lives after its last append (0 = forever).
    max_turns: how many messages are kept; older ones are dropped on append (0 = no cap)."""

    url = "memory"

    def __init__(self, ttl_s: float = DEFAULT_TTL_S, max_turns: int = DEFAULT_MAX_TURNS):
        if ttl_s < 0 or max_turns < 0:
            raise ValueError("ttl_s and max_turns must be >= 0")
        self.ttl_s = float(ttl_s)
        self.max_turns = int(max_turns)

    def load(self, cid: str) -> Conversation:
        """The conversation, or an empty one (version 0) if unknown or expired."""
        return self._load(validate_conversation_id(cid))

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
        pass

    @abstractmethod
    def _load(self, cid: str) -> Conversation: ...

    @abstractmethod
    def _append(self, cid, messages, system, expected_version) -> int: ...

    @abstractmethod
    def _delete(self, cid: str) -> None: ...

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
