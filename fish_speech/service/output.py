"""Service events as JSON-ready chunk objects: the RunPod worker's output, and /v1/chat's.

  {"type": "text", "text": ...}
  {"type": "audio", "index": i, "format": fmt, "audio": base64}   all audio chunks, in order, form
                                                                 one valid file of `format`
  {"type": "done", ...summary, "chunks": n, ["audio": base64 | "audio_url": url]}

A chunk never carries more than `chunk_bytes` raw audio bytes, which keeps it under RunPod's 1 MB
per output item; a whole (non-streamed) file that is larger comes as audio chunks before `done`.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable

from fish_speech.service.events import AudioBytes, JobDone, TextOut

CHUNK_BYTES = 512 * 1024  # raw bytes per audio chunk: ~700 kB of base64, under RunPod's 1 MB
MAX_CHUNK_BYTES = 700_000  # 933,336 base64 characters + the chunk's other keys: still under 1 MB

Upload = Callable[[bytes, str], Awaitable[str | None]]  # (whole file, format) -> URL, or None: not uploaded


def audio_chunks(data: bytes, fmt: str, size: int, first_index: int = 0) -> list[dict]:
    """`data` cut into chunk objects of at most `size` raw bytes, numbered from `first_index`."""
    return [
        {
            "type": "audio",
            "index": first_index + i,
            "format": fmt,
            "audio": base64.b64encode(data[at : at + size]).decode("ascii"),
        }
        for i, at in enumerate(range(0, len(data), size))
    ]


async def as_chunks(
    events: AsyncIterator,
    chunk_bytes: int = CHUNK_BYTES,
    inline_limit: int | None = None,
    upload: Upload | None = None,
) -> AsyncIterator[dict]:
    """Chunk objects for a job's events. A whole file goes into `done.audio` when it is at most
    `inline_limit` bytes (None: always), else to `upload` when given, else as audio chunks."""
    size = max(1024, min(int(chunk_bytes), MAX_CHUNK_BYTES))
    inline_limit = None if inline_limit is None else min(inline_limit, size)
    index, whole, fmt = 0, None, None
    async for event in events:
        if isinstance(event, TextOut):
            yield {"type": "text", "text": event.text}
        elif isinstance(event, AudioBytes) and event.whole:
            whole, fmt = event.data, event.format
        elif isinstance(event, AudioBytes):
            for chunk in audio_chunks(event.data, event.format, size, index):
                index += 1
                yield chunk
        elif isinstance(event, JobDone):
            done = {"type": "done", **event.summary}
            if whole is not None:
                url = await upload(whole, fmt) if upload is not None else None
                if url is not None:
                    done["audio_url"] = url
                elif inline_limit is None or len(whole) <= inline_limit:
                    done["audio"] = base64.b64encode(whole).decode("ascii")
                else:
                    for chunk in audio_chunks(whole, fmt, size, index):
                        index += 1
                        yield chunk
                done["bytes"] = len(whole)
            done["chunks"] = index
            yield done
