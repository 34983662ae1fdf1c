"""The service layer on S1-mini and S2-Pro: the per-family sampling check, the codec in the voice cache
key, conversation codes of the modded DAC, early streamed audio, fish-agent refused with a new family."""

from __future__ import annotations

import numpy as np
import pytest

from fish_speech.engine.types import Sampling, TTSRequest
from fish_speech.errors import FishError
from fish_speech.models.family import SAMPLING_FIELDS
from fish_speech.models.text2semantic.detect import FISH_15, S1_MINI, S2_PRO
from fish_speech.service.fields import TTS_RULES, check_family_fields, parse_tts, sampling_from


def _check(raw: dict, family: str):
    values, _ = parse_tts({"text": "Hello.", **raw})
    check_family_fields(values, family, SAMPLING_FIELDS[family])
    return sampling_from(values)


@pytest.mark.parametrize("family", [FISH_15, S1_MINI, S2_PRO])
def test_fields_left_out_or_at_their_default_never_fail(family):
    assert _check({}, family).top_k is None
    defaults = {name: TTS_RULES[name].default for name in ("repetition_penalty", "top_k", "temperature", "top_p")}
    _check(defaults, family)  # what a page or an old client sends without asking for anything
    _check({"top_k": None, "repetition_penalty": 1.2}, family)


@pytest.mark.parametrize(
    "family,raw,field",
    [(S2_PRO, {"repetition_penalty": 1.5}, "repetition_penalty"), (FISH_15, {"top_k": 10}, "top_k")]
    + [(S1_MINI, {"top_k": 50}, "top_k")],
)
def test_a_field_the_family_ignores_is_a_400_naming_it(family, raw, field):
    with pytest.raises(FishError) as e:
        _check(raw, family)
    assert (e.value.code, e.value.field) == (400, field) and family in e.value.message


def test_top_k_is_checked_and_reaches_the_engine():
    assert _check({"top_k": 7}, S2_PRO).top_k == 7
    assert _check({"repetition_penalty": 1.3}, S1_MINI).repetition_penalty == 1.3
    for bad in (0, 5000, "7", 2.5):
        with pytest.raises(FishError) as e:
            _check({"top_k": bad}, S2_PRO)
        assert e.value.field == "top_k"


def test_the_codec_is_part_of_the_voice_cache_key(family_engine, speech_wav):
    """The same clip, asked for once per codec: each codec encodes it itself; nothing crosses over."""
    from fish_speech.voices.encode import VoiceEncoder
    from fish_speech.voices.library import ReferenceLibrary

    old, new = family_engine("1.5").codec, family_engine("s2-pro").codec
    library = ReferenceLibrary(VoiceEncoder(new))
    data = speech_wav.read_bytes()
    first = library.from_audio(data, "hello")
    assert first.codes.shape[0] == 10 and library.from_audio(data, "hello") is first  # cached per codec
    library.encoder = VoiceEncoder(old)  # the same library, now with the 1.5 codec (one shared cache)
    other = library.from_audio(data, "hello")
    assert other.codes.shape[0] == 8 and library.encoder.encodes == 1 and library.misses == 2
    library.encoder = VoiceEncoder(new)
    assert library.from_audio(data, "hello") is first


def test_conversation_codes_of_the_modded_dac_round_trip():
    from fish_speech.store.conversation import VQPart, part_from_dict, part_to_dict

    codes = np.random.default_rng(0).integers(0, 1024, (10, 30))
    codes[0] = np.arange(4066, 4096)  # the semantic row reaches 4095
    part = VQPart(codes, "hi")
    for form in ("b64", "list"):
        back = part_from_dict(part_to_dict(part, form))
        assert back == part and int(back.codes.max()) == 4095 and back.codes.shape == (10, 30)
    for bad in (np.full((10, 3), 4096), np.zeros((11, 3), int), np.full((10, 3), -1)):
        with pytest.raises(FishError) as e:
            part_from_dict({"type": "vq", "codes": bad.tolist()})
        assert e.value.field == "history"


@pytest.mark.parametrize("family", ["s1-mini", "s2-pro"])
def test_streaming_gives_early_audio_that_joins_seamlessly(family_engine, family):
    """The modded DAC is causal: the first piece is decoded after 8 frames, long before generation ends,
    and the pieces (decoded with left context) equal one decode of all the codes."""
    engine = family_engine(family)
    request = TTSRequest("Hello there, how are you?", sampling=Sampling(max_new_tokens=32, seed=1), stream_frames=8)
    segments = [s for s in engine.synthesize(request) if s.audio.size]
    assert len(segments) == 4 and segments[0].codes.shape == (10, 8)
    assert segments[0].timings["first_audio_s"] < segments[-1].timings["elapsed_s"] / 2
    streamed = np.concatenate([s.audio for s in segments])
    whole = engine.codec.decode(np.concatenate([s.codes for s in segments], axis=1))
    whole = np.asarray(whole.cpu() if hasattr(whole, "cpu") else whole, np.float32).reshape(-1)
    assert streamed.shape == whole.shape == (32 * 2048,)
    np.testing.assert_allclose(streamed, whole, atol=1e-4)


def test_fish_agent_with_a_new_family_is_a_503_that_says_why(family_engine, tmp_path):
    from fish_speech.service.runtime import Runtime
    from fish_speech.settings import Settings

    rt = Runtime(Settings(agent_backend="fish", references_dir=str(tmp_path)), engine=family_engine("s2-pro"))
    fetched = []
    agent = rt.ensure_agent(prepare=lambda: fetched.append(1))
    assert fetched == []  # no fish-agent download for a model it cannot speak with
    assert agent.error.code == 503 and "1.5" in agent.error.message and S2_PRO in agent.error.message
    assert "AGENT_BACKEND=llm" in rt.load_agent().error.message


def test_runtime_reports_the_family_and_model(family_engine, tiny_family_dir, tmp_path):
    from fish_speech.service.runtime import Runtime
    from fish_speech.settings import Settings

    rt = Runtime(Settings(references_dir=str(tmp_path)), engine=family_engine("s1-mini"))
    assert rt.model_info() == {"family": S1_MINI, "model": tiny_family_dir("s1-mini").name}
    assert Runtime(Settings(), error=FishError(503, None, "x")).model_info() == {"family": None, "model": None}
