"""Issue 12, item 14: ordinary M4A/AAC files (index at the end, no +faststart) decode to their full length."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from fish_speech.audio.decode import decode_audio

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")


@pytest.mark.parametrize("seconds", [5, 20])
def test_m4a_without_faststart_decodes(tmp_path, seconds):
    path = tmp_path / f"tone{seconds}.m4a"
    tone = f"sine=frequency=220:sample_rate=22050:duration={seconds}"
    cmd = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", tone, "-c:a", "aac", "-b:a", "32k", str(path)]
    subprocess.run(cmd, capture_output=True, check=True)
    assert path.read_bytes().find(b"moov") > path.read_bytes().find(b"mdat")  # the index is at the end
    audio, sr = decode_audio(path.read_bytes(), "system_audio", max_seconds=90)
    assert sr == 22050
    assert abs(len(audio) / sr - seconds) < 0.1
