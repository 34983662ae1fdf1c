"""The official `openai` client, unchanged, against POST /v1/audio/speech."""

from __future__ import annotations

import io

import openai
import pytest
import soundfile as sf

FISH = {"max_new_tokens": 16, "seed": 7}  # Fish extensions travel in the client's extra_body


@pytest.fixture()
def oai(base_url):
    return openai.OpenAI(base_url=f"{base_url}/v1", api_key="not-needed", max_retries=0, timeout=120)


def seconds(data: bytes) -> float:
    info = sf.info(io.BytesIO(data))
    return info.frames / info.samplerate


def test_preset_voice_wav(oai):
    r = oai.audio.speech.create(
        model="tts-1", voice="alloy", input="Hello from OpenAI.", response_format="wav", extra_body=FISH
    )
    assert r.content[:4] == b"RIFF" and seconds(r.content) > 0


def test_default_format_is_mp3_and_streams(oai, tmp_path):
    out = tmp_path / "speech.mp3"
    with oai.audio.speech.with_streaming_response.create(
        model="tts-1", voice="narrator", input="A saved voice, streamed.", extra_body=FISH
    ) as r:
        assert r.headers["content-type"] == "audio/mpeg"
        assert r.headers["transfer-encoding"] == "chunked"
        r.stream_to_file(out)
    data = out.read_bytes()
    assert data[:3] == b"ID3" or data[0] == 0xFF


def test_speed_changes_tempo(oai):
    kw = dict(model="tts-1", voice="narrator", input="Same words twice.", response_format="wav")
    normal = oai.audio.speech.create(**kw, extra_body=FISH).content
    fast = oai.audio.speech.create(**kw, speed=2.0, extra_body=FISH).content
    assert seconds(fast) == pytest.approx(seconds(normal) / 2, rel=0.05)


def test_unknown_voice_and_bad_format_are_client_errors(oai):
    with pytest.raises(openai.NotFoundError) as err:
        oai.audio.speech.create(model="tts-1", voice="nobody-here", input="x", extra_body=FISH)
    assert err.value.body["field"] == "voice"
    with pytest.raises(openai.BadRequestError) as err:
        oai.audio.speech.create(model="tts-1", voice="alloy", input="x", response_format="aac", extra_body=FISH)
    assert err.value.body["field"] == "response_format"
    with pytest.raises(openai.BadRequestError):
        oai.audio.speech.create(model="tts-1", voice="../narrator", input="x", extra_body=FISH)
