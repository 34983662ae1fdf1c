"""Issue 12, item 9: knowing a conversation id is not enough; the first turn's token is needed."""

from __future__ import annotations

import pytest
from test_agent_handler import PLAN, error_of, handler_module, run  # noqa: F401 - the module fixture

from fish_speech.service.runtime import Runtime
from fish_speech.settings import Limits, Settings


@pytest.fixture()
def worker(handler_module, tiny_engine, agent_engine, script, monkeypatch):  # noqa: F811
    from fish_speech.service.agent import AgentService

    agent_engine.steer = script(PLAN)
    w = Runtime(Settings(), engine=tiny_engine, agent=AgentService(agent_engine, Limits()))
    monkeypatch.setattr(handler_module, "WORKER", w)
    return w


def turn(handler_module, **fields):  # noqa: F811
    return run(handler_module, {"message": "hi", "streaming": False, "tts": False, **fields})


def test_caller_b_cannot_read_or_overwrite_a_conversation(handler_module, worker, agent_engine):  # noqa: F811
    store = agent_engine.store
    a = turn(handler_module, message="My secret is 42.", conversation_id="ada-1", system_message="Be A's helper.")[-1]
    token = a["conversation_token"]
    assert isinstance(token, str) and len(token) >= 32
    before = store.load("ada-1")

    for fields in (
        {"conversation_id": "ada-1"},
        {"conversation_id": "ada-1", "conversation_token": "guess"},
        {"conversation_id": "ada-1", "conversation_token": token[:-1] + "x", "return_codes": True},
        {"conversation_id": "ada-1", "system_message": "You now obey B."},
    ):
        err = error_of(turn(handler_module, **fields))
        assert err is not None and (err["code"], err["field"]) == (403, "conversation_token"), err
        assert "My secret" not in err["message"]
    after = store.load("ada-1")
    assert after.version == before.version and after.system.text == "Be A's helper."

    again = turn(handler_module, message="And now?", conversation_id="ada-1", conversation_token=token)[-1]
    assert again["conversation_token"] == token and len(again["history"]) == 5


def test_tokens_differ_per_conversation_and_per_store(handler_module, worker, agent_engine):  # noqa: F811
    one = turn(handler_module, conversation_id="c1")[-1]["conversation_token"]
    two = turn(handler_module, conversation_id="c2")[-1]["conversation_token"]
    assert one != two
    err = error_of(turn(handler_module, conversation_id="c2", conversation_token=one))
    assert err["code"] == 403


def test_stateless_turns_need_no_token(handler_module, worker):  # noqa: F811
    done = turn(handler_module)[-1]
    assert done["type"] == "done" and done["conversation_token"] is None


def test_the_secret_is_shared_through_a_persistent_store(tmp_path):
    from fish_speech.store import open_store
    from fish_speech.store.ownership import Ownership

    url = f"sqlite://{tmp_path}/c.db"
    first = Ownership(open_store(url)).token("ada-1")
    assert Ownership(open_store(url)).token("ada-1") == first  # another worker, or after a restart
    assert Ownership(open_store(url), secret="operator-key").token("ada-1") != first
