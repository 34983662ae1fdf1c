"""A tts job, written once for every surface: checked request -> voices -> engine -> audio events.

`tts_events(runtime, job)` is an async generator of `AudioBytes` (streamed pieces, or the whole file
at the end) and one closing `JobDone` whose summary every surface reports. The engine runs on the
runtime's model thread; leaving the `async for` early stops it between frames.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field

import numpy as np

from fish_speech.audio.sink import AudioSink
from fish_speech.engine.types import TTSRequest
from fish_speech.errors import FishError
from fish_speech.service.audio_input import Fetch, audio_bytes
from fish_speech.service.events import AudioBytes, JobDone
from fish_speech.service.fields import chunk_length_for, sampling_from
from fish_speech.service.voices import VoiceQuery, resolve_voice
from fish_speech.settings import Settings

Progress = Callable[[dict], None]  # called with {"audio_seconds", "text_chunk", "elapsed_s"} while not streaming


@dataclass
class TTSJob:
    values: dict  # checked fields: text, sampling, chunk_length, normalize, format, streaming, seed
    voice: VoiceQuery = field(default_factory=VoiceQuery)
    stream_frames: int = Settings().stream_frames  # STREAM_FRAMES: pieces after the first (TTSEngine.synthesize)
    fetch: Fetch | None = None  # how this surface downloads a reference URL (None: URLs refused)
    progress: Progress | None = None
    progress_interval: float = 5.0
    transform: Callable[[np.ndarray, int], np.ndarray] | None = None  # whole-file edit (not streaming)


def check_uploads(uploads: list, limits) -> None:
    """Count, transcript and total-size caps on uploaded references, before any download or encoding."""
    from fish_speech.service.fields import check_reference_text

    if limits.max_references and len(uploads) > limits.max_references:
        raise FishError(
            413, "references", f"{len(uploads)} reference clips; the limit is {limits.max_references} (MAX_REFERENCES)"
        )
    total = 0
    for data, text, name in uploads:
        check_reference_text(
            text, limits, name.replace(".audio", ".text") if name.startswith("references[") else "reference_text"
        )
        total += len(data) * 3 // 4 if isinstance(data, str) else len(data)  # base64 text: its decoded size
    cap = limits.max_references_bytes
    if cap and total > cap:
        raise FishError(
            413, "references", f"reference audio totals {total} bytes; the limit is {cap} (MAX_REFERENCES_BYTES)"
        )


async def tts_events(rt, job: TTSJob) -> AsyncIterator:
    rt.check_ready()
    values, voice = job.values, job.voice
    rt.check_family_fields(values)
    start = time.perf_counter()
    check_uploads(voice.uploads, rt.limits)
    limit = rt.limits.max_reference_bytes
    uploads = [
        (await asyncio.to_thread(audio_bytes, data, name, limit, job.fetch), text, name)
        for data, text, name in voice.uploads
    ]
    refs, info = await rt.scheduler.call(resolve_voice, rt, voice, uploads)
    streaming = values["streaming"]
    request = TTSRequest(
        text=values["text"],
        references=refs,
        sampling=sampling_from(values, rt.settings.default_seed),
        chunk_length=chunk_length_for(values["chunk_length"], rt.limits),
        normalize=values["normalize"],
        stream_frames=int(job.stream_frames),
    )
    sink = AudioSink(values["format"], rt.engine.sample_rate, streaming)
    first_audio, last_report = None, start
    engine_timings: dict = {}  # the engine's own: prefill_s, prefix_cached (the first chunk's)
    max_seconds = rt.limits.max_audio_seconds
    try:
        async with aclosing(rt.scheduler.synthesize(rt.engine, request)) as segments:
            async for seg in segments:
                engine_timings = seg.timings
                if not seg.audio.size:
                    continue
                first_audio = first_audio or time.perf_counter() - start
                data = await sink.add(seg.audio)
                if max_seconds and sink.duration > max_seconds:  # leaving the loop stops the engine
                    raise FishError(
                        413,
                        "text",
                        f"the audio passed {max_seconds:g} s, the most one job may make (MAX_AUDIO_SECONDS)",
                    )
                if data:
                    yield AudioBytes(data, sink.format)
                if job.progress is not None and time.perf_counter() - last_report >= job.progress_interval:
                    last_report = time.perf_counter()
                    job.progress(
                        {
                            "type": "progress",
                            "audio_seconds": round(sink.duration, 2),
                            "text_chunk": seg.chunk_index,
                            "elapsed_s": round(last_report - start, 2),
                        }
                    )
        if not sink.samples:  # the seed worker reported this as an empty success
            raise FishError(422, "text", "no audio generated; check the text (and the reference)")
        tail = await sink.finish(job.transform)
    finally:
        sink.close()
    if tail:
        yield AudioBytes(tail, sink.format, whole=not streaming)
    total = time.perf_counter() - start
    yield JobDone(
        {
            "mode": "tts",
            **rt.model_info(),
            "format": sink.format,
            "sample_rate": sink.file_rate,
            "duration": round(sink.duration, 3),
            "reference": info,
            "seed": values["seed"],
            "timings": {
                "first_audio_s": None if first_audio is None else round(first_audio, 3),
                "prefill_s": None if engine_timings.get("prefill_s") is None else round(engine_timings["prefill_s"], 4),
                "prefix_cached": bool(engine_timings.get("prefix_cached", False)),
                "total_s": round(total, 3),
                "rtf": round(total / sink.duration, 3) if sink.samples else None,
            },
        }
    )
