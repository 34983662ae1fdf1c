"""Turn a tts job's events into an HTTP audio response.

The first audio is awaited before any byte is sent: a request that fails early (bad voice,
no audio generated) still gets a proper error status instead of a truncated 200. After that,
streaming responses forward each piece as soon as it is encoded (chunked transfer); a failure
mid-stream can only cut the connection, which clients see as an incomplete body.
"""

from __future__ import annotations

import logging
import time

from fastapi.responses import Response, StreamingResponse

from fish_speech.errors import FishError
from fish_speech.service.events import AudioBytes, JobDone

log = logging.getLogger("fish_speech.server")


async def _first_audio(events) -> AudioBytes:
    """The first audio event; errors before it (bad voice, no audio at all) raise here, so the
    request still gets a proper status."""
    try:
        async for event in events:
            if isinstance(event, AudioBytes):
                return event
    except BaseException:
        await events.aclose()
        raise
    raise FishError(422, "text", "no audio generated; please check the input text")


def audio_headers(fmt: str, sample_rate: int, first_audio_s: float | None, extra: dict | None = None) -> dict:
    headers = {
        "X-Sample-Rate": str(sample_rate),
        "X-First-Audio-Seconds": f"{first_audio_s or 0.0:.3f}",
        "Content-Disposition": f'inline; filename="speech.{fmt}"',
        "Cache-Control": "no-store",
    }
    headers.update(extra or {})
    return headers


async def streaming_response(events, fmt: str, sample_rate: int, started: float) -> StreamingResponse:
    from fish_speech.audio import content_type

    first = await _first_audio(events)
    headers = audio_headers(fmt, sample_rate, time.perf_counter() - started, {"X-Accel-Buffering": "no"})

    async def body():
        try:
            yield first.data
            async for event in events:
                if isinstance(event, AudioBytes) and event.data:
                    yield event.data
        except FishError as err:  # headers are gone: log and cut the stream short
            log.warning("stream aborted: %s", err)
            raise
        finally:
            await events.aclose()

    return StreamingResponse(body(), media_type=content_type(fmt), headers=headers)


async def whole_response(events, fmt: str, sample_rate: int, started: float) -> Response:
    """The whole file (the service encodes it once, after any whole-waveform transform)."""
    from fish_speech.audio import content_type

    whole = await _first_audio(events)
    summary = {}
    try:
        async for event in events:
            if isinstance(event, JobDone):
                summary = event.summary
    finally:
        await events.aclose()
    extra = {
        "X-Audio-Seconds": f"{summary.get('duration', 0.0):.3f}",
        "X-Total-Seconds": f"{time.perf_counter() - started:.3f}",
    }
    first_audio_s = (summary.get("timings") or {}).get("first_audio_s")
    return Response(
        whole.data, media_type=content_type(fmt), headers=audio_headers(fmt, sample_rate, first_audio_s, extra)
    )
