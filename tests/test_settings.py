"""fish_speech.settings: every environment variable read in one place, typed, checked, documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fish_speech.settings import Limits, Settings, SettingsError, settings_table

ROOT = Path(__file__).resolve().parents[1]


def test_values_are_parsed_by_kind():
    s = Settings.from_env(
        {"HALF": "yes", "COMPILE": "0", "MAX_BATCH": "4", "PROGRESS_INTERVAL": "2.5", "MODE": " TTS ", "DEVICE": "cpu"}
    )
    assert (s.half, s.compile, s.max_batch, s.progress_interval, s.mode, s.device) == (
        True,
        False,
        4,
        2.5,
        "tts",
        "cpu",
    )
    assert Settings.from_env({}) == Settings()  # nothing set: the documented defaults
    assert Settings.from_env({"MAX_BATCH": "  "}).max_batch == 1  # blank is unset


@pytest.mark.parametrize(
    "env,word",
    [
        ({"MODE": "chat"}, "MODE"),
        ({"HALF": "maybe"}, "HALF"),
        ({"MAX_BATCH": "2.5"}, "MAX_BATCH"),
        ({"MAX_BATCH": "0"}, "MAX_BATCH"),
        ({"MAX_TEXT_LENGTH": "lots"}, "MAX_TEXT_LENGTH"),
        ({"REFERENCE_URL_TIMEOUT": "nan"}, "REFERENCE_URL_TIMEOUT"),
        ({"MAX_REFERENCE_BYTES": "-1"}, "MAX_REFERENCE_BYTES"),
    ],
)
def test_bad_values_name_the_variable(env, word):
    with pytest.raises(SettingsError, match=word):
        Settings.from_env(env)


def test_limits_follow_the_settings():
    s = Settings.from_env({"MAX_TEXT_LENGTH": "10", "MAX_NEW_TOKENS_LIMIT": "100", "MAX_REFERENCE_SECONDS": "30.5"})
    limits = Limits.from_settings(s)
    assert (limits.max_text_length, limits.max_new_tokens, limits.max_reference_seconds) == (10, 100, 30.5)
    assert Limits.from_settings(Settings()) == Limits()


def test_one_setting_alone_ignores_the_others():
    env = {"GRADIO_SERVER_PORT": "9000", "MAX_BATCH": "not a number"}
    assert Settings.one("webui_port", env) == 9000
    assert Settings.one("api_key", env) is None


def test_the_documentation_table_is_the_generated_one():
    doc = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    assert settings_table() in doc


def test_no_module_but_settings_reads_the_environment():
    readers = re.compile(r"os\.environ|os\.getenv|getenv\(")
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("fish_speech", "runpod", "tools")
        for path in (ROOT / folder).rglob("*.py")
        if path.name != "settings.py" and readers.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_http_server_refuses_a_bad_setting_with_one_line(tmp_path):
    import os
    import subprocess
    import sys

    env = {**os.environ, "MAX_BATCH": "lots"}
    r = subprocess.run(
        [sys.executable, "-m", "tools.api_server", "--listen", "127.0.0.1:1", "--llama-checkpoint-path", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert r.returncode == 1 and r.stderr.strip().splitlines() == ["error: MAX_BATCH='lots' is not a number"]


def test_default_seed_fills_only_requests_without_one():
    from fish_speech.service.fields import sampling_from

    settings = Settings.from_env({"DEFAULT_SEED": "7"})
    assert settings.default_seed == 7 and Settings.from_env({}).default_seed is None
    values = {"temperature": 0.8, "top_p": 0.8, "repetition_penalty": 1.1, "max_new_tokens": 8, "seed": None}
    assert sampling_from(values, settings.default_seed).seed == 7
    assert sampling_from({**values, "seed": 3}, settings.default_seed).seed == 3
    assert sampling_from(values).seed is None
    with pytest.raises(SettingsError, match="DEFAULT_SEED"):
        Settings.from_env({"DEFAULT_SEED": "-1"})
