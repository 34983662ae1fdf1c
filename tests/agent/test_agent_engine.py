"""The fish-agent engine on the tiny random checkpoint: interleaving, voice, memory, caps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fish_speech.agent.memory import display_history, parse_history
from fish_speech.agent.prompt import encode_message
from fish_speech.agent.types import AgentRequest, AudioEvent, DoneEvent, TextEvent
from fish_speech.engine.types import Sampling
from fish_speech.store import Message, TextPart, VQPart

# text x3, speech x6, text x2, speech x3, end of turn
PLAN = {**{i: "sem" for i in range(3, 9)}, **{i: "sem" for i in range(11, 14)}, 14: "end"}


@pytest.fixture()
def prompts(agent_engine):
    """Records the prompt of every generation the engine runs."""
    seen = []
    real = agent_engine.generator.generate

    def spy(prompt, *args, **kw):
        seen.append((prompt.clone(), args, kw))
        return real(prompt, *args, **kw)

    agent_engine.generator.generate = spy
    return seen


def chat(engine, **kw):
    kw.setdefault("sampling", Sampling(max_new_tokens=20, seed=1))
    return list(engine.chat(AgentRequest(**kw)))


def contains(prompt: torch.Tensor, part: torch.Tensor) -> bool:
    """Is `part` ([9, k]) a contiguous run of columns of `prompt`?"""
    k = part.shape[1]
    return any(torch.equal(prompt[:, i : i + k], part) for i in range(prompt.shape[1] - k + 1))


def test_interleaved_generation_yields_text_and_audio_in_model_order(agent_engine, script, codec):
    agent_engine.steer = script(PLAN)
    events = chat(agent_engine, message="Hello there!")
    kinds = [type(e).__name__ for e in events]
    # stream_frames=4: the 6-frame run comes out as 4 + 2 frames, before the next text run
    assert kinds == ["TextEvent", "AudioEvent", "AudioEvent", "TextEvent", "AudioEvent", "DoneEvent"]
    audio = [e for e in events if isinstance(e, AudioEvent)]
    assert [a.codes.shape for a in audio] == [(8, 4), (8, 2), (8, 3)]
    assert all(a.audio.dtype == np.float32 and a.audio.size == 2048 * a.codes.shape[1] for a in audio)
    done = events[-1]
    assert isinstance(done, DoneEvent) and done.finish_reason == "stop"
    kinds = [type(p).__name__ for p in done.reply.parts]
    assert kinds == ["TextPart", "VQPart", "TextPart", "VQPart"]
    texts = [e.text for e in events if isinstance(e, TextEvent)]
    assert done.text == "".join(texts) == done.reply.text
    codes = np.concatenate([p.codes for p in done.reply.parts if isinstance(p, VQPart)], axis=1)
    assert codes.shape == (8, 9) and codes.min() >= 0 and codes.max() <= 999
    assert np.array_equal(codes, np.concatenate([a.codes for a in audio], axis=1))
    # one causal decoder across runs: the pieces join into exactly one decode of all frames
    whole = codec.decode(codes.astype(np.int64)).numpy()
    np.testing.assert_allclose(np.concatenate([a.audio for a in audio]), whole, atol=1e-5)
    assert done.timings["first_audio_s"] is not None and done.timings["reply_tokens"] == 14


def test_the_voice_codes_are_in_the_system_message(agent_engine, prompts, wav_bytes):
    voice = agent_engine.encode_audio(wav_bytes, "system_audio")
    events = chat(agent_engine, message="Hi", system_message="Talk like a pirate.", system_audio=wav_bytes)
    tok = agent_engine.am.tokenizer
    system = Message("system", [TextPart("Talk like a pirate."), VQPart(voice)])
    prompt = prompts[0][0]
    assert torch.equal(prompt[:, : encode_message(system, tok, 8).shape[1]], encode_message(system, tok, 8))
    assert events[-1].messages[0] == system
    chat(agent_engine, message="Again", system_audio=wav_bytes)
    assert agent_engine.voices.misses == 1  # the same upload is encoded once


def test_without_a_voice_the_default_system_text_is_used(agent_engine, prompts):
    chat(agent_engine, message="Hi")
    tok = agent_engine.am.tokenizer
    ids = prompts[0][0][0].tolist()
    assert tok.semantic_id not in ids
    assert tok.decode(ids).startswith("<|im_start|>system\n" + agent_engine.default_system + "<|im_end|>")


def test_second_turn_hears_the_first_turn_text_and_codes(agent_engine, prompts, script, store, wav_bytes):
    agent_engine.steer = script(PLAN)
    first = chat(agent_engine, message="Remember this.", conversation_id="conv-1", system_audio=wav_bytes)[-1]
    second = chat(agent_engine, message="What did you say?", conversation_id="conv-1")[-1]
    tok = agent_engine.am.tokenizer
    user1, reply1 = first.messages[-2:]
    assert reply1 == first.reply and any(isinstance(p, VQPart) for p in reply1.parts)
    prompt2 = prompts[1][0]
    assert contains(prompt2, encode_message(user1, tok, 8))
    assert contains(prompt2, encode_message(reply1, tok, 8))  # text and the +1-shifted codes
    assert contains(prompt2, encode_message(first.messages[0], tok, 8))  # the voice, not re-sent
    assert [m.role for m in first.messages] == ["system", "user", "assistant"]
    assert [m.role for m in second.messages] == ["system", "user", "assistant", "user", "assistant"]
    stored = store.load("conv-1")
    assert stored.version == 2 and stored.messages == second.messages[1:]
    assert stored.system == first.messages[0]  # stored once, not appended per turn
    history = display_history(second.messages)
    assert [h["role"] for h in history] == ["system", "user", "assistant", "user", "assistant"]
    assert "<audio 0.28s>" in history[2]["content"] and "<audio 0.14s>" in history[2]["content"]  # 6, 3 frames
    assert "parts" not in history[2]


def test_client_held_history_round_trips_with_codes(agent_engine, prompts, script):
    agent_engine.steer = script(PLAN)
    first = chat(agent_engine, message="One")[-1]
    held = display_history(first.messages, with_codes=True)
    chat(agent_engine, message="Two", history=parse_history(held))
    tok = agent_engine.am.tokenizer
    assert contains(prompts[1][0], encode_message(first.reply, tok, 8))
    plain = parse_history(display_history(first.messages))  # no codes: markers are dropped
    assert "<audio" not in plain[2].text and not any(isinstance(p, VQPart) for p in plain[2].parts)


def test_spoken_user_turn_is_encoded_to_codes(agent_engine, prompts, wav_bytes):
    done = chat(agent_engine, message="", message_audio=wav_bytes)[-1]
    user = done.messages[-2]
    assert user.role == "user" and [type(p).__name__ for p in user.parts] == ["VQPart"]
    assert np.array_equal(user.parts[0].codes, agent_engine.encode_audio(wav_bytes, "message_audio"))
    assert contains(prompts[0][0], encode_message(user, agent_engine.am.tokenizer, 8))


def test_a_random_model_always_ends_within_the_caps(agent_engine, prompts):
    done = chat(agent_engine, message="Talk forever", sampling=Sampling(max_new_tokens=0))[-1]
    assert done.timings["reply_tokens"] <= agent_engine.max_reply_tokens == 24
    assert prompts[0][1][0] == 24  # 0 asks for the server's cap
    done = chat(agent_engine, message="Short", sampling=Sampling(max_new_tokens=5))[-1]
    assert done.timings["reply_tokens"] <= 5


def test_request_sampling_reaches_the_codebooks_and_seeds_repeat(agent_engine, prompts, script):
    agent_engine.steer = script({i: "sem" for i in range(6)})
    s = Sampling(temperature=0.3, top_p=0.5, repetition_penalty=1.5, max_new_tokens=6, seed=7)
    a = chat(agent_engine, message="x", sampling=s)[-1]
    b = chat(agent_engine, message="x", sampling=s)[-1]
    assert prompts[0][1][1:4] == (0.3, 0.5, 1.5)
    assert [float(k) for k in agent_engine.generator.code_knobs] == pytest.approx([0.3, 0.5, 1.5])
    assert np.array_equal(a.reply.parts[0].codes, b.reply.parts[0].codes)


def test_decode_step_samples_text_near_greedily_and_codes_with_the_request(agent_model, script, monkeypatch):
    """Spec §7/§10: per frame, the main token is drawn with fixed (0.1, 0.1, 1.0) and no penalty
    history; then all 8 codebooks come from the fast transformer with the request's knobs and a
    penalty window of that codebook's last frames; a text frame carries no codes."""
    from fish_speech.agent import generate as gen

    calls = []
    real = gen.sample

    def spy(logits, temperature, top_p, penalty, history=None, bias=None):
        calls.append(
            (
                logits.shape[-1],
                (float(temperature), float(top_p), float(penalty)),
                None if history is None else history.clone(),
            )
        )
        return real(logits, temperature, top_p, penalty, history, bias)

    monkeypatch.setattr(gen, "sample", spy)
    g = gen.AgentGenerator(agent_model)
    tok, vocab = agent_model.tokenizer, agent_model.args.vocab_size
    prompt = torch.zeros(9, 5, dtype=torch.int32)
    prompt[0] = torch.tensor(tok.header("user") + [tok.im_end_id] + tok.header("assistant"))[:5]
    # frames 0-2 speech, 3 text, 4-5 speech, 6 end of turn
    plan = {0: "sem", 1: "sem", 2: "sem", 4: "sem", 5: "sem", 6: "end"}
    torch.manual_seed(0)
    out = list(
        g.generate(prompt, 16, temperature=0.3, top_p=0.5, repetition_penalty=1.5, steer=script(plan), sync_every=1)
    )
    assert g.stopped and [c is None for _, c in out] == [False, False, False, True, False, False]
    assert out[3][0] != tok.semantic_id and all(m == tok.semantic_id for m, c in out if c is not None)
    frames = len(out) + 1  # the end-of-turn frame was generated too
    assert len(calls) == 9 * frames
    codes = [None if c is None else c.astype(int) + 1 for _, c in out]  # model space (+1)
    for f in range(frames):
        main, *books = calls[9 * f : 9 * f + 9]
        assert main[0] == vocab and main[1] == pytest.approx((0.1, 0.1, 1.0)) and main[2] is None
        for k, (size, knobs, history) in enumerate(books):
            assert size == agent_model.args.codebook_size and knobs == pytest.approx((0.3, 0.5, 1.5))
            if f == 0:
                assert history is None  # the prefill frame has no penalty window
                continue
            # the window holds codebook k of frames 1..f-1 (text frames as 0), zero-padded
            seen = sorted(int(v) for v in history[0])
            want = sorted([0 if codes[j] is None else int(codes[j][k]) for j in range(1, f)] + [0] * (16 - (f - 1)))
            assert seen == want, (f, k)


def test_long_conversation_is_trimmed_to_the_context_oldest_turns_first(agent_engine, prompts, store):
    """A stored conversation longer than the context: the prompt keeps the system message and the
    newest turns, the store keeps everything."""
    tok = agent_engine.am.tokenizer
    system = Message("system", [TextPart("Be brief.")])
    rng = np.random.default_rng(3)
    for i in range(12):  # ~12 x 110 positions > the tiny model's 1024
        store.append(
            "long",
            [
                Message("user", [TextPart(f"question {i}")]),
                Message("assistant", [TextPart(f"answer {i}"), VQPart(rng.integers(0, 1000, (8, 100)))]),
            ],
            system=system,
        )
    done = chat(agent_engine, message="latest", conversation_id="long", sampling=Sampling(max_new_tokens=4))[-1]
    prompt = prompts[0][0]
    room = agent_engine.am.args.max_seq_len - 4
    assert prompt.shape[1] <= room and done.timings["prompt_tokens"] == prompt.shape[1]
    dropped = done.timings["dropped_turns"]
    assert dropped > 0 and dropped % 2 == 0  # whole turns, oldest first
    head = encode_message(system, tok, 8)
    assert torch.equal(prompt[:, : head.shape[1]], head)  # the system message stays first
    kept = store.load("long").messages[dropped : dropped + 1]
    assert contains(prompt, encode_message(kept[0], tok, 8))  # the oldest kept turn follows it
    assert torch.equal(
        prompt[:, head.shape[1] : head.shape[1] + len(tok.header("user"))],
        encode_message(kept[0], tok, 8)[:, : len(tok.header("user"))],
    )
    first = store.load("long").messages[0]
    assert not contains(prompt, encode_message(first, tok, 8))
    assert len(store.load("long").messages) == 26  # nothing was deleted from memory
