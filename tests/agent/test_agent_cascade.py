"""The cascade backend (AGENT_BACKEND=llm) with a tiny random transformers causal LM and the tiny
tts engine: streamed text, sentence-by-sentence speech in the request's voice, text memory."""

from __future__ import annotations

import numpy as np
import pytest

from fish_speech.agent.sentences import SentenceSplitter
from fish_speech.agent.types import AgentRequest, AudioEvent, DoneEvent, TextEvent
from fish_speech.engine.types import Sampling
from fish_speech.errors import FishError
from fish_speech.store import TextPart
from fish_speech.store.conversation import Message, VQPart
from tests.requires import need_module

need_module("transformers")  # the cascade runs a transformers causal LM


@pytest.fixture(scope="session")
def llm_dir(tmp_path_factory):
    from fish_speech.testing.tiny_llm import write_tiny_llm

    return write_tiny_llm(tmp_path_factory.mktemp("tiny-llm"))


@pytest.fixture(scope="session")
def chat_llm(llm_dir):
    from fish_speech.agent.llm import ChatLLM

    return ChatLLM.load(llm_dir, device="cpu")


@pytest.fixture(params=["1.5", "s1-mini", "s2-pro"])
def cascade(request, chat_llm, family_engine, store, monkeypatch):
    """The cascade speaking with each family's tiny tts model (the voice is that family's codec codes)."""
    from fish_speech.agent import cascade as mod

    tiny_engine = family_engine(request.param)
    monkeypatch.setattr(mod, "FRAMES_PER_CHAR", 1)  # random tts never stops: keep sentences short
    monkeypatch.setattr(mod, "MIN_FRAMES", 8)
    engine = mod.CascadeEngine(chat_llm, tiny_engine, store, max_reply_tokens=16, sentence_chars=16)
    calls = []
    real = tiny_engine.synthesize

    def spy(request):
        calls.append(request)
        return real(request)

    monkeypatch.setattr(tiny_engine, "synthesize", spy)
    engine.tts_calls = calls
    return engine


def test_sentences_are_cut_as_soon_as_they_end():
    s = SentenceSplitter(max_chars=30, min_chars=4)
    got = []
    for piece in ["Hel", "lo there. ", "Pi is 3.", "14 today! And", " then some more words without an end"]:
        got += s.push(piece)
    assert got == ["Hello there.", "Pi is 3.14 today!", "And then some more words"]
    assert s.flush() == ["without an end"]


def test_reply_streams_text_and_speaks_before_it_is_finished(cascade):
    events = list(cascade.chat(AgentRequest(message="Hello there!", sampling=Sampling(max_new_tokens=16))))
    kinds = [type(e) for e in events]
    assert kinds[-1] is DoneEvent and TextEvent in kinds and AudioEvent in kinds
    last_text = len(kinds) - 1 - kinds[::-1].index(TextEvent)
    assert kinds.index(AudioEvent) < last_text  # the first audio comes before the reply is finished
    done = events[-1]
    assert done.text == "".join(e.text for e in events if isinstance(e, TextEvent))
    assert done.timings["reply_tokens"] <= 16 and len(cascade.tts_calls) >= 2
    spoken = " ".join(r.text for r in cascade.tts_calls)
    assert all(word in done.text for word in spoken.split())
    assert all(isinstance(e.audio, np.ndarray) and e.sample_rate == 44100 for e in events if isinstance(e, AudioEvent))


def test_voice_and_text_memory_carry_over_turns(cascade, store, wav_bytes, monkeypatch):
    prompts = []
    real = cascade.llm.prompt_ids
    monkeypatch.setattr(cascade.llm, "prompt_ids", lambda msgs: prompts.append(msgs) or real(msgs))
    first = list(
        cascade.chat(
            AgentRequest(
                message="My name is Ada.",
                system_audio=wav_bytes,
                conversation_id="c",
                reference_text="a tone",
                sampling=Sampling(max_new_tokens=6),
            )
        )
    )[-1]
    voice = cascade.tts_calls[0].references[0]
    codec = cascade.tts.codec
    assert voice.text == "a tone" and voice.codes.shape[0] == len(codec.codebook_sizes)  # 8, or 10 (modded DAC)
    stored = next(p for p in store.load("c").system.parts if isinstance(p, VQPart))
    assert np.array_equal(stored.codes, voice.codes)  # the store keeps every id (up to 4095) exactly
    cascade.tts_calls.clear()
    second = list(
        cascade.chat(AgentRequest(message="Who am I?", conversation_id="c", sampling=Sampling(max_new_tokens=6)))
    )[-1]
    assert prompts[-1][1:] == [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": first.text},
        {"role": "user", "content": "Who am I?"},
    ]
    later = cascade.tts_calls[0].references[0]
    assert np.array_equal(later.codes, voice.codes)  # voice kept, not re-sent
    assert later.text == "a tone"  # and its transcript with it (tts clones better with one)
    assert [m.role for m in second.messages] == ["system", "user", "assistant", "user", "assistant"]
    assert all(isinstance(p, TextPart) for m in store.load("c").messages for p in m.parts)


def test_a_voice_of_the_other_codec_is_never_spoken(cascade, store, wav_bytes):
    """A conversation kept while another family was loaded holds the other codec's codes: a 409."""
    sizes = cascade.tts.codec.codebook_sizes
    rows = 8 if len(sizes) == 10 else 10  # the other codec's shape
    other = VQPart(np.zeros((rows, 20), np.int16), "old voice")
    store.append("old", [], system=Message("system", [TextPart("Be brief."), other]))
    with pytest.raises(FishError) as e:
        list(cascade.chat(AgentRequest(message="Hi", conversation_id="old", sampling=Sampling(max_new_tokens=4))))
    assert (e.value.code, e.value.field) == (409, "system_audio") and "another codec" in e.value.message
    assert cascade.tts_calls == []  # nothing was fed to the codec
    # sending the voice again replaces it with codes of the loaded codec
    done = list(
        cascade.chat(
            AgentRequest(
                message="Hi", conversation_id="old", system_audio=wav_bytes, sampling=Sampling(max_new_tokens=4)
            )
        )
    )[-1]
    assert done.text is not None and cascade.tts_calls[0].references[0].codes.shape[0] == len(sizes)


def test_spoken_input_is_refused_by_the_text_only_backend(cascade, wav_bytes):
    with pytest.raises(FishError) as e:
        list(cascade.chat(AgentRequest(message="", message_audio=wav_bytes)))
    assert (e.value.code, e.value.field) == (400, "message_audio")


def test_environment_selects_the_cascade(tiny_engine, llm_dir, monkeypatch):
    from fish_speech.service.runtime import Runtime
    from fish_speech.settings import Settings

    monkeypatch.setenv("AGENT_BACKEND", "llm")
    monkeypatch.setenv("AGENT_LLM_PATH", str(llm_dir))
    monkeypatch.setenv("CONVERSATION_STORE", "memory")
    assert Runtime(Settings.from_env(), tiny_engine).load_agent().engine.backend == "llm"
    monkeypatch.delenv("AGENT_LLM_PATH")
    assert Runtime(Settings.from_env(), tiny_engine).load_agent().error.code == 503
