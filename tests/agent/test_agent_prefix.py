"""fish-agent with the prefix KV cache: the system turn (message + voice) is prefilled once; a later
turn with the same system turn reuses its K/V and gives the same reply as an engine without the cache."""

from __future__ import annotations

import numpy as np

from fish_speech.agent.engine import AgentEngine
from fish_speech.agent.types import AgentRequest, AudioEvent
from fish_speech.engine.types import Sampling

PLAN = {**{i: "sem" for i in range(2, 9)}, 12: "end"}  # text, speech, text, end of turn


def _turn(engine, message, wav_bytes, temperature):
    sampling = Sampling(temperature=temperature, max_new_tokens=16, seed=4)
    request = AgentRequest(message=message, system_message="Be brief.", system_audio=wav_bytes, sampling=sampling)
    events = list(engine.chat(request))
    codes = [e.codes for e in events if isinstance(e, AudioEvent)]
    return events[-1], np.concatenate(codes, axis=1) if codes else None


def test_agent_turns_reuse_the_system_prefix(agent_model, codec, store, wav_bytes, script):
    plain = AgentEngine(agent_model, codec, store, max_reply_tokens=16, stream_frames=4)
    cached = AgentEngine(agent_model, codec, store, max_reply_tokens=16, stream_frames=4, prefix_cache_bytes=1 << 26)
    cached.voices = plain.voices  # one encoding of the voice for both
    plain.steer = cached.steer = script(PLAN)
    for temperature in (0.0, 0.8):
        want, want_codes = _turn(plain, "Hello there.", wav_bytes, temperature)
        for message in ("Hello there.", "Hello there."):
            done, codes = _turn(cached, message, wav_bytes, temperature)
            assert done.text == want.text and np.array_equal(codes, want_codes)
        assert want.timings["prefix_cached"] is False and done.timings["prefix_cached"] is True
        assert done.timings["prefill_s"] > 0
    other, _ = _turn(cached, "A different question, longer.", wav_bytes, 0.0)
    assert other.timings["prefix_cached"] is True  # same system turn, another message
    assert cached.generator.prefix_cache.misses == 1


def test_packed_slow_weights_keep_cached_and_uncached_replies_equal(agent_dir, codec, store, wav_bytes, script):
    """PACKED_WEIGHT_BYTES reaches the agent's loader: every slow layer's products get a packed copy
    (the prompt's products read it), and the cached system turn still gives the uncached reply."""
    options = dict(max_reply_tokens=16, stream_frames=4)
    plain = AgentEngine.load(agent_dir, codec, store, device="cpu", packed_weight_bytes=1 << 30, **options)
    assert all("packed" in lin.__dict__ for g in plain.am.model.slow_products() for lin in g)
    cached = AgentEngine(plain.am, codec, store, prefix_cache_bytes=1 << 26, **options)
    cached.voices = plain.voices
    plain.steer = cached.steer = script(PLAN)
    want, want_codes = _turn(plain, "Hello there.", wav_bytes, 0.0)
    for _ in range(2):
        done, codes = _turn(cached, "Hello there.", wav_bytes, 0.0)
        assert done.text == want.text and np.array_equal(codes, want_codes)
    assert done.timings["prefix_cached"] is True


def test_each_turn_of_a_conversation_prefills_only_what_it_adds(agent_model, codec, wav_bytes, script):
    """The prompt of a turn opens with the last turn's whole prompt: a cached engine copies it in
    and prefills only the last reply and the new message, with the replies of an uncached engine."""
    from fish_speech.store import open_store

    options = dict(max_reply_tokens=16, stream_frames=4)
    plain = AgentEngine(agent_model, codec, open_store("memory"), **options)
    cached = AgentEngine(agent_model, codec, open_store("memory"), prefix_cache_bytes=1 << 26, **options)
    cached.voices = plain.voices
    plain.steer = cached.steer = script(PLAN)
    last = 0
    for i, message in enumerate(["Remember this.", "What did you say?", "Once more, please."]):
        got = []
        for engine in (plain, cached):
            request = AgentRequest(
                message=message,
                conversation_id="conv",
                system_message="Be brief.",
                system_audio=wav_bytes if i == 0 else None,
                sampling=Sampling(temperature=0.0, max_new_tokens=16, seed=4 + i),
            )
            events = list(engine.chat(request))
            codes = np.concatenate([e.codes for e in events if isinstance(e, AudioEvent)], axis=1)
            got.append((events[-1], codes))
        (want, want_codes), (done, codes) = got
        assert done.text == want.text and np.array_equal(codes, want_codes)
        timings = done.timings
        assert timings["prefix_columns"] == last  # turn 0: nothing cached; later: the last whole prompt
        assert timings["prefix_cached"] is (i > 0) and want.timings["prefix_columns"] == 0
        last = timings["prompt_tokens"]
    kept = cached.generator.prefix_cache.entries.values()
    assert sorted((e.whole, e.length) for e in kept)[1:] == [(True, last)]  # the system turn + the last prompt only
    assert len(kept) == 2
