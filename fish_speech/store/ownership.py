"""Who may use a stored conversation: whoever holds its token.

A conversation id alone is not enough (ids are often guessable: `ada-1`, `c1`). The first turn on a
new id returns `conversation_token` = HMAC-SHA256(store secret, id); every later turn must send it
back. A turn on an existing conversation without the right token is refused (403) before anything
of the conversation is read or written. The secret is CONVERSATION_SECRET when set (the same on
every worker), else one generated per store: kept in memory for the memory store, and inside the
store itself (one record under a name no request can spell) for SQLite and Redis, so every worker
sharing the store agrees on it and tokens survive restarts.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time

from fish_speech.errors import FishError
from fish_speech.store.base import ConversationStore, CorruptRecord
from fish_speech.store.conversation import Message, TextPart

SECRET_ID = "~conversation-secret"  # '~' fails validate_conversation_id: no request can name it
TOUCH_EVERY_S = 3600.0  # keep the stored secret alive under the store's TTL
log = logging.getLogger("fish_speech.store")


class Ownership:
    def __init__(self, store: ConversationStore, secret: str | None = None):
        self.store = store
        self._secret = secret.encode() if secret else None
        self._stored = not secret and store.url != "memory"
        if self._secret is None and not self._stored:
            self._secret = secrets.token_bytes(32)
        self._touched = 0.0

    def _load_secret(self) -> bytes:
        now = time.monotonic()
        if self._secret is not None and (not self._stored or now - self._touched < TOUCH_EVERY_S):
            return self._secret
        try:
            conv = self.store._load(SECRET_ID)
        except CorruptRecord as e:  # a new secret: existing tokens stop matching, conversations stay
            log.error("the conversation-token secret in %s is corrupt (%s): replacing it", self.store.url, e)
            self.store._quarantine(SECRET_ID)
            conv = self.store._load(SECRET_ID)
        if conv.system is None or not conv.system.text:
            fresh = Message("system", [TextPart(secrets.token_hex(32))])
            try:
                self.store._append(SECRET_ID, [], fresh, 0)
            except FishError as err:  # another worker created it first: use theirs
                if err.code != 409:
                    raise
            conv = self.store._load(SECRET_ID)
        else:
            self.store._append(SECRET_ID, [], None, None)  # refresh its TTL
        self._secret, self._touched = conv.system.text.encode(), now
        return self._secret

    def token(self, cid: str) -> str:
        return hmac.new(self._load_secret(), cid.encode(), hashlib.sha256).hexdigest()[:43]

    def check(self, cid: str, token: str | None) -> str:
        """The conversation's token; a 403 when it exists and `token` is not its token."""
        expected = self.token(cid)
        if token is not None and hmac.compare_digest(token.encode(), expected.encode()):
            return expected
        if self.store.load(cid).version == 0:
            return expected  # a new conversation: the caller becomes its owner
        what = "missing" if token is None else "wrong"
        raise FishError(
            403,
            "conversation_token",
            f"{what} conversation_token for conversation {cid!r}: send the token its first turn returned",
        )
