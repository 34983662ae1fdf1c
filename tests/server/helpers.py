"""Helpers for the HTTP tests: free ports, a speech-like test tone, a server subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2]
REF_TEXT = "This is the reference voice."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def voice_wav(path: Path, seconds: float = 1.2, sr: int = 22050, pitch: float = 140.0) -> Path:
    """A voiced, speech-like tone (harmonics with a moving pitch) — enough for a random codec."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = pitch * (1 + 0.1 * np.sin(2 * np.pi * 2 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 8)) * 0.2 * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, x.astype(np.float32), sr)
    return path


class ServerProcess:
    """`python -m <module> ...` in `cwd`; ready once GET /v1/health answers."""

    def __init__(self, module: str, args: list[str], cwd: Path, env: dict | None = None, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = cwd / f"{module.replace('.', '_')}-{self.port}.log"
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", "DEFAULT_SEED": "1", **(env or {})}
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args], cwd=cwd, env=full_env, stdout=self.log, stderr=subprocess.STDOUT
        )
        self._wait()

    def _wait(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/v1/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server did not become ready:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()[-4000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def model_args(workdir: Path) -> list[str]:
    return [
        "--llama-checkpoint-path",
        str(workdir / "llama"),
        "--decoder-checkpoint-path",
        str(workdir / "codec.pth"),
        "--decoder-config-name",
        "firefly_gan_vq",
        "--device",
        "cpu",
    ]
