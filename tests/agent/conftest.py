"""Fixtures for agent-mode tests: the tiny agent, codec and engine, steering, a Redis server."""

import io

import numpy as np
import pytest
import soundfile as sf
import torch
from agent_testkit import RedisServer

from tests.requires import need_tool


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    need_tool("redis-server")
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


# ---------------------------------------------------------------------------- tiny agent


@pytest.fixture(scope="session")
def agent_dir(tmp_path_factory):
    from fish_speech.testing.agent_checkpoint import write_agent_checkpoint

    return write_agent_checkpoint(tmp_path_factory.mktemp("tiny-agent"))


@pytest.fixture(scope="session")
def agent_model(agent_dir):
    from fish_speech.agent.loader import load_agent_model

    return load_agent_model(agent_dir, device="cpu")


@pytest.fixture(scope="session")
def codec(tiny_checkpoints):
    from fish_speech.models.vqgan.codec import Codec

    return Codec.load(tiny_checkpoints[1])


@pytest.fixture()
def store():
    from fish_speech.store import open_store

    return open_store("memory")


@pytest.fixture()
def agent_engine(agent_model, codec, store):
    """A fresh engine (own store, no steering) over the session's model and codec."""
    from fish_speech.agent.engine import AgentEngine

    return AgentEngine(agent_model, codec, store, max_reply_tokens=24, stream_frames=4)


@pytest.fixture(scope="session")
def script(agent_model):
    """script(plan) -> a steer function: at step i force "sem" (a speech frame), "end" (end of
    turn) or, by default, any text token, so a random model follows a known pattern."""
    vocab, tok = agent_model.args.vocab_size, agent_model.tokenizer

    def steer_for(plan: dict[int, str]):
        return lambda i: steer(plan, i)

    def steer(plan, i):
        what = plan.get(i, "text")
        bias = torch.zeros(vocab)
        if what == "sem":
            bias[tok.semantic_id] = 1e4
        elif what == "end":
            bias[tok.im_end_id] = 1e4
        else:
            bias[tok.semantic_id] = bias[tok.im_end_id] = float("-inf")
            if tok.end_of_text_id is not None:
                bias[tok.end_of_text_id] = float("-inf")
        return bias

    return steer_for


@pytest.fixture(scope="session")
def wav_bytes():
    """One second of a 220 Hz tone as a 22.05 kHz WAV file."""
    sr = 22050
    x = 0.3 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr)
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), sr, format="WAV")
    return buf.getvalue()
