"""RunPod serverless worker for Fish Speech: clone a voice from reference audio and speak text.

An adapter only: check the request (fish_speech.fields) -> run the engine on the model thread
(fish_speech.engine.scheduler) -> shape the output as chunk objects. Every job yields chunks; the
last one is always the `done` summary, and a failure is a yielded `{"error": <JSON text>}`, which
the SDK turns into a FAILED job. See runpod/README.md for the API.

Modes: env MODE (`agent` default, or `tts`); a request's `tts` flag overrides it per job. Each
mode is one entry of MODES: an async generator `(job, raw_input, worker) -> chunks`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import sys
import time
from contextlib import aclosing
from pathlib import Path

import runpod  # the SDK; import it before the repository root joins sys.path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

from fish_speech import audio as audio_io  # noqa: E402
from fish_speech.audio_chunks import CHUNK_BYTES, MAX_CHUNK_BYTES, AudioChunks, audio_chunks  # noqa: E402
from fish_speech.engine.types import TTSRequest  # noqa: E402
from fish_speech.errors import FishError, bad_input  # noqa: E402
from fish_speech.fields import Limits, parse_tts, sampling_from  # noqa: E402

log = logging.getLogger("fish_speech.runpod")

CHECKPOINTS = ROOT / "checkpoints" / "fish-speech-1.5"
CODEC_FILE = "firefly-gan-vq-fsq-8x1024-21hz-generator.pth"
AGENT_FIELDS = frozenset({"message", "system_message", "conversation_id", "tts"})


def env_flag(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    return default if not raw else raw in ("1", "true", "yes", "on")


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a number") from None


# numeric settings read per job; Worker.load checks them once so a typo fails loudly, not per job
JOB_SETTINGS = ("STREAM_FRAMES", "PROGRESS_FRAMES", "PROGRESS_INTERVAL", "AUDIO_CHUNK_BYTES")


def chunk_bytes() -> int:
    """Raw audio bytes per output chunk: AUDIO_CHUNK_BYTES, never more than MAX_CHUNK_BYTES."""
    try:
        size = int(env_float("AUDIO_CHUNK_BYTES", CHUNK_BYTES))
    except ValueError:
        size = CHUNK_BYTES
    return max(1024, min(size, MAX_CHUNK_BYTES))


def default_mode() -> str:
    mode = os.environ.get("MODE", "agent").strip().lower() or "agent"
    if mode not in MODES:
        raise ValueError(f"MODE must be one of {', '.join(MODES)}, not {mode!r}")
    return mode


def max_concurrency(current: int = 1) -> int:
    """The SDK's concurrency_modifier: how many jobs this worker takes at once (MAX_CONCURRENCY).
    It runs inside the SDK's job loop, so a bad value falls back to 1 instead of raising there."""
    try:
        return max(1, int(env_float("MAX_CONCURRENCY", 1)))
    except ValueError:
        log.warning("MAX_CONCURRENCY=%r is not a number; taking one job at a time", os.environ.get("MAX_CONCURRENCY"))
        return 1


# --------------------------------------------------------------------------- models
class Worker:
    """What jobs share: the engine, the model thread, the reference cache, or why loading failed."""

    def __init__(self, engine=None, error: FishError | None = None, agent=None, limits: Limits | None = None):
        from fish_speech.engine.scheduler import make_scheduler
        from fish_speech.references import ReferenceLibrary

        self.engine, self.error, self.agent = engine, error, agent
        self.limits = limits if limits is not None else Limits.from_env()
        self.encodes = 0
        self.scheduler = make_scheduler(engine) if engine is not None else None  # MAX_BATCH
        self.references = ReferenceLibrary(self._encode, root=os.environ.get("REFERENCES_DIR", "references"))

    @classmethod
    def load(cls) -> "Worker":
        """Load the models named by the environment; a failure is kept, not raised: every job then
        fails with a 503 saying why, instead of the process exiting and being restarted in a loop."""
        try:  # configuration first: a bad MODE or limit is as fatal as a missing checkpoint
            default_mode()
            limits = Limits.from_env()
            for name in JOB_SETTINGS:
                env_float(name, 0)
        except ValueError as err:
            log.error("worker misconfigured: %s", err)
            return cls(error=FishError(503, None, f"worker misconfigured: {err}"), limits=Limits())
        llama = os.environ.get("LLAMA_CHECKPOINT_PATH") or str(CHECKPOINTS)
        codec = os.environ.get("DECODER_CHECKPOINT_PATH") or str(Path(llama) / CODEC_FILE)  # as entrypoint.sh
        try:
            from fish_speech.engine.tts import TTSEngine

            t0 = time.perf_counter()
            engine = TTSEngine.load(
                llama,
                codec,
                device=os.environ.get("DEVICE") or None,
                half=env_flag("HALF"),
                compile=env_flag("COMPILE"),
            )
            log.info("models loaded in %.1f s on %s", time.perf_counter() - t0, engine.device)
        except Exception as err:  # noqa: BLE001 - reported to every job instead
            log.exception("loading the models failed")
            return cls(error=FishError(503, None, f"models not loaded: {type(err).__name__}: {err}"), limits=limits)
        try:
            agent = load_agent(engine)
        except Exception:  # noqa: BLE001 - tts keeps working; agent jobs get the 503
            log.exception("loading agent mode failed")
            agent = None
        return cls(engine=engine, agent=agent, limits=limits)

    def lookup(self, ref_id, data: bytes | None, text: str, use_cache: bool) -> tuple[list, int]:
        """(references, how many were encoded now rather than found in the cache); model thread."""
        before = self.encodes
        refs = list(self.references.by_id(ref_id, use_cache)) if ref_id is not None else []
        if data is not None:
            refs.append(self.references.from_audio(data, text, use_cache))
        return refs, self.encodes - before

    def _encode(self, data: bytes, text: str):
        """ReferenceLibrary's encoder: runs on the model thread, only on a cache miss."""
        self.encodes += 1
        limits = self.limits
        samples, sr = audio_io.decode_audio(
            data,
            "system_audio",
            max_bytes=limits.max_reference_bytes or None,
            max_seconds=limits.max_reference_seconds or None,
        )
        return self.engine.encode_reference(samples, sr, text)


def load_agent(engine):
    """Agent mode (issue 4): the backend of AGENT_BACKEND sharing the tts engine's codec; none
    under MODE=tts. A load failure comes back as an agent that answers every job with a 503."""
    if default_mode() == "tts":
        return None
    from fish_speech.agent.service import load_agent_service

    return load_agent_service(engine)


WORKER: Worker | None = None


async def get_worker() -> Worker:
    global WORKER
    if WORKER is None:
        WORKER = await asyncio.to_thread(Worker.load)
    return WORKER


# --------------------------------------------------------------------------- references
def fetch_url(url: str, limits: Limits) -> bytes:
    """Download reference audio with the SDK's SSRF guard, a size cap and a timeout."""
    from runpod.serverless.utils import rp_ssrf

    if not (url.startswith("https://") or (url.startswith("http://") and env_flag("ALLOW_HTTP_AUDIO_URLS"))):
        raise bad_input("system_audio", "a URL must start with https://")
    cap = limits.max_reference_bytes or None
    try:
        with rp_ssrf.safe_get(url, timeout=limits.reference_url_timeout, max_bytes=cap) as resp:
            if resp.status_code != 200:
                raise bad_input("system_audio", f"downloading the URL gave HTTP {resp.status_code}")
            return b"".join(rp_ssrf.iter_content_capped(resp, 65536, cap))
    except rp_ssrf.SSRFError as err:
        code = 413 if "size cap" in str(err) else 400
        raise FishError(code, "system_audio", f"URL refused: {err}") from None
    except OSError as err:  # requests' errors are OSErrors: DNS, refused, timeout
        raise bad_input("system_audio", f"could not download the URL: {type(err).__name__}") from None


def decode_base64(text: str, limits: Limits) -> bytes:
    return audio_io.decode_base64(text, "system_audio", max_bytes=limits.max_reference_bytes or None)


async def resolve_references(values: dict, worker: Worker) -> tuple[list, dict]:
    """The request's references (stored voice and/or uploaded audio) and how they were found."""
    source, data = values["system_audio"], None
    if source:
        fetch = fetch_url if source.startswith(("https://", "http://")) else decode_base64
        data = await asyncio.to_thread(fetch, source, worker.limits)
    refs, encoded = await worker.scheduler.call(
        worker.lookup, values["reference_id"], data, values["reference_text"] or "", values["use_memory_cache"]
    )
    info = {
        "reference_id": values["reference_id"],
        "uploaded": data is not None,
        "cached": (not encoded) if refs else None,
    }
    return refs, info


# --------------------------------------------------------------------------- output
def report_progress(job: dict, value: dict) -> None:
    """progress_update posts to the platform; outside it there is nobody to tell."""
    if os.environ.get("RUNPOD_WEBHOOK_POST_OUTPUT"):
        runpod.serverless.progress_update(job, value)


def upload_target(job: dict) -> dict | None:
    creds = job.get("s3Config") if isinstance(job.get("s3Config"), dict) else None
    if creds or os.environ.get("BUCKET_ENDPOINT_URL"):
        return {"creds": creds, "bucket": (creds or {}).get("bucketName") or os.environ.get("BUCKET_NAME")}
    return None


def upload_audio(job: dict, target: dict, data: bytes, fmt: str) -> str:
    from runpod.serverless.utils import rp_upload

    return rp_upload.upload_in_memory_object(
        f"{job['id']}.{fmt}", data, bucket_creds=target["creds"], bucket_name=target["bucket"], prefix=str(job["id"])
    )


# --------------------------------------------------------------------------- modes
async def tts_job(job: dict, raw: dict, worker: Worker):
    if worker.engine is None:
        raise FishError(503, None, "the tts engine is not loaded")
    if "text" not in raw and isinstance(raw.get("message"), str):
        raw = {**raw, "text": raw["message"]}  # the seed worker's clients send `message`
    values, unknown = parse_tts(raw, worker.limits, ignore=AGENT_FIELDS)
    if unknown:
        log.warning("job %s: ignoring unknown fields %s", job.get("id"), ", ".join(unknown))
    start = time.perf_counter()
    refs, ref_info = await resolve_references(values, worker)
    engine, streaming = worker.engine, values["streaming"]
    # frames per audio piece: small for a low first-audio latency, larger when only progress needs them
    frames = env_float("STREAM_FRAMES", 24) if streaming else env_float("PROGRESS_FRAMES", 128)
    request = TTSRequest(
        text=values["text"],
        references=refs,
        sampling=sampling_from(values),
        chunk_length=values["chunk_length"],
        normalize=values["normalize"],
        stream_frames=int(frames),
    )
    out, first_audio = AudioChunks(values["format"], engine.sample_rate, streaming, chunk_bytes()), None
    interval, last_report = env_float("PROGRESS_INTERVAL", 5.0), start
    try:
        async with aclosing(worker.scheduler.stream(engine.synthesize, request)) as segments:
            async for seg in segments:
                if not seg.audio.size:
                    continue
                first_audio = first_audio or time.perf_counter() - start
                for chunk in await out.add(seg.audio):
                    yield chunk
                if not streaming and time.perf_counter() - last_report >= interval:
                    last_report = time.perf_counter()
                    report_progress(
                        job,
                        {
                            "type": "progress",
                            "audio_seconds": round(out.duration, 2),
                            "text_chunk": seg.chunk_index,
                            "elapsed_s": round(last_report - start, 2),
                        },
                    )
        if not out.samples:  # the seed worker reported this as an empty success
            raise FishError(422, "text", "no audio generated; check the text (and the reference)")
        last, data = await out.finish()
    finally:
        out.close()
    for chunk in last:
        yield chunk
    done = {
        "type": "done",
        "mode": "tts",
        "format": out.format,
        "sample_rate": out.file_rate,
        "duration": round(out.duration, 3),
        "reference": ref_info,
        "seed": values["seed"],
    }
    if not streaming:
        target = upload_target(job)
        if target:
            done["audio_url"] = await asyncio.to_thread(upload_audio, job, target, data, out.format)
        elif len(data) <= out.chunk_bytes:
            done["audio"] = base64.b64encode(data).decode("ascii")
        else:  # RunPod takes at most 1 MB per output item: a longer file comes as audio chunks
            for chunk in out.split(data):
                yield chunk
        done["bytes"] = len(data)
    done["chunks"] = out.chunks
    total = time.perf_counter() - start
    done["timings"] = {
        "first_audio_s": None if first_audio is None else round(first_audio, 3),
        "total_s": round(total, 3),
        "rtf": round(total / out.duration, 3) if out.samples else None,
    }
    yield done


async def agent_job(job: dict, raw: dict, worker: Worker):
    """Agent mode (issue 4) plugs in here: `load_agent` provides `worker.agent`, and this generator
    turns its turns into `text`/`audio` chunks ending with the same `done` summary as tts."""
    if worker.agent is None:
        raise FishError(
            503, "tts", 'agent mode is not available in this worker; send "tts": true or start the worker with MODE=tts'
        )
    async for chunk in worker.agent(job, raw, worker):
        yield chunk


MODES = {"agent": agent_job, "tts": tts_job}


def pick_mode(raw: dict) -> str:
    flag = raw.get("tts")
    if flag is None:
        return default_mode()
    if not isinstance(flag, bool):
        raise bad_input("tts", f"must be true or false, not {type(flag).__name__}")
    return "tts" if flag else "agent"


def fit_output(chunk: dict, streamed: int) -> list[dict]:
    """RunPod takes at most 1 MB per output item. A `done` chunk (of any mode) whose whole-file
    `audio` is larger than one audio chunk gives it up as `audio` chunks sent right before it,
    numbered on from the `streamed` ones already sent; anything else passes unchanged."""
    audio = chunk.get("audio") if chunk.get("type") == "done" else None
    size = chunk_bytes()
    if not isinstance(audio, str) or len(audio) <= 4 * -(-size // 3):
        return [chunk]
    parts = audio_chunks(base64.b64decode(audio), chunk.get("format"), size, streamed)
    done = {k: v for k, v in chunk.items() if k != "audio"}
    done["chunks"] = streamed + len(parts)
    return parts + [done]


async def handler(job: dict):
    """The SDK's async generator handler: yields chunk objects, or one `{"error": JSON text}`."""
    try:
        raw = job.get("input")
        if not isinstance(raw, dict):
            raise bad_input("input", f"must be a JSON object, not {type(raw).__name__}")
        worker = await get_worker()
        if worker.error is not None:
            raise worker.error
        streamed = 0
        async with aclosing(MODES[pick_mode(raw)](job, raw, worker)) as chunks:
            async for chunk in chunks:
                for item in fit_output(chunk, streamed):
                    streamed += item.get("type") == "audio"
                    yield item
    except FishError as err:
        log.warning("job %s failed: %s %s", job.get("id"), err.code, err)
        yield {"error": err.to_json()}
    except Exception as err:  # noqa: BLE001 - the worker keeps serving; details stay in the log
        log.exception("job %s: unexpected failure", job.get("id"))
        yield {"error": FishError(500, None, f"internal error: {type(err).__name__}").to_json()}


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
    summary = {k: v for k, v in done.items() if k != "audio"}
    result = {"status": "COMPLETED", "items": len(chunks), "done": summary}
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
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    log.info("fish speech worker: MODE=%s, runpod %s", os.environ.get("MODE") or "agent", runpod.__version__)
    serving = "--rp_serve_api" in sys.argv or os.environ.get("RUNPOD_REALTIME_PORT")
    job = None
    if not serving and (args.test_input or not os.environ.get("RUNPOD_WEBHOOK_GET_JOB")):
        if args.test_input:
            job = json.loads(args.test_input)
        elif Path("test_input.json").is_file():
            job = json.loads(Path("test_input.json").read_text(encoding="utf-8"))
        else:
            sys.exit("no job to run: pass --test_input JSON or put test_input.json in the current directory")
        if not isinstance(job, dict) or not isinstance(job.get("input"), dict):
            sys.exit('the test job must be a JSON object with an "input" object')
    global WORKER
    WORKER = Worker.load()
    if job is not None:
        sys.exit(run_local(job, args.output))
    runpod.serverless.start(
        {"handler": handler, "return_aggregate_stream": True, "concurrency_modifier": max_concurrency}
    )


if __name__ == "__main__":
    main()
