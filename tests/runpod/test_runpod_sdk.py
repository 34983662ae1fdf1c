"""The worker as RunPod runs it: the SDK's production job loop against a local fake of the job
queue, driven by the official `runpod` client; the SDK's --rp_serve_api server; the one-shot
local run; entrypoint.sh. One worker process is shared by the production-loop tests."""

from __future__ import annotations

import base64
import json
import sys
import time

import numpy as np
import pytest
from runpod_fake_queue import FakeQueue
from runpod_testkit import (
    CLIENT,
    HANDLER,
    ROOT,
    audio_bytes,
    child_env,
    decode,
    echoing_python,
    fake_hub,
    load_module,
    start,
    start_listening,
    stop,
)

FRAME = 2048
AUDIO_CHUNK = 60000  # the worker's AUDIO_CHUNK_BYTES: a 16-frame wav (65.6 kB) needs two chunks


def tts(**fields):
    job = {"text": "Hello there. Nice to meet you.", "tts": True, "max_new_tokens": 8, "seed": 3}
    job.update(fields)
    return job


@pytest.fixture(scope="module")
def sdk():
    import runpod

    saved = (runpod.api_key, runpod.endpoint_url_base)
    runpod.api_key = "test-key"
    yield runpod
    runpod.api_key, runpod.endpoint_url_base = saved


@pytest.fixture(scope="module")
def queue_worker(sdk, tiny_checkpoints, references_dir, tmp_path_factory):
    """(fake queue, endpoint) with one worker in the SDK's production loop: MODE unset (tts),
    up to four jobs at a time, progress reported at every segment, small limits and audio chunks set
    through the environment."""
    llama, codec = tiny_checkpoints
    queue = FakeQueue().start()
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    env = child_env(
        **queue.worker_env(),
        LLAMA_CHECKPOINT_PATH=llama,
        DECODER_CHECKPOINT_PATH=codec,
        DEVICE="cpu",
        MAX_CONCURRENCY=4,
        PROGRESS_INTERVAL=0,
        PROGRESS_FRAMES=8,
        REFERENCES_DIR=references_dir,
        MAX_TEXT_LENGTH=500,
        MAX_REFERENCE_SECONDS=20,
        AUDIO_CHUNK_BYTES=AUDIO_CHUNK,
    )
    env.pop("MODE", None)
    proc = start([sys.executable, str(HANDLER)], env, log.parent, log)
    try:
        sdk.endpoint_url_base = queue.client_base
        endpoint = sdk.Endpoint(queue.endpoint)
        # the first job also waits out the worker's start (imports, model load)
        first = endpoint.run_sync({"input": tts()}, timeout=120)
        assert first and first[-1]["type"] == "done", log.read_text()[-3000:]
        yield queue, endpoint
    finally:
        stop(proc)
        queue.close()
        print(log.read_text()[-2000:])


def status_body(endpoint, job_id) -> dict:
    """The raw /status reply (the client's output() drops a FAILED job's error)."""
    return endpoint.rp_client.get(f"{endpoint.endpoint_id}/status/{job_id}")


def wait_final(endpoint, job, timeout=90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = status_body(endpoint, job.job_id)
        if body["status"] in ("COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"):
            return body
        time.sleep(0.5)
    raise TimeoutError(f"job {job.job_id} still {body['status']}")


def test_run_sync_returns_every_chunk(queue_worker):
    queue, endpoint = queue_worker
    output = endpoint.run_sync({"input": tts(streaming=False, format="flac")}, timeout=90)
    assert [c["type"] for c in output] == ["done"]
    samples, sr = decode(audio_bytes(output), "flac")
    assert sr == 44100 and len(samples) == 8 * FRAME
    # a whole file bigger than one output item comes as audio chunks before `done`
    output = endpoint.run_sync({"input": tts(streaming=False, format="wav", max_new_tokens=16)}, timeout=90)
    assert [c["type"] for c in output] == ["audio", "audio", "done"] and "audio" not in output[-1]
    assert len(decode(audio_bytes(output), "wav")[0]) == 16 * FRAME
    # every item the worker posted, in every test so far, kept to its chunk size (RunPod: 1 MB)
    assert 0 < queue.largest_stream_item <= AUDIO_CHUNK * 4 // 3 + 500


def test_run_then_status_with_progress(queue_worker):
    queue, endpoint = queue_worker
    job = endpoint.run({"input": tts(streaming=False, max_new_tokens=24, chunk_length=0)})
    body = wait_final(endpoint, job)
    assert body["status"] == "COMPLETED" and job.output(timeout=10)[-1]["duration"] > 0
    assert "executionTime" in body
    progress = queue.jobs[job.job_id].progress
    assert progress and progress[-1]["type"] == "progress"  # progress_update reached the queue


def test_stream_delivers_chunks_while_the_job_runs(queue_worker):
    queue, endpoint = queue_worker
    job = endpoint.run({"input": tts(streaming=True, format="wav", max_new_tokens=32)})
    chunks = list(job.stream())
    assert chunks[-1]["type"] == "done" and len(chunks) >= 5
    samples, sr = decode(audio_bytes(chunks), "wav")
    assert len(samples) == 32 * FRAME
    record = queue.jobs[job.job_id]
    assert record.status == "COMPLETED" and record.output == chunks  # return_aggregate_stream
    assert record.stream_times[0] < record.finished  # the first chunk came before the end


def test_cancel_stops_a_running_job(queue_worker):
    queue, endpoint = queue_worker
    job = endpoint.run({"input": tts(streaming=True, max_new_tokens=4000, chunk_length=0)})
    deadline = time.monotonic() + 60
    while not queue.jobs[job.job_id].stream and time.monotonic() < deadline:
        time.sleep(0.1)
    assert queue.jobs[job.job_id].stream, "the long job never streamed"
    assert job.cancel()["status"] == "CANCELLED"
    assert status_body(endpoint, job.job_id)["status"] == "CANCELLED"
    # the model thread is free again: a short job right after finishes quickly
    started = time.monotonic()
    assert endpoint.run_sync({"input": tts()}, timeout=60)[-1]["type"] == "done"
    assert time.monotonic() - started < 30
    assert len(queue.jobs[job.job_id].stream) < 50  # generation stopped long before 4000 frames


def test_two_jobs_at_once(queue_worker):
    queue, endpoint = queue_worker
    queue.max_in_progress = 0
    jobs = [endpoint.run({"input": tts(seed=s, max_new_tokens=16)}) for s in (1, 2)]
    bodies = [wait_final(endpoint, j) for j in jobs]
    assert [b["status"] for b in bodies] == ["COMPLETED", "COMPLETED"]
    assert queue.max_in_progress == 2


BAD = [
    ({"text": ""}, 400, "text"),
    ({"text": "hi", "format": "ogg-vorbis"}, 400, "format"),
    ({"text": "hi", "temperature": -1}, 400, "temperature"),
    ({"text": "hi", "system_audio": "%%%"}, 400, "system_audio"),
    ({"text": "hi", "reference_id": "../../etc"}, 400, "reference_id"),
    ({"text": "hi", "reference_id": "ghost"}, 404, "reference_id"),
    ({"text": "x" * 501}, 400, "text"),  # MAX_TEXT_LENGTH=500 in the worker's environment
    ({"text": "hi", "seed": "7"}, 400, "seed"),
    ({"text": "hi", "system_audio": base64.b64encode(b"not audio at all" * 64).decode()}, 400, "system_audio"),
    ({"text": "hi", "system_audio": None}, 413, "system_audio"),  # filled in below: 21 s > MAX_REFERENCE_SECONDS
]


def test_bad_inputs_fail_and_the_worker_keeps_serving(queue_worker):
    queue, endpoint = queue_worker
    from fish_speech.audio import encode_audio

    tone = (0.1 * np.sin(np.arange(21 * 8000) * 0.05)).astype(np.float32)
    too_long = base64.b64encode(encode_audio(tone, 8000, "wav")).decode()
    bad_inputs = [{**bad, "system_audio": too_long} if code == 413 else bad for bad, code, _ in BAD]
    jobs = [endpoint.run({"input": {"tts": True, **bad}}) for bad in bad_inputs]
    # an agent job loads the agent on first use: here its weights are missing and downloads are off
    agent = endpoint.run({"input": {"message": "hi", "tts": False}})
    for job, (_, code, field) in zip(jobs, BAD):
        body = wait_final(endpoint, job)
        assert body["status"] == "FAILED"
        error = json.loads(body["error"])
        assert (error["code"], error["field"]) == (code, field), error
    body = wait_final(endpoint, agent)
    assert body["status"] == "FAILED"
    error = json.loads(body["error"])
    assert error["code"] == 503 and "agent" in error["message"], error
    assert endpoint.run_sync({"input": tts()}, timeout=60)[-1]["type"] == "done"


def test_client_against_the_queue(queue_worker, tmp_path, capsys):
    queue, endpoint = queue_worker
    client = load_module(CLIENT, "fish_runpod_test_client")
    base = ["--endpoint", queue.endpoint, "--base-url", queue.client_base, "--api-key", "k"]
    out = tmp_path / "speech.wav"
    rc = client.main(base + ["--tts", "--text", "Hello there.", "--max-new-tokens", "8", "--output", str(out)])
    assert rc == 0 and len(decode(out.read_bytes(), "wav")[0]) == 8 * FRAME
    assert '"first_audio_s"' in capsys.readouterr().out
    out = tmp_path / "speech.mp3"
    rc = client.main(
        base
        + ["--tts", "--text", "Hi.", "--no-stream", "--format", "mp3", "--max-new-tokens", "8", "--output", str(out)]
    )
    assert rc == 0 and decode(out.read_bytes(), "mp3")[1] == 44100
    assert client.main(base + ["--tts", "--text", "Hi.", "--temperature", "9"]) == 1
    assert '"field": "temperature"' in capsys.readouterr().err


def test_rp_serve_api_with_the_official_client(sdk, tiny_checkpoints, tmp_path):
    llama, codec = tiny_checkpoints
    assert codec.parent == llama  # the official layout: no DECODER_CHECKPOINT_PATH needed
    env = child_env(MODE="tts", LLAMA_CHECKPOINT_PATH=llama, DEVICE="cpu", UVICORN_LOG_LEVEL="warning")
    env.pop("DECODER_CHECKPOINT_PATH", None)
    log = tmp_path / "serve.log"
    proc, port = start_listening(
        lambda port: [
            sys.executable,
            str(HANDLER),
            "--rp_serve_api",
            "--rp_api_host",
            "127.0.0.1",
            "--rp_api_port",
            str(port),
        ],
        env,
        tmp_path,
        log,
    )
    try:
        sdk.endpoint_url_base = f"http://127.0.0.1:{port}"
        output = sdk.Endpoint(".").run_sync({"input": {"text": "Hello.", "max_new_tokens": 8, "seed": 1}}, timeout=60)
        assert output[-1]["type"] == "done" and len(decode(audio_bytes(output), "wav")[0]) == 8 * FRAME
        client = load_module(CLIENT, "fish_runpod_test_client")
        for flags in (["--stream"], ["--no-stream"]):
            out = tmp_path / f"local{flags[0]}.wav"
            rc = client.main(
                [
                    "--local",
                    "--url",
                    f"http://127.0.0.1:{port}",
                    "--tts",
                    "--text",
                    "Hi.",
                    "--max-new-tokens",
                    "8",
                    "--output",
                    str(out),
                ]
                + flags
            )
            assert rc == 0 and len(decode(out.read_bytes(), "wav")[0]) == 8 * FRAME
    except BaseException:
        print(log.read_text(errors="replace")[-3000:])
        raise
    finally:
        stop(proc)


def run_entrypoint(tmp_path, env, args=(), timeout=120):
    import subprocess

    return subprocess.run(
        [str(ROOT / "entrypoint.sh"), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_entrypoint_runs_test_input_json_in_tts_mode(tiny_checkpoints, tmp_path):
    llama, codec = tiny_checkpoints
    # seeded: an unseeded draw may end the turn early on random weights (1 seed in 30 gives 6 frames)
    job = {"input": {"text": "Hello from the entrypoint.", "max_new_tokens": 8, "streaming": True, "seed": 1}}
    (tmp_path / "test_input.json").write_text(json.dumps(job))
    env = child_env(MODE="tts", LLAMA_CHECKPOINT_PATH=llama, DECODER_CHECKPOINT_PATH=codec, DEVICE="cpu")
    result = run_entrypoint(tmp_path, env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MODE=tts" in result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["status"] == "COMPLETED" and summary["done"]["duration"] > 0
    samples, sr = decode((tmp_path / "test_output.wav").read_bytes(), "wav")
    assert sr == 44100 and len(samples) == 8 * FRAME
    # arguments pass through: a --test_input job that fails exits non-zero with its error
    bad = run_entrypoint(tmp_path, env, ["--test_input", json.dumps({"input": {"text": ""}})])
    assert bad.returncode == 1 and '"field": "text"' in bad.stderr


def test_entrypoint_without_checkpoints_fails_clearly(tmp_path):
    env = child_env(MODE="tts", LLAMA_CHECKPOINT_PATH=tmp_path / "nothing")
    result = run_entrypoint(tmp_path, env, timeout=30)
    assert result.returncode == 1
    assert "checkpoints not found" in result.stderr and "model.pth" in result.stderr
    assert "Traceback" not in result.stderr
    assert run_entrypoint(tmp_path, child_env(MODE="chat"), timeout=30).returncode == 2


def test_entrypoint_downloads_missing_checkpoints_when_allowed(tiny_checkpoints, tmp_path):
    llama, codec = tiny_checkpoints
    hub = fake_hub(tmp_path, llama, codec)  # its download copies the tiny checkpoints
    python = echoing_python(tmp_path)  # the download snippet runs for real, the handler is echoed
    target = tmp_path / "ckpt"
    env = child_env(
        MODE="tts",
        LLAMA_CHECKPOINT_PATH=target,
        DOWNLOAD_CHECKPOINTS="true",
        PYTHON=python,
        PYTHONPATH=hub,
        HF_REPO="someone/some-model",
    )
    env.pop("DECODER_CHECKPOINT_PATH", None)
    result = run_entrypoint(tmp_path, env, ["--rp_serve_api", "--rp_api_port", "8123"], timeout=60)
    assert result.returncode == 0, result.stderr
    assert "fake download of someone/some-model" in result.stderr and "MODE=tts" in result.stderr
    assert (target / "model.pth").is_file() and (target / codec.name).is_file()
    assert result.stdout.strip().endswith("runpod/handler.py --rp_serve_api --rp_api_port 8123")
    # MODE defaults to tts and the agent loads on first use: nothing about it at start-up...
    env = {k: v for k, v in env.items() if k != "MODE"}
    env.update(DOWNLOAD_CHECKPOINTS="false", AGENT_CHECKPOINT_PATH=str(tmp_path / "no-agent"))
    result = run_entrypoint(tmp_path, env, timeout=60)
    assert result.returncode == 0 and "MODE=tts" in result.stderr and "WARNING" not in result.stderr, result.stderr
    assert "fake download" not in result.stderr  # the fish-speech checkpoints are there now
    # ...unless AGENT_PRELOAD asks for it: then missing fish-agent weights are a warning (tts still works)
    result = run_entrypoint(tmp_path, {**env, "AGENT_PRELOAD": "1"}, timeout=60)
    assert result.returncode == 0 and "WARNING" in result.stderr and "no-agent" in result.stderr, result.stderr


def test_hub_handler_shim_runs_the_worker(tiny_checkpoints, tmp_path):
    """RunPod Hub looks for .runpod/handler.py; it must run the same worker, arguments included."""
    import subprocess

    llama, codec = tiny_checkpoints
    job = {"input": {"text": "Hello from the hub.", "max_new_tokens": 4, "tts": True}}
    env = child_env(MODE="tts", LLAMA_CHECKPOINT_PATH=llama, DECODER_CHECKPOINT_PATH=codec, DEVICE="cpu")
    r = subprocess.run(
        [sys.executable, str(ROOT / ".runpod" / "handler.py"), "--test_input", json.dumps(job)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    samples, sr = decode((tmp_path / "test_output.wav").read_bytes(), "wav")
    assert sr == 44100 and len(samples) == 4 * FRAME
