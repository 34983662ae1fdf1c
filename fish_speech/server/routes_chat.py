"""POST /v1/chat: one agent turn (text or speech in; text and speech out), with --mode agent.

The body is the worker's agent request (message, message_audio, system_message, system_audio,
conversation_id or history, sampling fields, streaming, format). The chunks are the worker's too
({"type": "text"|"audio"|"done", ...}; audio pieces base64, together one file of `format`).
Streaming replies are server-sent events for JSON requests and, for msgpack requests,
length-prefixed msgpack frames (4-byte little-endian size, then the frame), as upstream.
Without streaming the reply is the single `done` chunk, which then carries the whole audio.
"""

from __future__ import annotations

import json
import logging
import struct

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from fish_speech.errors import FishError
from fish_speech.server.disconnect import until_disconnected
from fish_speech.server.schemas import json_schema, request_body
from fish_speech.server.wire import is_msgpack, parse_body, reply
from fish_speech.service.output import as_chunks

router = APIRouter(tags=["agent"])
log = logging.getLogger("fish_speech.server")


def _chat_schema() -> dict:
    try:
        from fish_speech.service.agent_fields import AGENT_RULES
    except ImportError:  # agent extras missing: describe nothing rather than fail at import
        return {"type": "object"}
    schema = json_schema(AGENT_RULES)
    schema["properties"]["history"] = {"type": "array", "description": "client-held conversation (from return_codes)"}
    return schema


def _sse(chunk: dict) -> bytes:
    return b"data: " + json.dumps(chunk).encode("utf-8") + b"\n\n"


def _frame(chunk: dict) -> bytes:
    import ormsgpack

    data = ormsgpack.packb(chunk)
    return struct.pack("<I", len(data)) + data


@router.post(
    "/v1/chat",
    summary="Agent chat turn (needs --mode agent)",
    openapi_extra=request_body(_chat_schema(), "the worker's agent request; audio as base64 (JSON) or bytes (msgpack)"),
)
async def chat(request: Request) -> Response:
    rt = request.app.state.runtime
    if rt.agent is None:
        raise FishError(503, "mode", "the agent is not loaded; start the server with --mode agent")
    raw = await parse_body(request, request.app.state.max_request_bytes)  # msgpack audio stays raw bytes
    chunks = as_chunks(rt.agent.events(raw, rt.scheduler)).__aiter__()
    try:
        first = await until_disconnected(request, chunks.__anext__())  # request errors still get a status
    except StopAsyncIteration:
        raise FishError(500, None, "the agent produced nothing") from None
    except BaseException:
        await chunks.aclose()
        raise
    if isinstance(first, Response):  # the client went away: the turn was cancelled
        await chunks.aclose()
        return first
    if raw.get("streaming", True) is False:
        await chunks.aclose()
        return reply(request, first)

    pack = _frame if is_msgpack(request) else _sse

    async def body():
        try:
            yield pack(first)
            async for chunk in chunks:
                yield pack(chunk)
        except FishError as err:  # the status is sent already: report in-band, then end
            log.warning("chat stream failed: %s", err)
            yield pack({"type": "error", **err.to_dict()})
        finally:
            await chunks.aclose()

    kind = "application/msgpack" if pack is _frame else "text/event-stream"
    return StreamingResponse(body(), media_type=kind, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
