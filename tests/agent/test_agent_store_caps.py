"""Issue 12, item 3: the memory store is bounded, and a failed agent job leaves no trace in the store
or in the reference cache."""

from __future__ import annotations

import asyncio

import pytest
from test_agent_handler import PLAN, error_of, handler_module  # noqa: F401 - the module fixture

from fish_speech.service.runtime import Runtime
from fish_speech.settings import Limits, Settings
from fish_speech.store import Message, TextPart, open_store, store_from_settings


def said(text: str) -> list[Message]:
    return [Message("user", [TextPart(text)])]


def test_memory_store_keeps_the_most_recently_used_conversations():
    store = open_store("memory", max_items=3)
    for cid in ("a", "b", "c"):
        store.append(cid, said(cid))
    store.load("a")  # used: now the most recent
    store.append("d", said("d"))
    assert [cid for cid in "abcd" if store.load(cid).version] == ["a", "c", "d"]  # b was least recently used
    assert len(store) == 3


def test_memory_store_byte_cap_drops_old_conversations_then_old_messages():
    store = open_store("memory", max_bytes=2000)
    for cid in ("a", "b", "c"):
        store.append(cid, said(cid * 800))
    assert store.held_bytes <= 2000 and store.load("a").version == 0 and store.load("c").version == 1
    for i in range(10):  # one conversation alone over the cap keeps its newest messages
        store.append("c", said(f"{i}" * 500))
    kept = store.load("c").messages
    assert store.held_bytes <= 2000 and kept[-1].text == "9" * 500 and len(kept) < 11


def test_memory_caps_come_from_the_settings():
    s = Settings.from_env({"CONVERSATION_MEMORY_ITEMS": "7", "CONVERSATION_MEMORY_BYTES": "9000"})
    store = store_from_settings(s.replace(conversation_store="memory"))
    assert (store.max_items, store.max_bytes) == (7, 9000)
    assert Settings().conversation_memory_items > 0 and Settings().conversation_memory_bytes > 0


@pytest.fixture()
def worker(handler_module, tiny_engine, agent_engine, script, monkeypatch):  # noqa: F811
    from fish_speech.service.agent import AgentService

    agent_engine.steer = script(PLAN)
    w = Runtime(Settings(mode="agent"), engine=tiny_engine, agent=AgentService(agent_engine, Limits()))
    monkeypatch.setattr(handler_module, "WORKER", w)
    return w


def run(handler_module, job_input):  # noqa: F811
    return asyncio.run(handler_module.collect({"id": "job", "input": job_input}))


def _snapshot(engine, cid):
    conv = engine.store.load(cid)
    return conv.version, conv.system, conv.messages, dict(engine.voices._cache), engine.voices.cached_bytes


def test_a_failed_agent_job_stores_nothing(handler_module, worker, agent_engine, script, wav_bytes):  # noqa: F811
    import base64

    first = run(handler_module, {"message": "hi", "conversation_id": "fail-1", "streaming": False})[-1]
    token = first["conversation_token"]
    before = _snapshot(agent_engine, "fail-1")
    voice = base64.b64encode(wav_bytes).decode()
    turn = {"message": "next", "conversation_id": "fail-1", "conversation_token": token, "system_audio": voice}

    # fails after the voice was encoded: the user's speech is not audio
    bad_audio = {**turn, "message_audio": base64.b64encode(b"not audio at all" * 64).decode()}
    err = error_of(run(handler_module, bad_audio))
    assert err["field"] == "message_audio", err
    assert agent_engine.voices.encoder.encodes >= 1  # the voice was encoded before the failure
    assert _snapshot(agent_engine, "fail-1") == before

    # fails during generation (the model raises at its fourth step)
    def broken(step):
        if step == 3:
            raise RuntimeError("the model failed mid-reply")
        return script(PLAN)(step)

    agent_engine.steer = broken
    assert error_of(run(handler_module, turn))["code"] == 500
    assert _snapshot(agent_engine, "fail-1") == before

    agent_engine.steer = script(PLAN)  # the same turn, now succeeding, stores the turn and caches the voice
    done = run(handler_module, turn)[-1]
    assert done["type"] == "done" and agent_engine.store.load("fail-1").version == before[0] + 1
    assert len(agent_engine.voices._cache) == len(before[3]) + 1
