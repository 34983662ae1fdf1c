"""Helpers for the RunPod worker tests: load the handler by path, run jobs, decode audio, processes."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
HANDLER = ROOT / "runpod" / "handler.py"
CLIENT = ROOT / "runpod" / "test_client.py"


def load_module(path: Path, name: str):
    """Import a file of runpod/ by path (runpod/ is not a package: it must not shadow the SDK)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def configure(monkeypatch, worker, **changes):
    """Change the worker's settings for one test (the limits follow); undone afterwards."""
    from fish_speech.settings import Limits

    settings = worker.settings.replace(**changes)
    monkeypatch.setattr(worker, "settings", settings)
    monkeypatch.setattr(worker, "limits", Limits.from_settings(settings))


def run_job(handler_module, job_input, job_id: str = "test-job") -> list[dict]:
    """Iterate the async generator handler exactly as the SDK would, collecting every chunk."""
    return asyncio.run(handler_module.collect({"id": job_id, "input": job_input}))


def error_of(chunks: list[dict]) -> dict | None:
    """The parsed error of a failed job's last chunk, else None."""
    if chunks and chunks[-1].get("error"):
        return json.loads(chunks[-1]["error"])
    return None


def audio_bytes(chunks: list[dict]) -> bytes:
    """The job's audio file: streamed chunks concatenated, or the done chunk's whole file."""
    parts = [c["audio"] for c in chunks if c.get("type") == "audio"]
    if not parts:
        parts = [chunks[-1]["audio"]]
    return b"".join(base64.b64decode(p) for p in parts)


def decode(data: bytes, fmt: str, sample_rate: int = 44100) -> tuple[np.ndarray, int]:
    """Decode a file of `fmt` back to samples (pcm is raw 16-bit little-endian mono)."""
    if fmt == "pcm":
        return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768, sample_rate
    from fish_speech.audio import decode_audio  # reads streamed FLAC of unknown length too

    return decode_audio(data, "test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listening on {port} after {timeout} s")


def child_env(**extra) -> dict:
    """Environment for a worker process: quiet logs, one torch thread, no network downloads."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RUNPOD_")}
    env.update(
        RUNPOD_LOG_LEVEL="INFO",
        OMP_NUM_THREADS="1",
        DOWNLOAD_CHECKPOINTS="false",
        HF_HUB_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        STREAM_FRAMES="8",
        DEFAULT_SEED="1",  # unseeded jobs repeatable: random weights may end a turn early on some draws
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def fake_hub(tmp_path: Path, folder: Path, *files: Path) -> Path:
    """A stand-in `huggingface_hub` (returns the folder to put on PYTHONPATH): its snapshot_download
    copies `folder` (and `files`) into local_dir and logs the repository and whether a token came."""
    hub = tmp_path / "fakehub" / "huggingface_hub"
    hub.mkdir(parents=True)
    copies = "".join(f"    shutil.copy({str(f)!r}, local_dir)\n" for f in files)
    (hub / "__init__.py").write_text(
        "import shutil, sys\n"
        "def snapshot_download(repo_id, local_dir, **kw):\n"
        f"    shutil.copytree({str(folder)!r}, local_dir, dirs_exist_ok=True)\n"
        + copies
        + "    print('fake download of', repo_id, 'token' if kw.get('token') else 'no token', file=sys.stderr)\n"
    )
    return hub.parent


def echoing_python(tmp_path: Path) -> Path:
    """A stand-in python for entrypoint.sh: scripts run for real, the handler's command line
    (`python -u ...`) is echoed as `HANDLER ...` instead of starting a worker."""
    python = tmp_path / "python"
    python.write_text(
        f'#!/bin/sh\nif [ "$1" = "-u" ]; then echo "HANDLER $*"; exit 0; fi\nexec {sys.executable} "$@"\n'
    )
    python.chmod(0o755)
    return python


def start_listening(cmd, env: dict, cwd: Path, log: Path, attempts: int = 3) -> tuple[subprocess.Popen, int]:
    """Start `cmd(port)` on a free port and wait until it listens; a new port if another process
    took the chosen one first (the server then exits before listening)."""
    for attempt in range(attempts):
        port = free_port()
        proc = start(cmd(port), env, cwd, log)
        try:
            wait_port(port, proc, timeout=120)
            return proc, port
        except RuntimeError:
            stop(proc)
            if attempt == attempts - 1:
                raise RuntimeError(f"server did not start:\n{log.read_text(errors='replace')[-3000:]}") from None
        except BaseException:
            stop(proc)
            raise
    raise AssertionError("unreachable")


def start(cmd: list[str], env: dict, cwd: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(proc: subprocess.Popen) -> None:
    """Kill a process we started (and its children), bounded."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(5)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(5)
