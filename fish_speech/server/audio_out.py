"""Turn the engine's async stream of segments into an HTTP audio response.

The first segment is awaited before any byte is sent: a request that fails early (bad voice,
no audio generated) still gets a proper error status instead of a truncated 200. After that,
streaming responses forward each piece as soon as it is encoded (chunked transfer); a failure
mid-stream can only cut the connection, which clients see as an incomplete body.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import AsyncIterator, Callable

import numpy as np
from fastapi.responses import Response, StreamingResponse

from fish_speech.engine.types import Segment
from fish_speech.errors import FishError

log = logging.getLogger("fish_speech.server")


async def _close(it) -> None:
    closer = getattr(it, "aclose", None)
    if closer is not None:
        await closer()


async def prime(segments: AsyncIterator[Segment], started: float) -> tuple[Segment, AsyncIterator[Segment], float]:
    """(first segment with audio, the rest, seconds to it), or a 422 when no audio comes at all."""
    it = segments.__aiter__()
    try:
        while True:
            first = await it.__anext__()
            if first.audio.size:
                break
    except StopAsyncIteration:
        raise FishError(422, "text", "no audio generated; please check the input text") from None
    except BaseException:
        await _close(it)
        raise
    return first, it, time.perf_counter() - started


def audio_headers(fmt: str, sample_rate: int, first_audio_s: float, extra: dict | None = None) -> dict:
    headers = {
        "X-Sample-Rate": str(sample_rate),
        "X-First-Audio-Seconds": f"{first_audio_s:.3f}",
        "Content-Disposition": f'inline; filename="speech.{fmt}"',
        "Cache-Control": "no-store",
    }
    headers.update(extra or {})
    return headers


def streaming_response(first: Segment, rest: AsyncIterator[Segment], fmt: str, headers: dict) -> StreamingResponse:
    from fish_speech.audio import AudioStreamEncoder, content_type

    async def body():
        encoder = AudioStreamEncoder(fmt, first.sample_rate)
        try:
            yield encoder.feed(first.audio)
            async for seg in rest:
                piece = encoder.feed(seg.audio)
                if piece:
                    yield piece
            tail = encoder.finish()
            if tail:
                yield tail
        except FishError as err:  # headers are gone: log and cut the stream short
            log.warning("stream aborted: %s", err)
            raise
        finally:
            await _close(rest)

    headers = {**headers, "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type=content_type(fmt), headers=headers)


async def whole_response(
    first: Segment,
    rest: AsyncIterator[Segment],
    fmt: str,
    headers: dict,
    started: float,
    transform: Callable[[np.ndarray, int], np.ndarray] | None = None,
) -> Response:
    """Collect every segment, optionally transform the waveform, encode once."""
    from fish_speech.audio import content_type, encode_audio

    pieces = [first.audio]
    try:
        async for seg in rest:
            pieces.append(seg.audio)
    finally:
        await _close(rest)
    audio = np.concatenate(pieces).astype(np.float32, copy=False)
    sr = first.sample_rate
    if transform is not None:
        audio = await asyncio.to_thread(transform, audio, sr)
    data = await asyncio.to_thread(encode_audio, audio, sr, fmt)  # mp3/flac encoding off the loop
    headers = {
        **headers,
        "X-Audio-Seconds": f"{len(audio) / sr:.3f}",
        "X-Total-Seconds": f"{time.perf_counter() - started:.3f}",
    }
    return Response(data, media_type=content_type(fmt), headers=headers)
