"""Agent mode through the RunPod handler: chunk shapes, two turns, bad inputs, store outages."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import io
import json
import sys
from pathlib import Path

import pytest
import soundfile as sf

from fish_speech.service.runtime import Runtime
from fish_speech.settings import Limits, Settings

ROOT = Path(__file__).resolve().parents[2]
PLAN = {**{i: "sem" for i in range(2, 6)}, 8: "sem", 9: "sem", 11: "end"}


@pytest.fixture(scope="module")
def handler_module():
    name = "fish_runpod_handler"  # the same name the runpod tests use: one module either way
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "runpod" / "handler.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture()
def worker(handler_module, tiny_engine, agent_engine, script, monkeypatch):
    from fish_speech.service.agent import AgentService

    agent_engine.steer = script(PLAN)
    w = Runtime(Settings(mode="agent"), engine=tiny_engine, agent=AgentService(agent_engine, Limits()))
    monkeypatch.setattr(handler_module, "WORKER", w)
    return w


def run(handler_module, job_input):
    return asyncio.run(handler_module.collect({"id": "agent-job", "input": job_input}))


def error_of(chunks):
    return json.loads(chunks[-1]["error"]) if chunks and chunks[-1].get("error") else None


def test_streaming_turn_yields_text_and_audio_in_order_then_done(handler_module, worker):
    chunks = run(handler_module, {"message": "Hello there!", "max_new_tokens": 12})
    assert error_of(chunks) is None
    kinds = [c["type"] for c in chunks]
    assert kinds[0] == "text" and kinds[-1] == "done" and "audio" in kinds
    assert kinds.index("audio") < len(kinds) - 1 - kinds[::-1].index("text")  # audio before the last text
    done = chunks[-1]
    assert done["text"] == "".join(c["text"] for c in chunks if c["type"] == "text")
    assert done["mode"] == "agent" and done["backend"] == "fish" and done["finish_reason"] == "stop"
    assert [h["role"] for h in done["history"]] == ["system", "user", "assistant"]
    assert done["history"][1]["content"] == "Hello there!" and "<audio" in done["history"][2]["content"]
    assert "audio" not in done and done["chunks"] == kinds.count("audio")
    wav = b"".join(base64.b64decode(c["audio"]) for c in chunks if c["type"] == "audio")
    samples, sr = sf.read(io.BytesIO(wav))
    assert sr == 44100 and len(samples) == 2048 * 6 and abs(done["duration"] - len(samples) / sr) < 1e-3
    json.dumps(chunks)  # everything must be JSON for the SDK


def test_non_streaming_puts_the_whole_reply_in_done(handler_module, worker):
    chunks = run(handler_module, {"message": "Hi", "streaming": False, "format": "flac", "return_codes": True})
    assert [c["type"] for c in chunks] == ["done"]
    done = chunks[0]
    samples, _ = sf.read(io.BytesIO(base64.b64decode(done["audio"])))
    assert len(samples) == 2048 * 6 and done["format"] == "flac"
    parts = done["history"][2]["parts"]
    assert [p["type"] for p in parts] == ["text", "vq", "text", "vq", "text"]
    assert len(parts[1]["codes"]) == 8 and len(parts[1]["codes"][0]) == 4


def test_two_jobs_of_one_conversation_share_memory(handler_module, worker):
    first = run(handler_module, {"message": "My name is Ada.", "conversation_id": "user-42"})[-1]
    token = first["conversation_token"]  # later turns must present the first turn's token
    second = run(
        handler_module, {"message": "What is my name?", "conversation_id": "user-42", "conversation_token": token}
    )[-1]
    assert first["conversation_id"] == second["conversation_id"] == "user-42"
    assert len(first["history"]) == 3 and len(second["history"]) == 5
    assert second["history"][:3] == first["history"]
    # a client-held history instead of server memory
    held = run(handler_module, {"message": "And now?", "history": second["history"], "streaming": False})[-1]
    assert len(held["history"]) == 7 and held["conversation_id"] is None


@pytest.mark.parametrize(
    "job_input, code, field",
    [
        ({}, 400, "message"),
        ({"message": "   "}, 400, "message"),
        ({"message": 5}, 400, "message"),
        ({"message": "x" * 41}, 400, "message"),  # AGENT_MAX_MESSAGE_CHARS=40 below
        ({"message": "hi", "conversation_id": "no spaces allowed"}, 400, "conversation_id"),
        ({"message": "hi", "conversation_id": "x" * 129}, 400, "conversation_id"),
        ({"message": "hi", "conversation_id": "a", "history": []}, 400, "history"),
        ({"message": "hi", "history": [{"role": "robot", "content": "?"}]}, 400, "history"),
        ({"message": "hi", "system_audio": "%%%"}, 400, "system_audio"),
        ({"message": "hi", "temperature": 5}, 400, "temperature"),
        ({"message": "hi", "format": "aiff"}, 400, "format"),
    ],
)
def test_bad_inputs_fail_with_code_and_field(handler_module, worker, monkeypatch, job_input, code, field):
    monkeypatch.setattr(worker.agent, "max_message_chars", 40)
    err = error_of(run(handler_module, job_input))
    assert err is not None and (err["code"], err["field"]) == (code, field), err


def test_unreachable_redis_is_a_503_and_the_worker_keeps_serving(handler_module, worker, agent_engine):
    from agent_testkit import free_port

    from fish_speech.store import open_store

    agent_engine.store = open_store(f"redis://127.0.0.1:{free_port()}/0")
    err = error_of(run(handler_module, {"message": "hi", "conversation_id": "c-1"}))
    assert err["code"] == 503 and err["field"] == "conversation_id" and "unavailable" in err["message"]
    assert run(handler_module, {"message": "no memory needed"})[-1]["type"] == "done"
    assert run(handler_module, {"message": "Speak.", "tts": True, "max_new_tokens": 4})[-1]["type"] == "done"
    assert error_of(run(handler_module, {"message": "hi", "conversation_id": "c-1"}))["code"] == 503


def test_agent_load_failure_is_a_503_for_agent_jobs_only(handler_module, tiny_engine, monkeypatch, tmp_path):
    rt = Runtime(
        Settings(mode="agent", agent_checkpoint_path=str(tmp_path / "missing"), conversation_store="memory"),
        tiny_engine,
    )
    rt.load_agent()
    monkeypatch.setattr(handler_module, "WORKER", rt)
    err = error_of(run(handler_module, {"message": "hi"}))
    assert err["code"] == 503 and "agent mode unavailable" in err["message"]
    assert run(handler_module, {"message": "Speak.", "tts": True, "max_new_tokens": 4})[-1]["type"] == "done"


def test_worker_loads_the_agent_named_by_the_environment(handler_module, tiny_engine, agent_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("AGENT_CHECKPOINT_PATH", str(agent_dir))
    monkeypatch.setenv("CONVERSATION_STORE", f"sqlite://{tmp_path}/c.db")
    monkeypatch.setenv("AGENT_MAX_REPLY_TOKENS", "6")
    monkeypatch.setenv("MODE", "agent")
    rt = Runtime(Settings.from_env(), tiny_engine)
    agent = rt.load_agent()
    assert agent.engine.backend == "fish" and type(agent.engine.store).__name__ == "SQLiteStore"
    assert agent.engine.voices is rt.voices  # one voice library per process
    monkeypatch.setattr(handler_module, "WORKER", rt)
    done = run(handler_module, {"message": "hi", "conversation_id": "env-1"})[-1]
    assert done["type"] == "done" and done["timings"]["reply_tokens"] <= 6
    assert agent.engine.store.load("env-1").version == 1
