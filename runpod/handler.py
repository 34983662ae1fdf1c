"""RunPod serverless worker for Fish Speech: clone a voice from reference audio and speak text.

An adapter only: read the job -> call the service (fish_speech.service) -> shape its events as chunk
objects (fish_speech.service.output). Every job yields chunks; the last one is always the `done`
summary, and a failure is a yielded `{"error": <JSON text>}`, which the SDK turns into a FAILED job.
Modes: MODE (`agent` default, or `tts`); a request's `tts` flag overrides it per job.
See runpod/README.md for the API and fish_speech/settings.py for every setting.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import sys
from contextlib import aclosing
from pathlib import Path

import runpod  # the SDK (this folder is not a package, so it cannot shadow it)
from fish_speech import runpod_io
from fish_speech.errors import FishError, bad_input
from fish_speech.service.fields import parse_tts
from fish_speech.service.output import as_chunks
from fish_speech.service.runtime import Runtime
from fish_speech.service.tts import TTSJob, tts_events
from fish_speech.service.voices import VoiceQuery
from fish_speech.settings import Settings, SettingsError

log = logging.getLogger("fish_speech.runpod")

AGENT_FIELDS = frozenset({"message", "system_message", "conversation_id", "tts"})
WORKER: Runtime | None = None


async def get_worker() -> Runtime:
    global WORKER
    if WORKER is None:
        WORKER = await asyncio.to_thread(load_worker)
    return WORKER


def load_worker(settings: Settings | None = None) -> Runtime:
    try:
        settings = settings or Settings.from_env()
    except SettingsError as err:
        log.error("worker misconfigured: %s", err)
        return Runtime(error=FishError(503, None, f"worker misconfigured: {err}"))
    return Runtime.load(settings, with_agent=settings.mode == "agent")


def tts_job(job: dict, raw: dict, rt: Runtime):
    rt.check_ready()
    if "text" not in raw and isinstance(raw.get("message"), str):
        raw = {**raw, "text": raw["message"]}  # the seed worker's clients send `message`
    values, unknown = parse_tts(raw, rt.limits, ignore=AGENT_FIELDS)
    if unknown:
        log.warning("job %s: ignoring unknown fields %s", job.get("id"), ", ".join(unknown))
    s, streaming = rt.settings, values["streaming"]
    audio = values["system_audio"]
    voice = VoiceQuery(
        reference_id=values["reference_id"],
        uploads=[(audio, values["reference_text"] or "", "system_audio")] if audio else [],
        use_cache=values["use_memory_cache"],
    )
    return tts_events(
        rt,
        TTSJob(
            values,
            voice,
            # frames per audio piece: small for a low first-audio latency, larger when only progress needs them
            stream_frames=s.stream_frames if streaming else s.progress_frames,
            fetch=runpod_io.fetcher(s),
            progress=None if streaming else runpod_io.progress_hook(job, s),
            progress_interval=s.progress_interval,
        ),
    )


def agent_job(job: dict, raw: dict, rt: Runtime):
    rt.check_ready()
    if rt.agent is None:
        raise FishError(
            503, "tts", 'agent mode is not available in this worker; send "tts": true or start it with MODE=agent'
        )
    return rt.agent.events(raw, rt.scheduler)


def pick_mode(raw: dict, default: str) -> str:
    flag = raw.get("tts")
    if flag is None:
        return default
    if not isinstance(flag, bool):
        raise bad_input("tts", f"must be true or false, not {type(flag).__name__}")
    return "tts" if flag else "agent"


async def handler(job: dict):
    """The SDK's async generator handler: yields chunk objects, or one `{"error": JSON text}`."""
    try:
        raw = job.get("input")
        if not isinstance(raw, dict):
            raise bad_input("input", f"must be a JSON object, not {type(raw).__name__}")
        rt = await get_worker()
        rt.check_ready()
        mode = pick_mode(raw, rt.settings.mode)
        events = (tts_job if mode == "tts" else agent_job)(job, raw, rt)
        size = rt.settings.audio_chunk_bytes
        upload = runpod_io.upload_hook(job, rt.settings) if mode == "tts" else None
        async with aclosing(as_chunks(events, size, inline_limit=size, upload=upload)) as chunks:
            async for chunk in chunks:
                yield chunk
    except FishError as err:
        log.warning("job %s failed: %s %s", job.get("id"), err.code, err)
        yield {"error": err.to_json()}
    except Exception as err:  # noqa: BLE001 - the worker keeps serving; details stay in the log
        log.exception("job %s: unexpected failure", job.get("id"))
        yield {"error": FishError(500, None, f"internal error: {type(err).__name__}").to_json()}


def max_concurrency(current: int = 1) -> int:
    """The SDK's concurrency_modifier: how many jobs this worker takes at once (MAX_CONCURRENCY)."""
    return WORKER.settings.max_concurrency if WORKER is not None else 1


# --------------------------------------------------------------------------- local one-shot
async def collect(job: dict) -> list[dict]:
    return [chunk async for chunk in handler(job)]


def run_local(job: dict, output: str | None) -> int:
    """Run one job for real (the SDK's own test mode never iterates a generator); write its audio."""
    job.setdefault("id", "local_test")
    chunks = asyncio.run(collect(job))
    if chunks and chunks[-1].get("error"):
        print(f"Job {job['id']} FAILED: {chunks[-1]['error']}", file=sys.stderr)
        return 1
    done = chunks[-1]
    result = {"status": "COMPLETED", "items": len(chunks), "done": {k: v for k, v in done.items() if k != "audio"}}
    parts = [c["audio"] for c in chunks if c.get("type") == "audio"] or [done.get("audio") or ""]
    if any(parts):  # not when the file went to a bucket (done.audio_url)
        path = Path(output or f"test_output.{done['format']}")
        path.write_bytes(b"".join(base64.b64decode(p) for p in parts))
        result["audio_file"] = str(path)
    print(json.dumps(result))
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test_input", help="job JSON to run once (else ./test_input.json)")
    parser.add_argument("--output", help="where a local run writes its audio (test_output.<format>)")
    args, _ = parser.parse_known_args()
    try:
        settings = Settings.from_env()
    except SettingsError as err:
        settings = None
        logging.basicConfig(level="INFO")
        log.error("worker misconfigured: %s", err)
    level = settings.log_level if settings else "INFO"
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    log.info("fish speech worker: MODE=%s, runpod %s", settings.mode if settings else "?", runpod.__version__)
    serving = "--rp_serve_api" in sys.argv or (settings and settings.runpod_realtime_port)
    job = None
    if not serving and (args.test_input or not (settings and settings.runpod_get_job)):
        if args.test_input:
            job = json.loads(args.test_input)
        elif Path("test_input.json").is_file():
            job = json.loads(Path("test_input.json").read_text(encoding="utf-8"))
        else:
            sys.exit("no job to run: pass --test_input JSON or put test_input.json in the current directory")
        if not isinstance(job, dict) or not isinstance(job.get("input"), dict):
            sys.exit('the test job must be a JSON object with an "input" object')
    global WORKER
    WORKER = load_worker(settings) if settings else load_worker()
    if job is not None:
        sys.exit(run_local(job, args.output))
    runpod.serverless.start(
        {"handler": handler, "return_aggregate_stream": True, "concurrency_modifier": max_concurrency}
    )


if __name__ == "__main__":
    main()
