"""Issue 12, items 7 and 11: a locked or damaged conversation store only touches its own conversations.

Real stores: an SQLite file locked by a second connection or corrupted by the test, and a real
Redis server holding a bad value. Jobs go through the RunPod handler, as a worker runs them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time

import pytest
from test_agent_handler import PLAN, error_of, handler_module  # noqa: F401 - the module fixture

from fish_speech.service.runtime import Runtime
from fish_speech.settings import Limits, Settings
from fish_speech.store import Message, TextPart, open_store

TIMEOUT_S = 2.0


@pytest.fixture()
def make_worker(handler_module, tiny_engine, agent_engine, script, monkeypatch):  # noqa: F811
    from fish_speech.service.agent import AgentService

    def make(store):
        agent_engine.store = store
        agent_engine.steer = script(PLAN)
        w = Runtime(Settings(mode="agent"), engine=tiny_engine, agent=AgentService(agent_engine, Limits()))
        monkeypatch.setattr(handler_module, "WORKER", w)
        return w

    return make


async def timed(handler_module, job_input):  # noqa: F811
    start = time.perf_counter()
    chunks = await handler_module.collect({"id": "job", "input": job_input})
    return chunks, time.perf_counter() - start


def run(handler_module, job_input):  # noqa: F811
    return asyncio.run(handler_module.collect({"id": "job", "input": job_input}))


TTS = {"message": "Speak.", "tts": True, "max_new_tokens": 4}
STATELESS = {"message": "no memory", "streaming": False}


def test_a_locked_sqlite_store_delays_only_its_own_conversations(handler_module, make_worker, tmp_path):  # noqa: F811
    path = tmp_path / "conv.db"
    make_worker(open_store(f"sqlite://{path}", timeout_s=TIMEOUT_S))
    first = run(handler_module, {"message": "hi", "conversation_id": "locked-1"})[-1]
    token = first["conversation_token"]
    # warm: one tts and one stateless job alone, for their normal duration
    alone = asyncio.run(timed(handler_module, TTS))[1] + asyncio.run(timed(handler_module, STATELESS))[1]

    other = sqlite3.connect(path, isolation_level=None)  # another process's connection, as on a shared volume
    other.execute("BEGIN EXCLUSIVE")
    try:

        async def together():
            conv = asyncio.create_task(
                timed(handler_module, {"message": "again", "conversation_id": "locked-1", "conversation_token": token})
            )
            await asyncio.sleep(0.05)  # the conversation's job is first in line
            return await asyncio.gather(conv, timed(handler_module, TTS), timed(handler_module, STATELESS))

        (conv, conv_s), (tts, tts_s), (stateless, stateless_s) = asyncio.run(together())
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert tts[-1]["type"] == "done" and stateless[-1]["type"] == "done"
    assert max(tts_s, stateless_s) < alone + TIMEOUT_S / 2, (tts_s, stateless_s, alone)  # not behind the lock
    err = error_of(conv)
    assert (err["code"], err["field"]) == (503, "conversation_id") and str(path) in err["message"], err
    assert TIMEOUT_S * 0.8 < conv_s < TIMEOUT_S * 3 + 2, conv_s  # waited about the timeout, no longer
    # the lock is gone: the conversation carries on, nothing of the failed turn was stored
    done = run(handler_module, {"message": "third", "conversation_id": "locked-1", "conversation_token": token})[-1]
    assert done["type"] == "done" and [h["content"] for h in done["history"][1::2]] == ["hi", "third"]


def _with_history(url, cid="keep-1"):
    store = open_store(url)
    for i in range(30):
        store.append(cid, [Message("user", [TextPart(f"turn {i} " * 50)])])
    return store


@pytest.mark.parametrize("damage", ["truncated", "header"])
def test_a_damaged_sqlite_file_is_set_aside_and_jobs_go_on(
    handler_module,  # noqa: F811
    make_worker,
    tmp_path,
    caplog,
    damage,  # noqa: F811
):
    path = tmp_path / "conv.db"
    _with_history(f"sqlite://{path}").close()
    size = path.stat().st_size
    if damage == "truncated":
        os.truncate(path, size // 2)
    else:
        with open(path, "r+b") as f:
            f.write(b"this is no sqlite header")
    caplog.set_level(logging.ERROR, "fish_speech.store")
    store = open_store(f"sqlite://{path}")  # the worker (re)starts on the damaged file
    make_worker(store)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(str(path) in m and "history it held is lost" in m for m in errors), errors
    assert len(store.quarantined) == 1 and os.path.getsize(store.quarantined[0]) > 0  # the evidence is kept
    assert run(handler_module, STATELESS)[-1]["type"] == "done"
    assert run(handler_module, TTS)[-1]["type"] == "done"
    done = run(handler_module, {"message": "hi", "conversation_id": "keep-1"})[-1]
    assert done["type"] == "done" and len(done["history"]) == 3  # started over, and said so in the log


def test_a_file_damaged_under_a_running_worker_recovers(handler_module, make_worker, tmp_path, caplog):  # noqa: F811
    path = tmp_path / "conv.db"
    store = _with_history(f"sqlite://{path}")
    make_worker(store)
    os.truncate(path, path.stat().st_size // 2)
    caplog.set_level(logging.ERROR, "fish_speech.store")
    done = run(handler_module, {"message": "hi", "conversation_id": "keep-1"})[-1]
    assert done["type"] == "done", done
    assert store.quarantined and any(str(path) in r.getMessage() for r in caplog.records)
    assert run(handler_module, STATELESS)[-1]["type"] == "done"


def test_an_emptied_store_file_is_logged_loudly(tmp_path, caplog):
    path = tmp_path / "conv.db"
    _with_history(f"sqlite://{path}").close()
    path.write_bytes(b"")  # something replaced the store with an empty file
    caplog.set_level(logging.ERROR, "fish_speech.store")
    store = open_store(f"sqlite://{path}")
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(str(path) in m and "0-byte" in m and "lost" in m for m in errors), errors
    assert store.load("keep-1").version == 0 and store.append("new", [Message("user", [TextPart("x")])]) == 1


def _corrupt_sqlite_row(store, cid):
    db = sqlite3.connect(store.path, isolation_level=None)
    db.execute("UPDATE messages SET data = ? WHERE conversation_id = ? AND seq = 1", (b"{not json", cid))
    db.close()


def _corrupt_redis_value(store, cid):
    store._client.lset(f"fishconv:{{{cid}}}:m", 1, b"\xff\x00 not a message")


def _wrong_redis_type(store, cid):
    store._client.delete(f"fishconv:{{{cid}}}:m")
    store._client.set(f"fishconv:{{{cid}}}:m", b"a string, not a list")


@pytest.mark.parametrize(
    "backend, corrupt",
    [("sqlite", _corrupt_sqlite_row), ("redis", _corrupt_redis_value), ("redis", _wrong_redis_type)],
)
def test_one_corrupt_conversation_is_a_409_naming_it_then_starts_over(
    handler_module,  # noqa: F811
    make_worker,
    tmp_path,
    request,
    caplog,
    backend,
    corrupt,  # noqa: F811
):
    if backend == "redis":
        url = request.getfixturevalue("redis_url")
        open_store(url)._client.flushdb()
    else:
        url = f"sqlite://{tmp_path}/conv.db"
    store = open_store(url)
    make_worker(store)
    tokens = {}
    for cid in ("bad-1", "good-1"):
        tokens[cid] = run(handler_module, {"message": "hi", "conversation_id": cid})[-1]["conversation_token"]
        run(handler_module, {"message": "again", "conversation_id": cid, "conversation_token": tokens[cid]})
    corrupt(store, "bad-1")
    caplog.set_level(logging.ERROR, "fish_speech.store")

    bad = {"message": "more", "conversation_id": "bad-1", "conversation_token": tokens["bad-1"]}
    err = error_of(run(handler_module, bad))
    assert (err["code"], err["field"]) == (409, "conversation_id") and "'bad-1'" in err["message"], err
    assert any("'bad-1'" in r.getMessage() and "lost" in r.getMessage() for r in caplog.records)
    good = {"message": "fine?", "conversation_id": "good-1", "conversation_token": tokens["good-1"]}
    assert len(run(handler_module, good)[-1]["history"]) == 7  # untouched: system + three turns
    assert run(handler_module, STATELESS)[-1]["type"] == "done"
    again = run(handler_module, bad)[-1]  # the record was set aside: the conversation starts over
    assert again["type"] == "done" and len(again["history"]) == 3


def test_a_corrupt_token_secret_is_replaced(tmp_path, caplog):
    from fish_speech.store.ownership import SECRET_ID, Ownership

    store = open_store(f"sqlite://{tmp_path}/conv.db")
    old = Ownership(store).token("ada-1")
    db = sqlite3.connect(store.path, isolation_level=None)
    db.execute("UPDATE conversations SET system = ? WHERE id = ?", (b"{broken", SECRET_ID))
    db.close()
    caplog.set_level(logging.ERROR, "fish_speech.store")
    new = Ownership(open_store(f"sqlite://{tmp_path}/conv.db")).token("ada-1")  # a worker starting now
    assert new != old and any("secret" in r.getMessage() for r in caplog.records)


def test_workers_sharing_a_file_follow_it_when_one_sets_it_aside(tmp_path, caplog):
    path = tmp_path / "conv.db"
    running = _with_history(f"sqlite://{path}")  # a worker that has the file open
    with open(path, "r+b") as f:
        f.write(b"this is no sqlite header")
    starting = open_store(f"sqlite://{path}")  # another worker starts, finds it damaged, sets it aside
    assert starting.quarantined
    starting.append("b-1", [Message("user", [TextPart("from the new worker")])])
    assert running.load("b-1").version == 1  # the running worker reopened the new file: one store again
    running.append("a-1", [Message("user", [TextPart("from the old worker")])])
    assert starting.load("a-1").version == 1

    caplog.set_level(logging.ERROR, "fish_speech.store")
    path.unlink()  # the file is deleted under both
    assert running.load("b-1").version == 0
    assert any("disappeared" in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)
