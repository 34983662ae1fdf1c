"""Fixtures for the RunPod worker tests (the handler loaded by path, a worker on the tiny engine)."""

from __future__ import annotations

import base64
import shutil
from dataclasses import fields

import pytest
from runpod_testkit import HANDLER, configure, load_module

from fish_speech.settings import Settings


@pytest.fixture(scope="session")
def handler_module():
    return load_module(HANDLER, "fish_runpod_handler")


@pytest.fixture(scope="session")
def references_dir(tmp_path_factory, speech_wav, speech_text):
    """A references root holding one named voice, `alice` (audio + .lab transcript)."""
    root = tmp_path_factory.mktemp("references")
    (root / "alice").mkdir()
    shutil.copy(speech_wav, root / "alice" / "alice.wav")
    (root / "alice" / "alice.lab").write_text(speech_text, encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def tts_worker(handler_module, tiny_engine, references_dir):
    """The worker's runtime around the shared tiny engine; installed as the handler's WORKER."""
    from fish_speech.service.runtime import Runtime
    from fish_speech.settings import Settings

    worker = Runtime(Settings(references_dir=str(references_dir)), engine=tiny_engine)
    handler_module.WORKER = worker
    return worker


@pytest.fixture()
def worker(handler_module, tts_worker, monkeypatch):
    """Per test: the shared worker installed with default settings, quick streaming, no downloads."""
    monkeypatch.setattr(handler_module, "WORKER", tts_worker)
    defaults = {f.name: f.default for f in fields(Settings)}
    overrides = {"stream_frames": 8, "references_dir": str(tts_worker.voices.root), "download_checkpoints": False}
    configure(monkeypatch, tts_worker, **{**defaults, **overrides})
    monkeypatch.setattr(tts_worker, "agent", None)
    return tts_worker


@pytest.fixture(scope="session")
def speech_b64(speech_wav) -> str:
    return base64.b64encode(speech_wav.read_bytes()).decode("ascii")
