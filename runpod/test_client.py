"""Send one job to the Fish Speech worker and save the audio it returns.

Deployed endpoint:  python runpod/test_client.py --endpoint ID --api-key KEY --tts --text "Hi"
Local worker:       python runpod/test_client.py --local --tts --text "Hi"
                    (against `python runpod/handler.py --rp_serve_api`, default http://localhost:8000)

Uses the official `runpod` client for every call. Prints text, timings and errors; the exit
status is 0 when the job completed, 1 when it failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import time
from pathlib import Path

from runpod.endpoint.runner import RunPodClient

import runpod
from fish_speech.audio.encode import finalize_wav
from fish_speech.settings import Settings

FINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMED_OUT"}


def build_input(a: argparse.Namespace) -> dict:
    job: dict = {}
    if a.tts:
        job["tts"] = True
        job["text"] = a.text or a.message
    else:
        if a.text is not None:
            job["text"] = a.text
        if a.message is not None:
            job["message"] = a.message
    for field, value in (("system_audio", a.system_audio), ("message_audio", a.message_audio)):
        if value:
            remote = value.startswith(("https://", "http://"))
            job[field] = value if remote else base64.b64encode(Path(value).read_bytes()).decode("ascii")
    if a.history:
        job["history"] = json.loads(Path(a.history).read_text())
    if a.return_codes:
        job["return_codes"] = True
    optional = {
        "reference_text": a.reference_text,
        "reference_id": a.reference_id,
        "system_message": a.system,
        "conversation_id": a.conversation_id,
        "conversation_token": a.conversation_token,
        "streaming": a.stream,
        "format": a.format,
        "temperature": a.temperature,
        "top_p": a.top_p,
        "repetition_penalty": a.repetition_penalty,
        "top_k": a.top_k,
        "chunk_length": a.chunk_length,
        "max_new_tokens": a.max_new_tokens,
        "seed": a.seed,
        "normalize": a.normalize,
        "use_memory_cache": a.use_memory_cache,
    }
    job.update({k: v for k, v in optional.items() if v is not None})
    return job


def job_error(body: dict) -> str | None:
    """The failure text of a status body (FAILED, CANCELLED, TIMED_OUT), or of a failed local
    (--rp_serve_api) run; None for a completed job."""
    status = body.get("status")
    if status in FINAL - {"COMPLETED"}:
        return str(body.get("error") or f"the job ended {status}")
    if status not in (None, "COMPLETED"):  # IN_QUEUE / IN_PROGRESS: /runsync gave up waiting
        return f"the job is still {status} (id {body.get('id')}); ask /status/{body.get('id')} later"
    out = body.get("output")
    if isinstance(out, list) and out and isinstance(out[-1], dict) and out[-1].get("error"):
        return str(out[-1]["error"])  # the local test server keeps a yielded error as output
    return None


def run_remote(client: RunPodClient, endpoint: str, job: dict, stream: bool, timeout: float, sink) -> dict:
    """Submit with /run, read /stream (chunks as they come) or poll /status; return the last status."""
    submitted = client.post(f"{endpoint}/run", {"input": job})
    job_id = submitted["id"]
    print(f"job {job_id} submitted", file=sys.stderr)
    deadline = time.monotonic() + timeout
    while True:
        if stream:
            body = client.get(f"{endpoint}/stream/{job_id}")
            for item in body.get("stream", []):
                sink(item.get("output"))
        body = client.get(f"{endpoint}/status/{job_id}")
        if body.get("status") in FINAL:
            if stream:  # chunks that arrived between the last two polls
                for item in client.get(f"{endpoint}/stream/{job_id}").get("stream", []):
                    sink(item.get("output"))
            else:
                for chunk in body.get("output") or []:
                    sink(chunk)
            return body
        if time.monotonic() > deadline:
            client.post(f"{endpoint}/cancel/{job_id}", None)
            return {"id": job_id, "status": "TIMED_OUT", "error": f"no result after {timeout:g} s; cancelled"}
        time.sleep(1)


def run_local(client: RunPodClient, job: dict, stream: bool, sink) -> dict:
    """The SDK's local test server: /runsync, or /run then POST /stream for the chunk list."""
    if stream:
        job_id = client.post("./run", {"input": job})["id"]
        body = client.post(f"./stream/{job_id}", None, timeout=3600)
        for item in body.get("stream", []):
            sink(item.get("output"))
        body["output"] = [item.get("output") for item in body.get("stream", [])]
        return body
    body = client.post("./runsync", {"input": job}, timeout=3600)
    for chunk in body.get("output") or []:
        sink(chunk)
    return body


class Sink:
    """Writes audio chunks to the output file in order, prints text, keeps the `done` summary."""

    def __init__(self, path: Path):
        self.path, self.file, self.done, self.audio_bytes, self.texts = path, None, None, 0, 0

    def __call__(self, chunk):
        if not isinstance(chunk, dict):
            return
        kind = chunk.get("type")
        if kind == "text":
            print(chunk.get("text", ""), end="", flush=True)
            self.texts += 1
        elif kind in ("audio", "done") and chunk.get("audio"):
            data = base64.b64decode(chunk["audio"])
            if self.file is None:
                self.file = open(self.path, "wb")
            self.file.write(data)
            self.file.flush()
            self.audio_bytes += len(data)
        if kind == "done":
            self.done = chunk

    def close(self):
        if self.file is not None:
            self.file.close()  # a streamed WAV gets its real sizes, so players see its length
            self.path.write_bytes(finalize_wav(self.path.read_bytes()))
        if self.texts:
            print()
        elif self.done and self.done.get("text"):  # agent mode without streamed text
            print(self.done["text"])


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = p.add_argument_group("where")
    where.add_argument("--endpoint", help="RunPod endpoint id")
    where.add_argument("--api-key", default=Settings.one("runpod_api_key"), help="or env RUNPOD_API_KEY")
    where.add_argument("--base-url", help="API base instead of https://api.runpod.ai/v2")
    where.add_argument("--local", action="store_true", help="talk to a local --rp_serve_api worker")
    where.add_argument("--url", default="http://localhost:8000", help="local worker URL (%(default)s)")
    where.add_argument("--timeout", type=float, default=600, help="seconds to wait (%(default)s)")
    what = p.add_argument_group("request")
    what.add_argument("--text", help="text to speak (tts)")
    what.add_argument("--message", help="user message (agent mode); the text when --tts has no --text")
    what.add_argument("--system-message", "--system", dest="system", help="system message (agent mode)")
    what.add_argument("--message-audio", help="audio file of the user speaking (agent mode)")
    what.add_argument("--history", help="JSON file with a client-held history list (agent mode, no server state)")
    what.add_argument("--return-codes", action="store_true", help="ask for VQ codes in the returned history")
    what.add_argument("--system-audio", help="reference audio file (or an https:// URL)")
    what.add_argument("--reference-text", help="transcript of the reference audio")
    what.add_argument("--reference-id", help="name of a voice stored on the worker")
    what.add_argument("--tts", action="store_true", help='send "tts": true (direct text-to-speech)')
    what.add_argument(
        "--stream",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="stream audio chunks (default) or get one file",
    )
    what.add_argument("--format", default="wav", help="wav, mp3, flac, opus or pcm (%(default)s)")
    what.add_argument("--conversation-id", help="conversation to continue (agent mode)")
    what.add_argument("--conversation-token", help="the token the conversation's first turn printed")
    what.add_argument("--temperature", type=float)
    what.add_argument("--top-p", type=float)
    what.add_argument("--repetition-penalty", type=float)
    what.add_argument("--top-k", type=int, help="S2-Pro only")
    what.add_argument("--chunk-length", type=int)
    what.add_argument("--max-new-tokens", type=int)
    what.add_argument("--seed", type=int)
    what.add_argument("--normalize", action=argparse.BooleanOptionalAction, default=None)
    what.add_argument("--use-memory-cache", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--output", help="audio file to write (default output.<format>)")
    a = p.parse_args(argv)
    if not a.local and not a.endpoint:
        p.error("give --endpoint ID (with --api-key or RUNPOD_API_KEY) or --local")
    if not a.local and not a.api_key and not a.base_url:
        p.error("a deployed endpoint needs --api-key or RUNPOD_API_KEY")
    if a.tts and not (a.text or a.message):
        p.error("--tts needs --text (or --message)")
    if not a.tts and not (a.text or a.message):
        p.error("give --text with --tts, or --message for agent mode")
    return a


LOCAL_WAIT_S = 3.0  # how long --local looks for a listening worker before saying so


def local_worker_listening(url: str, wait_s: float = LOCAL_WAIT_S) -> bool:
    """True once something accepts connections at `url` (tried for `wait_s` seconds)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port or (443 if parts.scheme == "https" else 80)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.25)


def main(argv=None) -> int:
    a = parse_args(argv)
    try:
        job = build_input(a)
    except OSError as err:  # an audio or history file that cannot be read
        print(f"error: cannot read {err.filename}: {err.strerror}", file=sys.stderr)
        return 2
    if a.local and not local_worker_listening(a.url):
        print(
            f"error: no worker is listening at {a.url} (tried for {LOCAL_WAIT_S:g} s); start one with "
            "`python runpod/handler.py --rp_serve_api` or pass --url",
            file=sys.stderr,
        )
        return 1
    runpod.api_key = a.api_key or "local"
    if a.local:
        runpod.endpoint_url_base = a.url.rstrip("/")
    elif a.base_url:
        runpod.endpoint_url_base = a.base_url.rstrip("/")
    client = RunPodClient()
    sink = Sink(Path(a.output or f"output.{a.format}"))
    started = time.monotonic()
    try:
        body = (
            run_local(client, job, a.stream, sink)
            if a.local
            else run_remote(client, a.endpoint, job, a.stream, a.timeout, sink)
        )
    except Exception as err:  # noqa: BLE001 - connection refused, HTTP errors, bad JSON
        print(f"request failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    finally:
        sink.close()
    error = job_error(body)
    if error:
        try:
            error = json.dumps(json.loads(error), indent=2)
        except ValueError:
            pass
        print(f"job {body.get('id')} {body.get('status', 'FAILED')}:\n{error}", file=sys.stderr)
        return 1
    done = sink.done or {}
    if done.get("audio_url"):
        print(f"audio uploaded: {done['audio_url']}")
    if done.get("conversation_token"):
        print(f"conversation_token: {done['conversation_token']} (send it with --conversation-token)")
    if sink.audio_bytes:
        print(f"audio: {sink.path} ({sink.audio_bytes} bytes, {done.get('duration')} s, {done.get('format')})")
    print(
        json.dumps(
            {
                "status": body.get("status"),
                "timings": done.get("timings"),
                "client_total_s": round(time.monotonic() - started, 3),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
