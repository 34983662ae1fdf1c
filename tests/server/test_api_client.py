"""`python -m tools.api_client` (and its 1.2 name `tools.post_api`) end to end against the server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import soundfile as sf

from tests.server.helpers import REF_TEXT, ROOT


def run_client(args, cwd, module="tools.api_client"):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_seed_command_streaming_with_reference_audio(base_url, ref_wav, tmp_path):
    r = run_client(
        [
            "--url",
            f"{base_url}/v1/tts",
            "--text",
            "Text to be input",
            "--reference_audio",
            str(ref_wav),
            "--reference_text",
            REF_TEXT,
            "--streaming",
            "True",
            "--max_new_tokens",
            "12",
            "--output",
            "streamed",
        ],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    audio, sr = sf.read(tmp_path / "streamed.wav")  # header sizes were fixed after the stream
    assert sr == 44100 and len(audio) > 0
    assert "no sound device" in r.stderr  # CI has none: the file is the result


def test_reference_id_format_and_json_body(base_url, tmp_path):
    r = run_client(
        [
            "-u",
            f"{base_url}/v1/tts",
            "-t",
            "Saved voice.",
            "-id",
            "narrator",
            "--format",
            "mp3",
            "--max_new_tokens",
            "8",
            "--play",
            "False",
            "--msgpack",
            "False",
            "-o",
            "out.mp3",
        ],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    data = (tmp_path / "out.mp3").read_bytes()
    assert data[:3] == b"ID3" or data[0] == 0xFF


def test_post_api_speaker_emotion_from_local_ref_data(base_url, workdir, tmp_path):
    shutil.copytree(workdir / "ref_data", tmp_path / "ref_data")
    r = run_client(
        [
            "--url",
            f"{base_url}/v1/tts",
            "--text",
            "Text to be input",
            "--speaker",
            "SPEAKER1",
            "--emotion",
            "CALM",
            "--streaming",
            "True",
            "--max_new_tokens",
            "8",
            "--play",
            "False",
        ],
        tmp_path,
        module="tools.post_api",
    )
    assert r.returncode == 0, r.stderr
    assert "ref_data/SPEAKER1/CALM/" in r.stderr.replace("\\", "/")
    assert sf.info(tmp_path / "generated_audio.wav").frames > 0


def test_speaker_is_picked_by_the_server_when_not_local(base_url, tmp_path):
    r = run_client(
        [
            "--url",
            f"{base_url}/v1/tts",
            "--text",
            "Hi.",
            "--speaker",
            "SPEAKER1",
            "--max_new_tokens",
            "8",
            "--play",
            "False",
        ],
        tmp_path,
    )
    assert r.returncode == 0, r.stderr
    r = run_client(["--url", f"{base_url}/v1/tts", "--text", "Hi.", "--speaker", "GHOST", "--play", "False"], tmp_path)
    assert r.returncode == 1 and "404 speaker" in r.stderr


def test_errors_exit_non_zero_with_one_line(base_url, tmp_path):
    r = run_client(
        ["--url", f"{base_url}/v1/tts", "--text", "x", "--reference_id", "../../etc", "--play", "False"], tmp_path
    )
    assert r.returncode == 1 and r.stderr.startswith("error: 400 reference_id")
    r = run_client(["--url", "http://127.0.0.1:9/v1/tts", "--text", "x", "--play", "False", "--timeout", "5"], tmp_path)
    assert r.returncode == 1 and "cannot reach" in r.stderr


FAKE_SOUNDDEVICE = '''
import os


class RawOutputStream:
    """Stands in for PortAudio: what would be played is appended to $FAKE_SOUND_OUT."""

    def __init__(self, samplerate, channels, dtype):
        assert dtype == "int16"
        self.out = open(os.environ["FAKE_SOUND_OUT"], "ab")
        with open(os.environ["FAKE_SOUND_OUT"] + ".rate", "w") as f:
            f.write(f"{samplerate} {channels}")

    def start(self):
        pass

    def write(self, data):
        self.out.write(bytes(data))

    def close(self):
        self.out.close()
'''


def test_plays_on_a_sound_device_when_there_is_one(base_url, tmp_path):
    """With a (fake) sounddevice, streamed WAV is played as it arrives and whole files after download."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "sounddevice.py").write_text(FAKE_SOUNDDEVICE)
    played = tmp_path / "played.pcm"
    env = {**os.environ, "PYTHONPATH": f"{fake}{os.pathsep}{ROOT}", "FAKE_SOUND_OUT": str(played)}
    for streaming in ("True", "False"):
        played.unlink(missing_ok=True)
        out = tmp_path / f"s-{streaming}.wav"
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "tools.api_client",
                "--url",
                f"{base_url}/v1/tts",
                "--text",
                "Play me.",
                "--streaming",
                streaming,
                "--max_new_tokens",
                "12",
                "--output",
                str(out),
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr
        assert "no sound device" not in r.stderr
        assert (tmp_path / "played.pcm.rate").read_text() == "44100 1"
        samples, _ = sf.read(out, dtype="int16")
        assert len(samples) > 0
        assert played.read_bytes() == samples.astype("<i2").tobytes(), streaming  # exactly the file's audio


def test_every_entry_point_takes_the_seed_flags(tmp_path):
    """The seed's commands and their 1.2-era names all exist and accept the documented flags."""
    server_flags = [
        "--listen",
        "--llama-checkpoint-path",
        "--decoder-checkpoint-path",
        "--decoder-config-name",
        "--compile",
        "--half",
        "--device",
        "--api-key",
    ]
    client_flags = [
        "--text",
        "--reference_audio",
        "--reference_text",
        "--streaming",
        "--output",
        "--format",
        "--speaker",
        "--emotion",
        "--reference_id",
        "--url",
        "--api_key",
        "--play",
    ]
    expected = {
        "tools.api_server": server_flags,
        "tools.api": server_flags,
        "tools.run_webui": server_flags[1:] + ["--max-gradio-length"],
        "tools.webui": server_flags[1:] + ["--max-gradio-length"],
        "tools.api_client": client_flags,
        "tools.post_api": client_flags,
    }
    for module, flags in expected.items():
        r = run_client(["--help"], tmp_path, module=module)
        assert r.returncode == 0, (module, r.stderr)
        missing = [f for f in flags if f not in r.stdout]
        assert not missing, (module, missing)
    assert "GRADIO_SERVER_PORT" in run_client(["--help"], tmp_path, module="tools.run_webui").stdout
