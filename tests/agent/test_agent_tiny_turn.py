"""A local agent turn on the tiny agent checkpoint, as a new user runs it: the real handler, the
default reply cap (larger than the tiny model's whole context) and no steering. The checkpoint is
drawn so that it says a few words and then speaks, so the turn returns text and audio."""

from __future__ import annotations

import asyncio
import base64
import io
import json

import soundfile as sf
from test_agent_handler import handler_module  # noqa: F401 - the shared handler fixture

from fish_speech.service.runtime import Runtime
from fish_speech.settings import Settings
from fish_speech.testing.agent_checkpoint import REPLY_TEXT


def test_a_local_agent_turn_returns_text_and_audio(handler_module, tiny_engine, agent_dir, monkeypatch, speech_wav):  # noqa: F811
    settings = Settings(mode="agent", agent_checkpoint_path=str(agent_dir), download_checkpoints=False)
    assert settings.agent_max_reply_tokens >= 1024  # the tiny model's context is 1024: the cap must be clipped
    rt = Runtime(settings, engine=tiny_engine)  # the agent loads on the first agent job, as in the worker
    monkeypatch.setattr(handler_module, "WORKER", rt)
    voice = base64.b64encode(speech_wav.read_bytes()).decode()
    job = {"message": "Hi, who are you?", "system_audio": voice, "seed": 3}
    chunks = asyncio.run(handler_module.collect({"id": "local-agent", "input": job}))
    assert not chunks[-1].get("error"), chunks[-1]
    done = chunks[-1]
    text = "".join(c["text"] for c in chunks if c["type"] == "text")
    assert text.strip() and text == done["text"] == REPLY_TEXT
    wav = b"".join(base64.b64decode(c["audio"]) for c in chunks if c["type"] == "audio")
    samples, sr = sf.read(io.BytesIO(wav))
    assert sr == 44100 and len(samples) > 2048 and done["duration"] > 0
    assert done["finish_reason"] == "stop"  # the drawn weights end the turn themselves
    json.dumps(chunks)


def test_the_prompt_keeps_room_but_the_reply_is_clipped_to_what_is_left(agent_model, codec):
    from fish_speech.agent.engine import AgentEngine
    from fish_speech.agent.types import AgentRequest, DoneEvent
    from fish_speech.engine.types import Sampling

    ctx = agent_model.args.max_seq_len
    engine = AgentEngine(agent_model, codec, None, max_reply_tokens=4 * ctx)
    assert engine.reply_room(engine.reply_budget(0)) == ctx // 2
    done = [
        e for e in engine.chat(AgentRequest(message="Hello", sampling=Sampling(seed=0))) if isinstance(e, DoneEvent)
    ]
    assert done and done[0].timings["prompt_tokens"] + done[0].timings["reply_tokens"] <= ctx


def test_cascade_prompt_fits_when_the_reply_cap_exceeds_the_llm_context(tmp_path, tiny_engine):
    from fish_speech.agent.cascade import CascadeEngine
    from fish_speech.agent.llm import ChatLLM
    from fish_speech.agent.memory import reply_room
    from fish_speech.testing.tiny_llm import write_tiny_llm

    llm = ChatLLM.load(write_tiny_llm(tmp_path / "llm"), device="cpu")
    engine = CascadeEngine(llm, tiny_engine, None, max_reply_tokens=4 * llm.context)
    room = reply_room(engine.max_reply_tokens, llm.context)
    assert room == llm.context // 2
    ids, dropped = engine._llm_messages(None, [], "Hello there, how are you?", llm.context - room)
    assert 0 < len(ids) <= llm.context - room and dropped == 0
