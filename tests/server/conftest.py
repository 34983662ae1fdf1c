"""Real servers on loopback ports for the HTTP tests, started as users start them (`python -m ...`).

One API server (agent mode too) is shared by the whole session, and one keyed server with small
limits (`locked`); the web-UI launcher test starts its own. Every server runs in a scratch
folder holding tiny random checkpoints, saved voices and a ref_data tree.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.server.helpers import REF_TEXT, ROOT, ServerProcess, free_port, model_args, voice_wav


@pytest.fixture(scope="session")
def ref_wav(tmp_path_factory) -> Path:
    return voice_wav(tmp_path_factory.mktemp("voice") / "ref.wav")


@pytest.fixture(scope="session")
def workdir(tmp_path_factory, tiny_checkpoints, ref_wav) -> Path:
    """Scratch folder: checkpoints, references/narrator, ref_data/SPEAKER1/{HAPPY,CALM}."""
    root = tmp_path_factory.mktemp("http")
    llama, codec = tiny_checkpoints
    (root / "llama").symlink_to(llama)
    (root / "codec.pth").symlink_to(codec)
    narrator = root / "references" / "narrator"
    voice_wav(narrator / "narrator.wav", pitch=120)
    (narrator / "narrator.lab").write_text(REF_TEXT)
    for emotion, pitch in (("HAPPY", 200), ("CALM", 110)):
        for i in range(2):
            clip = root / "ref_data" / "SPEAKER1" / emotion / f"{i}.0-{i + 1}.5.wav"
            voice_wav(clip, pitch=pitch + 10 * i)
            clip.with_suffix(".lab").write_text(f"{emotion.lower()} clip {i}")
    return root


@pytest.fixture(scope="session")
def agent_checkpoint(tmp_path_factory) -> Path:
    from fish_speech.testing.agent_checkpoint import write_agent_checkpoint

    return write_agent_checkpoint(tmp_path_factory.mktemp("agent"))


@pytest.fixture(scope="session")
def server(workdir, agent_checkpoint):
    """The shared API server (tts + agent), as `python -m tools.api_server` starts it."""
    port = free_port()
    proc = ServerProcess(
        "tools.api_server",
        [
            "--listen",
            f"127.0.0.1:{port}",
            *model_args(workdir),
            "--mode",
            "agent",
            "--agent-checkpoint-path",
            str(agent_checkpoint),
        ],
        cwd=workdir,
        env={"CONVERSATION_STORE": "memory", "MIN_CHUNK_LENGTH": "10"},  # the streaming test splits at 30
        port=port,
    )
    yield proc
    proc.stop()


API_KEY = "s3cret-key"


@pytest.fixture(scope="session")
def locked(workdir):
    """A second server with a key, a 1 MiB body cap and a 40-character text limit, started under
    `tools.api` (the 1.2-era name). Shared by the HTTP key tests and the page's key test."""
    port = free_port()
    proc = ServerProcess(
        "tools.api",
        [
            "--listen",
            f"127.0.0.1:{port}",
            *model_args(workdir),
            "--api-key",
            API_KEY,
            "--max-request-mb",
            "1",
            "--max-text-length",
            "40",
        ],
        cwd=workdir,
        port=port,
    )
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def base_url(server) -> str:
    return server.url


@pytest.fixture()
def client(base_url):
    with httpx.Client(base_url=base_url, timeout=120.0) as c:
        yield c


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = ROOT / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
