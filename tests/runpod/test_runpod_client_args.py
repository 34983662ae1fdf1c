"""The test client turns its agent flags into the request fields the worker reads."""

import base64
import json

from runpod_testkit import CLIENT, load_module


def test_agent_flags_build_the_request(tmp_path, speech_wav):
    client = load_module(CLIENT, "fish_runpod_test_client_args")
    history = tmp_path / "history.json"
    history.write_text(json.dumps([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]))
    a = client.parse_args(
        [
            "--local",
            "--message",
            "What time is it?",
            "--system-message",
            "Be brief.",
            "--system-audio",
            str(speech_wav),
            "--message-audio",
            str(speech_wav),
            "--history",
            str(history),
            "--return-codes",
            "--temperature",
            "0.5",
            "--no-stream",
        ]
    )
    job = client.build_input(a)
    assert job["message"] == "What time is it?" and job["system_message"] == "Be brief."
    assert base64.b64decode(job["message_audio"]) == speech_wav.read_bytes() == base64.b64decode(job["system_audio"])
    assert job["history"][1]["content"] == "hello" and job["return_codes"] is True
    assert job["temperature"] == 0.5 and job["streaming"] is False and "tts" not in job
    tts = client.build_input(client.parse_args(["--local", "--tts", "--message", "Say this."]))
    assert tts == {"tts": True, "text": "Say this.", "streaming": True, "format": "wav"}


def test_a_job_that_did_not_complete_is_an_error():
    client = load_module(CLIENT, "fish_runpod_test_client_args")
    err = json.dumps({"code": 400, "field": "text", "message": "must not be empty"})
    assert client.job_error({"status": "FAILED", "error": err}) == err
    assert "CANCELLED" in client.job_error({"id": "j", "status": "CANCELLED"})  # exit status 1, not 0
    assert "no result" in client.job_error({"id": "j", "status": "TIMED_OUT", "error": "no result after 5 s"})
    assert "IN_PROGRESS" in client.job_error({"id": "j", "status": "IN_PROGRESS"})
    assert client.job_error({"status": "COMPLETED", "output": [{"type": "done"}]}) is None
    # the local test server completes a job whose generator yielded an error
    assert client.job_error({"status": "COMPLETED", "output": [{"error": err}]}) == err


def test_sink_joins_audio_chunks_or_takes_the_done_audio(tmp_path):
    client = load_module(CLIENT, "fish_runpod_test_client_args")
    enc = lambda b: base64.b64encode(b).decode()  # noqa: E731
    sink = client.Sink(tmp_path / "a.bin")
    for chunk in (
        {"type": "audio", "audio": enc(b"RIFF")},
        {"type": "audio", "audio": enc(b"data")},
        {"type": "done", "duration": 1.0},
    ):
        sink(chunk)
    sink.close()
    assert (tmp_path / "a.bin").read_bytes() == b"RIFFdata" and sink.done["duration"] == 1.0
    sink = client.Sink(tmp_path / "b.bin")
    sink({"type": "done", "audio": enc(b"whole")})
    sink.close()
    assert (tmp_path / "b.bin").read_bytes() == b"whole"


def test_unreadable_audio_and_an_absent_local_worker_are_one_line_each(tmp_path, capsys, monkeypatch):
    import socket

    client = load_module(CLIENT, "fish_runpod_test_client_args")
    rc = client.main(["--local", "--tts", "--text", "hi", "--system-audio", str(tmp_path / "missing.wav")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and err.startswith("error: cannot read") and "missing.wav" in err
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(client, "LOCAL_WAIT_S", 0.5)
    rc = client.main(["--local", "--url", f"http://127.0.0.1:{port}", "--tts", "--text", "hi"])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and "no worker is listening" in err


def test_a_saved_streamed_wav_gets_its_real_sizes(tmp_path):
    import wave

    import numpy as np

    from fish_speech.audio import AudioStreamEncoder

    enc = AudioStreamEncoder("wav", 44100)
    streamed = enc.feed(np.zeros(4410, np.float32)) + enc.finish()
    assert streamed[4:8] == b"\xff\xff\xff\xff"  # open-ended while streaming
    client = load_module(CLIENT, "fish_runpod_test_client_args")
    sink = client.Sink(tmp_path / "out.wav")
    sink({"type": "audio", "audio": base64.b64encode(streamed).decode()})
    sink.close()
    with wave.open(str(tmp_path / "out.wav")) as w:  # the standard library's parser reads the sizes
        assert (w.getnframes(), w.getframerate()) == (4410, 44100)
