"""Fixtures for the RunPod worker tests (the handler loaded by path, a worker on the tiny engine)."""

from __future__ import annotations

import base64
import shutil

import pytest
from runpod_testkit import HANDLER, load_module


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
    """The handler's Worker around the shared tiny engine; installed as the handler's WORKER."""
    mp = pytest.MonkeyPatch()
    mp.setenv("REFERENCES_DIR", str(references_dir))
    worker = handler_module.Worker(engine=tiny_engine)
    mp.undo()
    handler_module.WORKER = worker
    return worker


@pytest.fixture()
def worker(handler_module, tts_worker, monkeypatch):
    """Per test: the shared worker installed, default limits, quick streaming, MODE=agent."""
    monkeypatch.setattr(handler_module, "WORKER", tts_worker)
    monkeypatch.setattr(tts_worker, "limits", handler_module.Limits())
    monkeypatch.setenv("STREAM_FRAMES", "8")
    monkeypatch.delenv("MODE", raising=False)
    monkeypatch.delenv("BUCKET_ENDPOINT_URL", raising=False)
    return tts_worker


@pytest.fixture(scope="session")
def speech_b64(speech_wav) -> str:
    return base64.b64encode(speech_wav.read_bytes()).decode("ascii")
