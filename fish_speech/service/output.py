"""Service events as JSON-ready chunk objects: the RunPod worker's output, and /v1/chat's.

  {"type": "text", "text": ...}
  {"type": "audio", "index": i, "format": fmt, "audio": base64}   all audio chunks, in order, form
                                                                 one valid file of `format`
  {"type": "history", "index": k, "json": piece}                  only when `done` would pass ITEM_BYTES:
                                                                 the pieces, joined in order, are the
                                                                 JSON text of the history list
  {"type": "done", ...summary, "chunks": n, ["audio": base64 | "audio_url": url]}

A chunk never carries more than `chunk_bytes` raw audio bytes, which keeps it under RunPod's 1 MB
per output item; a whole (non-streamed) file that is larger comes as audio chunks before `done`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Awaitable, Callable

from fish_speech.service.events import AudioBytes, JobDone, TextOut

CHUNK_BYTES = 512 * 1024  # raw bytes per audio chunk: ~700 kB of base64, under RunPod's 1 MB
MAX_CHUNK_BYTES = 700_000  # 933,336 base64 characters + the chunk's other keys: still under 1 MB

ITEM_BYTES = 900_000  # the most one yielded item may take as JSON: RunPod takes at most 1 MB per item
HISTORY_PIECE_CHARS = 200_000  # characters of history JSON per history chunk (halved while too large)

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


def _json_size(item: dict) -> int:
    return len(json.dumps(item))


def history_chunks(history, budget: int = ITEM_BYTES) -> list[dict]:
    """The history's JSON text cut into chunk objects that each stay under `budget` bytes of JSON."""
    text, out, at, step = json.dumps(history), [], 0, HISTORY_PIECE_CHARS
    while at < len(text):
        piece = {"type": "history", "index": len(out), "json": text[at : at + step]}
        if _json_size(piece) > budget and step > 1:  # escapes (\uXXXX, \") made it grow: smaller pieces
            step //= 2
            continue
        out.append(piece)
        at += step
    return out


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
            if done.get("history") is not None and _json_size(done) > ITEM_BYTES:
                if "audio" in done:  # the file goes first: it is already cut to size
                    for chunk in audio_chunks(whole, fmt, size, index):
                        index += 1
                        yield chunk
                    del done["audio"]
                    done["chunks"] = index
            if done.get("history") is not None and _json_size(done) > ITEM_BYTES:
                pieces = history_chunks(done["history"])
                for piece in pieces:
                    yield piece
                done["history"], done["history_chunks"] = None, len(pieces)
            yield done
