"""fish_speech.service.fields: the request-field rules every surface shares."""

from __future__ import annotations

import pytest

from fish_speech.errors import FishError
from fish_speech.service.fields import TTS_RULES, Limits, Rule, check_value, parse_fields, parse_tts, sampling_from


def test_defaults_and_types():
    values, unknown = parse_tts({"text": "Hi", "extra": 1, "message": "x"}, Limits(), ignore={"message"})
    assert unknown == ["extra"]
    assert values == {
        "text": "Hi",
        "reference_text": "",
        "system_audio": None,
        "reference_id": None,
        "streaming": True,
        "format": "wav",
        "temperature": 0.7,
        "top_p": 0.7,
        "repetition_penalty": 1.2,
        "top_k": None,  # the family's default (S2-Pro: 30)
        "chunk_length": 200,
        "max_new_tokens": 0,
        "seed": None,
        "normalize": True,
        "use_memory_cache": True,
    }
    s = sampling_from(values)
    assert (s.temperature, s.top_p, s.repetition_penalty, s.max_new_tokens, s.seed) == (0.7, 0.7, 1.2, 0, None)
    assert s.top_k is None


@pytest.mark.parametrize(
    "name,raw,expected",
    [
        ("temperature", 1, 1.0),  # an int is a fine float
        ("chunk_length", 150.0, 150),  # a whole float is a fine int
        ("format", " MP3 ", "mp3"),
        ("use_memory_cache", "never", False),
        ("seed", None, None),
        ("reference_text", None, ""),
    ],
)
def test_accepted_spellings(name, raw, expected):
    values, _ = parse_fields({"text": "x", name: raw}, TTS_RULES)
    assert values[name] == expected


@pytest.mark.parametrize(
    "name,raw",
    [
        ("temperature", float("nan")),
        ("temperature", True),
        ("streaming", 0),
        ("text", None),
        ("seed", 2**32),
        ("top_p", 1.5),
        ("max_new_tokens", 2.5),
        ("format", 3),
    ],
)
def test_rejected_values_name_their_field(name, raw):
    with pytest.raises(FishError) as err:
        parse_tts({"text": "x", name: raw}, Limits())
    assert (err.value.code, err.value.field) == (400, name)


def test_limits_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("MAX_TEXT_LENGTH", "10")
    monkeypatch.setenv("MAX_REFERENCE_SECONDS", "30.5")
    monkeypatch.setenv("MAX_NEW_TOKENS_LIMIT", "100")
    limits = Limits.from_env()
    assert (limits.max_text_length, limits.max_reference_seconds, limits.max_new_tokens) == (10, 30.5, 100)
    with pytest.raises(FishError, match="limit is 10"):
        parse_tts({"text": "x" * 11}, limits)
    with pytest.raises(FishError) as err:
        parse_tts({"text": "x", "max_new_tokens": 101}, limits)
    assert err.value.field == "max_new_tokens"
    monkeypatch.setenv("MAX_TEXT_LENGTH", "0")  # 0 switches a limit off
    parse_tts({"text": "x" * 5000}, Limits.from_env())
    monkeypatch.setenv("MAX_TEXT_LENGTH", "lots")
    with pytest.raises(ValueError, match="MAX_TEXT_LENGTH"):
        Limits.from_env()


def test_a_rule_table_of_another_surface():
    rules = {"voice": Rule("str", "default", choices=("default", "deep")), "n": Rule("int", 1, 1, 4)}
    assert parse_fields({}, rules)[0] == {"voice": "default", "n": 1}
    with pytest.raises(FishError):
        check_value("n", rules["n"], 5)
