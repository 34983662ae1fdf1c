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
