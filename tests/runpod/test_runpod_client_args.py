"""The test client turns its agent flags into the request fields the worker reads."""

import base64
import json

from runpod_testkit import CLIENT, load_module


def test_agent_flags_build_the_request(tmp_path, speech_wav):
    client = load_module(CLIENT, "fish_runpod_test_client_args")
    history = tmp_path / "history.json"
    history.write_text(json.dumps([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]))
    a = client.parse_args(["--local", "--message", "What time is it?", "--system-message", "Be brief.",
                           "--system-audio", str(speech_wav), "--message-audio", str(speech_wav),
                           "--history", str(history), "--return-codes", "--temperature", "0.5", "--no-stream"])
    job = client.build_input(a)
    assert job["message"] == "What time is it?" and job["system_message"] == "Be brief."
    assert base64.b64decode(job["message_audio"]) == speech_wav.read_bytes() == base64.b64decode(job["system_audio"])
    assert job["history"][1]["content"] == "hello" and job["return_codes"] is True
    assert job["temperature"] == 0.5 and job["streaming"] is False and "tts" not in job
    tts = client.build_input(client.parse_args(["--local", "--tts", "--message", "Say this."]))
    assert tts == {"tts": True, "text": "Say this.", "streaming": True, "format": "wav"}
