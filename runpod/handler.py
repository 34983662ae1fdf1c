"""RunPod serverless worker for Fish Speech: clone a voice from reference audio and speak text.

An adapter: read the job -> call the service (fish_speech.service) -> yield its events as chunk objects,
the last one the `done` summary, or one `{"error": <JSON text>}` (a FAILED job). Every worker serves both
modes (MODE is the default of a job without a `tts` flag). API: runpod/README.md; settings: docs/settings.md.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import sys
from contextlib import aclosing

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
    """The process's runtime; a misconfiguration or load failure makes every job a clear 503."""
    try:
        settings = settings or Settings.from_env()
    except SettingsError as err:
        log.error("worker misconfigured: %s", err)
        return Runtime(error=FishError(503, None, f"worker misconfigured: {err}"))
    rt = Runtime.load(settings, with_agent=settings.agent_preload)
    if rt.agent is None and rt.error is None:
        log.info("agent mode: the model loads on the first agent job (AGENT_PRELOAD=1 loads it at start-up)")
    return rt


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
    # frames per audio piece: small for an early first audio, larger when only progress needs them
    frames = s.stream_frames if streaming else s.progress_frames
    progress = None if streaming else runpod_io.progress_hook(job, s)
    job = TTSJob(values, voice, frames, runpod_io.fetcher(s), progress, s.progress_interval)
    return tts_events(rt, job)


async def agent_job(job: dict, raw: dict, rt: Runtime):
    rt.check_ready()
    # every worker serves both modes: the agent model loads on the first agent job unless preloaded
    agent = rt.agent or await asyncio.to_thread(
        rt.ensure_agent, functools.partial(runpod_io.ensure_agent_weights, rt.settings)
    )
    async for event in agent.events(raw, rt.scheduler):
        yield event


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
        events = tts_job(job, raw, rt) if mode == "tts" else agent_job(job, raw, rt)
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


async def collect(job: dict) -> list[dict]:
    return [chunk async for chunk in handler(job)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test_input", help="job JSON to run once (else ./test_input.json)")
    parser.add_argument("--output", help="where a local run writes its audio (test_output.<format>)")
    args, _ = parser.parse_known_args()
    try:
        settings = Settings.from_env()
    except SettingsError as err:
        settings = None  # every job will fail with a 503 naming the variable
        print(f"error: worker misconfigured: {err}", file=sys.stderr)
    level = settings.log_level if settings else "INFO"
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    runpod_io.quiet_sdk_logs(settings or Settings())
    log.info("fish speech worker: MODE=%s, runpod %s", settings.mode if settings else "?", runpod.__version__)
    local = not ("--rp_serve_api" in sys.argv or (settings and settings.runpod_realtime_port))
    local = local and bool(args.test_input or not (settings and settings.runpod_get_job))
    try:
        job = runpod_io.read_test_job(args.test_input) if local else None
    except FishError as err:
        sys.exit(f"error: {err}")
    global WORKER
    WORKER = load_worker(settings)
    if job is not None:  # the SDK's own test mode never iterates a generator: run it for real
        sys.exit(runpod_io.save_local_result(job, asyncio.run(collect(job)), args.output))
    runpod.serverless.start(
        {"handler": handler, "return_aggregate_stream": True, "concurrency_modifier": max_concurrency}
    )


if __name__ == "__main__":
    main()
