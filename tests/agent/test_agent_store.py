"""Conversation stores against the real thing: in-process memory, an SQLite file, a Redis server."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from fish_speech.errors import FishError
from fish_speech.settings import Settings, SettingsError
from fish_speech.store import Message, TextPart, VQPart, open_store, store_from_settings


def user(text):
    return Message("user", [TextPart(text)])


def spoken(seed, frames=5):
    codes = np.random.default_rng(seed).integers(0, 1000, (8, frames))
    return Message("assistant", [TextPart("ok "), VQPart(codes), TextPart(" done")])


@pytest.fixture(params=["memory", "sqlite", "redis"])
def url(request, tmp_path):
    if request.param == "memory":
        return "memory"
    if request.param == "sqlite":
        return f"sqlite://{tmp_path}/conv.db"
    return request.getfixturevalue("redis_url")


@pytest.fixture()
def make(url):
    """make(**kw) -> a store on the backend under test; a Redis db is emptied first."""
    opened = []

    def make(**kw):
        s = open_store(url, **kw)
        opened.append(s)
        if url.startswith("redis://") and len(opened) == 1:
            s._client.flushdb()
        return s

    yield make
    for s in opened:
        s.close()


def test_round_trip_keeps_text_codes_system_and_order(make):
    s = make()
    assert s.load("c1").version == 0 and s.load("c1").messages == []
    system = Message("system", [TextPart("be kind"), VQPart(np.arange(16).reshape(8, 2), "its transcript")])
    assert s.append("c1", [user("hi"), spoken(1)], system=system) == 1
    assert s.append("c1", [user("again"), spoken(2)]) == 2
    conv = s.load("c1")
    assert conv.version == 2
    assert conv.system == system  # kept when a later append passes none
    assert conv.system.parts[1].text == "its transcript"
    assert conv.messages == [user("hi"), spoken(1), user("again"), spoken(2)]
    assert conv.messages[1].parts[1].codes.dtype == np.int16
    assert s.load("other").version == 0


def test_ttl_expires_a_conversation(make):
    s = make(ttl_s=0.3)
    s.append("short", [user("hi")])
    assert s.load("short").version == 1
    time.sleep(0.6)
    assert s.load("short").version == 0
    assert s.append("short", [user("new")]) == 1  # starts afresh
    assert s.load("short").messages == [user("new")]


def test_turn_cap_keeps_the_newest_messages(make):
    s = make(max_turns=3)
    for i in range(4):
        s.append("capped", [user(f"q{i}"), spoken(i)])
    conv = s.load("capped")
    assert conv.version == 4
    assert conv.messages == [spoken(2), user("q3"), spoken(3)]


def test_concurrent_appends_from_two_workers_are_all_kept(make, url):
    """Two store objects (as two workers would have) hammer one conversation at once; the
    in-process store is shared by threads instead."""
    first = make(max_turns=0)
    stores = [first, first if url == "memory" else make(max_turns=0)]
    per_thread, threads = 5, 4
    errors = []

    def worker(k):
        try:
            for i in range(per_thread):
                stores[k % 2].append("busy", [user(f"t{k}-{i}"), spoken(k * 100 + i)])
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert not errors
    conv = stores[0].load("busy")
    assert conv.version == per_thread * threads
    texts = [m.text for m in conv.messages if m.role == "user"]
    assert sorted(texts) == sorted(f"t{k}-{i}" for k in range(threads) for i in range(per_thread))
    # every reply directly follows its question: appends never interleave
    for q, a in zip(conv.messages[::2], conv.messages[1::2]):
        k, i = map(int, q.text[1:].split("-"))
        assert a == spoken(k * 100 + i)


def test_expected_version_detects_a_concurrent_turn(make):
    s = make()
    s.append("cas", [user("one")])
    with pytest.raises(FishError) as e:
        s.append("cas", [user("two")], expected_version=0)
    assert e.value.code == 409
    assert s.append("cas", [user("two")], expected_version=1) == 2


def test_delete_and_id_validation(make):
    s = make()
    s.append("gone", [user("x")])
    s.delete("gone")
    assert s.load("gone").version == 0
    for bad in ["", "a b", "x" * 129, "../etc", "{slot}", "é", 7]:
        with pytest.raises(FishError) as e:
            s.load(bad)
        assert e.value.code == 400 and e.value.field == "conversation_id"


def test_sqlite_survives_closing_and_reopening(tmp_path):
    path = tmp_path / "sub" / "conversations.db"
    with open_store(f"sqlite://{path}") as s:
        s.append("keep", [user("remember me"), spoken(3)], system=Message("system", [TextPart("sys")]))
    with open_store(f"sqlite://{path}") as s:
        conv = s.load("keep")
    assert conv.version == 1 and conv.system.text == "sys"
    assert conv.messages == [user("remember me"), spoken(3)]


def test_unreachable_redis_is_a_clear_503():
    from agent_testkit import free_port

    s = open_store(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    start = time.monotonic()
    for call in (lambda: s.load("c"), lambda: s.append("c", [user("x")])):
        with pytest.raises(FishError) as e:
            call()
        assert e.value.code == 503 and "unavailable" in e.value.message
    assert time.monotonic() - start < 5  # fails fast, no retry loop
    s.close()


def store_from_env(env: dict):
    return store_from_settings(Settings.from_env(env))


def test_backend_chosen_by_environment(tmp_path, redis_url):
    assert type(store_from_env({})).__name__ in ("MemoryStore", "SQLiteStore")
    assert Settings().default_store_url(str(tmp_path / "missing")) == "memory"
    assert Settings().default_store_url(str(tmp_path)) == f"sqlite://{tmp_path}/conversations.db"
    s = store_from_env(
        {"CONVERSATION_STORE": f"sqlite://{tmp_path}/x.db", "CONVERSATION_TTL": "60", "CONVERSATION_MAX_TURNS": "10"}
    )
    assert (type(s).__name__, s.ttl_s, s.max_turns) == ("SQLiteStore", 60.0, 10)
    r = store_from_env({"CONVERSATION_STORE": redis_url})
    assert type(r).__name__ == "RedisStore" and r.url == redis_url
    r.close()
    with pytest.raises(FishError) as e:
        store_from_env({"CONVERSATION_STORE": "postgres://x"})
    assert e.value.field == "CONVERSATION_STORE"
    for env in ({"CONVERSATION_TTL": "soon"}, {"CONVERSATION_MAX_TURNS": "-1"}):
        with pytest.raises(SettingsError, match=next(iter(env))):
            store_from_env(env)
