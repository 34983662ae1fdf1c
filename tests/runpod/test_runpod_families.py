"""The worker in the SDK's production loop (fake job queue, official `runpod` client) on tiny OpenAudio
S1-mini and Fish Audio S2-Pro checkpoints: `LLAMA_CHECKPOINT_PATH` names the folder, the codec is found
beside the weights, jobs are sent exactly as for 1.5. One worker per family, started side by side."""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from runpod_fake_queue import FakeQueue
from runpod_testkit import HANDLER, audio_bytes, child_env, decode, start, stop

FRAME = 2048
FAMILY = {"s1-mini": "openaudio-s1-mini", "s2-pro": "fish-audio-s2-pro"}


def tts(**fields):
    job = {"text": "Hello there. Nice to meet you.", "tts": True, "max_new_tokens": 8, "seed": 3}
    return {"input": {**job, **fields}}


def _worker(queue, endpoint, folder, references_dir, log):
    env = child_env(
        **queue.worker_env(),
        LLAMA_CHECKPOINT_PATH=folder,
        DEVICE="cpu",
        REFERENCES_DIR=references_dir,
        AGENT_CHECKPOINT_PATH=log.parent / "no-agent",
    )
    env.pop("MODE", None)
    env.pop("DECODER_CHECKPOINT_PATH", None)  # the family's codec beside the weights
    proc = start([sys.executable, str(HANDLER)], env, log.parent, log)
    first = endpoint.run_sync(tts(), timeout=180)  # also waits out the worker's start
    assert first and first[-1]["type"] == "done", log.read_text()[-3000:]
    return proc


@pytest.fixture(scope="module")
def workers(tiny_family_dir, references_dir, tmp_path_factory):
    """family -> (fake queue, endpoint): one worker each, in the SDK's production loop."""
    import runpod

    saved = (runpod.api_key, runpod.endpoint_url_base)
    runpod.api_key = "test-key"
    queues, endpoints = {}, {}
    for short in FAMILY:  # an endpoint keeps the base URL it was made with: one per queue
        queues[short] = FakeQueue().start()
        runpod.endpoint_url_base = queues[short].client_base
        endpoints[short] = runpod.Endpoint(queues[short].endpoint)
    folders = {short: tiny_family_dir(short) for short in FAMILY}
    logs = {short: tmp_path_factory.mktemp(f"worker-{short}") / "worker.log" for short in FAMILY}
    with ThreadPoolExecutor(len(FAMILY)) as pool:  # the two start-ups overlap
        futures = [pool.submit(_worker, queues[s], endpoints[s], folders[s], references_dir, logs[s]) for s in FAMILY]
        procs = [f.result() for f in futures]
    yield {s: (queues[s], endpoints[s]) for s in FAMILY}
    for proc in procs:
        stop(proc)
    for queue in queues.values():
        queue.close()
    runpod.api_key, runpod.endpoint_url_base = saved


@pytest.fixture(params=sorted(FAMILY))
def fam(request, workers, tiny_family_dir):
    queue, endpoint = workers[request.param]
    return request.param, queue, endpoint, tiny_family_dir(request.param).name


def failure(endpoint, job) -> dict:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        body = endpoint.rp_client.get(f"{endpoint.endpoint_id}/status/{job.job_id}")
        if body["status"] in ("COMPLETED", "FAILED"):
            assert body["status"] == "FAILED", body
            return json.loads(body["error"])
        time.sleep(0.3)
    raise TimeoutError(job.job_id)


def test_whole_file_and_done_summary(fam):
    short, _, endpoint, model = fam
    output = endpoint.run_sync(tts(streaming=False, format="flac"), timeout=90)
    done = output[-1]
    assert done["type"] == "done" and (done["family"], done["model"]) == (FAMILY[short], model)
    samples, sr = decode(audio_bytes(output), "flac")
    assert sr == 44100 and len(samples) == 8 * FRAME


def test_stream_arrives_while_the_job_runs(fam):
    _, queue, endpoint, _ = fam
    job = endpoint.run(tts(streaming=True, format="wav", max_new_tokens=32))
    chunks = list(job.stream())
    assert chunks[-1]["type"] == "done" and len(chunks) >= 4
    assert len(decode(audio_bytes(chunks), "wav")[0]) == 32 * FRAME
    record = queue.jobs[job.job_id]
    assert record.stream_times[0] < record.finished  # early first audio: decoded with left context


def test_every_seed_field_and_the_family_knobs(fam, speech_b64, speech_text):
    short, _, endpoint, _ = fam
    fields = dict(system_audio=speech_b64, reference_text=speech_text, reference_id="alice", temperature=0.5)
    fields.update(top_p=0.8, chunk_length=0, normalize=True, use_memory_cache=False, format="mp3", streaming=False)
    if short == "s2-pro":
        fields["top_k"] = 12
    else:
        fields["repetition_penalty"] = 1.1
    output = endpoint.run_sync(tts(**fields), timeout=90)
    assert output[-1]["type"] == "done" and output[-1]["reference"]["reference_id"] == "alice"
    other = {"repetition_penalty": 1.5} if short == "s2-pro" else {"top_k": 12}
    error = failure(endpoint, endpoint.run(tts(**other)))
    assert (error["code"], error["field"]) == (400, next(iter(other))) and FAMILY[short] in error["message"]


def test_the_fish_agent_backend_is_refused_with_the_reason(fam):
    short, _, endpoint, _ = fam
    error = failure(endpoint, endpoint.run({"input": {"message": "hi", "tts": False}}))
    assert error["code"] == 503 and "1.5" in error["message"] and FAMILY[short] in error["message"]
    assert endpoint.run_sync(tts(), timeout=60)[-1]["type"] == "done"  # tts keeps working
