"""Shared fixtures: tiny random checkpoints in the official layout, a loaded engine, real speech."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SPEECH_TEXT = "Hello there. This is a short test of the speech system."

# Tiny models are all small ops: one thread beats thread hand-offs on a 2-core CI machine (measured
# 10-50x on small convs when the cores are shared). Subprocesses keep their own default.
import torch  # noqa: E402

from tests.requires import need_tool  # noqa: E402

torch.set_num_threads(1)


def pytest_configure(config):
    config.addinivalue_line("markers", "compile: a torch.compile test (slow on CPU); .ci/run runs it on its own")


def pytest_collection_modifyitems(config, items):
    """Tests marked `cuda` skip cleanly on machines without a GPU (CI); gpu_check.sh runs them."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if item.get_closest_marker("cuda"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory) -> Path:
    from fish_speech.testing.checkpoints import TINY_CONFIG, write_language_model

    return write_language_model(tmp_path_factory.mktemp("tiny-lm"), TINY_CONFIG, 256)


@pytest.fixture()
def tiny_lm(tiny_lm_dir):
    from fish_speech.models.text2semantic.loader import load_language_model

    return load_language_model(tiny_lm_dir, device="cpu")


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> tuple[Path, Path]:
    """(model dir, codec file) written once per test session."""
    from fish_speech.testing.checkpoints import write_checkpoints

    return write_checkpoints(tmp_path_factory.mktemp("tiny-ckpt"))


@pytest.fixture(scope="session")
def tiny_engine(tiny_checkpoints):
    from fish_speech.engine.tts import TTSEngine

    llama, codec = tiny_checkpoints
    return TTSEngine.load(llama, codec, device="cpu")


@pytest.fixture(scope="session")
def speech_text() -> str:
    return SPEECH_TEXT


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory) -> Path:
    """A few seconds of real speech from espeak-ng (22.05 kHz mono wav)."""
    need_tool("espeak-ng")
    path = tmp_path_factory.mktemp("speech") / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), SPEECH_TEXT], check=True, capture_output=True)
    return path


@pytest.fixture(scope="session")
def tiny_s1_dir(tmp_path_factory) -> Path:
    """A tiny OpenAudio S1-mini language-model folder in the official layout."""
    from fish_speech.testing.new_checkpoints import write_s1_mini

    return write_s1_mini(tmp_path_factory.mktemp("tiny-s1"))


@pytest.fixture(scope="session")
def tiny_s2_dir(tmp_path_factory) -> Path:
    """A tiny Fish Audio S2-Pro language-model folder in the official layout."""
    from fish_speech.testing.new_checkpoints import write_s2_pro

    return write_s2_pro(tmp_path_factory.mktemp("tiny-s2"))


# The new families on every surface: tiny folders that hold their codec too (as the downloads do).
NEW_FAMILIES = ("s1-mini", "s2-pro")


@pytest.fixture(scope="session")
def tiny_family_dir(tmp_path_factory):
    """family ("s1-mini" | "s2-pro") -> a tiny checkpoint folder with its `codec.pth`, written once."""
    from fish_speech.testing.new_checkpoints import write_s1_mini, write_s2_pro

    made: dict[str, Path] = {}

    def get(family: str) -> Path:
        if family not in made:
            folder = tmp_path_factory.mktemp(f"tiny-{family}")
            made[family] = Path(
                write_s2_pro(folder, codec=True) if family == "s2-pro" else write_s1_mini(folder, codec=True)
            )
        return made[family]

    return get


@pytest.fixture(scope="session")
def family_engine(tiny_engine, tiny_family_dir):
    """family ("1.5" | "s1-mini" | "s2-pro") -> a tts engine on its tiny checkpoint, loaded once."""
    from fish_speech.engine.tts import TTSEngine

    loaded = {"1.5": tiny_engine}

    def get(family: str):
        if family not in loaded:
            loaded[family] = TTSEngine.load(tiny_family_dir(family), device="cpu")
        return loaded[family]

    return get
