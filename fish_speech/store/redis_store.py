"""Redis store: shared by every worker of an endpoint (RunPod sends the successive jobs of one
conversation to whichever worker is free).

Layout per conversation (the `{id}` hash tag keeps both keys on one Redis Cluster slot):
  fishconv:{id}:m  list of messages (compact JSON, see conversation.py)
  fishconv:{id}:h  hash: version, system
Append is one Lua script, so it is atomic: concurrent appends are serialised by Redis and the
version check (when asked for) cannot race. The connection is lazy: the worker starts and
serves requests without a conversation_id while Redis is down; jobs that need it get a 503.
A value that does not decode (or a key of the wrong type) is renamed to `fishconv:corrupt:...`.
"""

from __future__ import annotations

import time

from fish_speech.errors import FishError
from fish_speech.store.base import (
    DEFAULT_MAX_TURNS,
    DEFAULT_TIMEOUT_S,
    DEFAULT_TTL_S,
    ConversationStore,
    CorruptRecord,
    conflict,
    decode_conversation,
)
from fish_speech.store.conversation import Conversation, dump_message

_APPEND = """
local version = tonumber(redis.call('HGET', KEYS[2], 'version') or '0')
if ARGV[1] ~= '' and tonumber(ARGV[1]) ~= version then return -1 end
for i = 6, #ARGV do redis.call('RPUSH', KEYS[1], ARGV[i]) end
local cap = tonumber(ARGV[3])
if cap > 0 then redis.call('LTRIM', KEYS[1], -cap, -1) end
if ARGV[4] == '1' then redis.call('HSET', KEYS[2], 'system', ARGV[5]) end
version = version + 1
redis.call('HSET', KEYS[2], 'version', version)
local ttl = tonumber(ARGV[2])
for _, key in ipairs(KEYS) do
  if ttl > 0 then redis.call('PEXPIRE', key, ttl) else redis.call('PERSIST', key) end
end
return version
"""
PREFIX = "fishconv:"


class RedisStore(ConversationStore):
    def __init__(self, url: str, ttl_s=DEFAULT_TTL_S, max_turns=DEFAULT_MAX_TURNS, timeout_s=DEFAULT_TIMEOUT_S):
        super().__init__(ttl_s, max_turns, timeout_s)
        try:
            import redis
        except ImportError as e:
            raise FishError(500, None, "CONVERSATION_STORE=redis://... needs the 'redis' package") from e
        self._errors = redis.exceptions.RedisError
        self._wrong_type = redis.exceptions.ResponseError
        # Fail fast instead of hanging a job: short timeouts, no silent retry loop. Query
        # parameters in the URL (socket_timeout=..., password via redis://:pw@host) still apply.
        self._client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s, retry=None)
        self._script = self._client.register_script(_APPEND)
        kw = self._client.connection_pool.connection_kwargs
        # Never echo a password back in messages or logs.
        self.url = f"redis://{kw.get('host', '?')}:{kw.get('port', '?')}/{kw.get('db', 0)}"

    @staticmethod
    def _keys(cid):
        return f"{PREFIX}{{{cid}}}:m", f"{PREFIX}{{{cid}}}:h"

    def _call(self, fn):
        try:
            return fn()
        except self._errors as e:
            raise self.unavailable(e) from e

    def _load(self, cid):
        mkey, hkey = self._keys(cid)

        def read():
            pipe = self._client.pipeline(transaction=True)  # MULTI/EXEC: one consistent snapshot
            pipe.lrange(mkey, 0, -1)
            pipe.hgetall(hkey)
            return pipe.execute()

        try:
            raw, meta = read()
        except self._wrong_type as e:
            if "WRONGTYPE" not in str(e):
                raise self.unavailable(e) from e
            raise CorruptRecord(str(e)) from e
        except self._errors as e:
            raise self.unavailable(e) from e
        version = meta.get(b"version", b"0")
        if not version.isdigit():
            raise CorruptRecord(f"version {version!r}")
        if not int(version):
            return Conversation(cid)
        return decode_conversation(cid, meta.get(b"system"), raw, version)

    def _append(self, cid, messages, system, expected_version):
        args = [
            "" if expected_version is None else str(expected_version),
            str(int(self.ttl_s * 1000)),
            str(self.max_turns),
            "0" if system is None else "1",
            dump_message(system),
            *[dump_message(m) for m in messages],
        ]
        version = self._call(lambda: self._script(keys=list(self._keys(cid)), args=args))
        if version == -1:
            raise conflict(cid)
        return int(version)

    def _delete(self, cid):
        self._call(lambda: self._client.delete(*self._keys(cid)))

    def _quarantine(self, cid):
        stamp = time.strftime("%Y%m%dT%H%M%S")
        moved = []
        for key, suffix in zip(self._keys(cid), ("m", "h")):
            target = f"{PREFIX}corrupt:{stamp}:{{{cid}}}:{suffix}"  # same hash tag: same cluster slot
            if self._call(lambda k=key, t=target: self._client.exists(k)):
                self._call(lambda k=key, t=target: self._client.rename(k, t))
                moved.append(target)
        return ", ".join(moved) or "(nothing left)"

    def ping(self) -> bool:
        self._call(self._client.ping)
        return True

    def close(self):
        self._client.close()
