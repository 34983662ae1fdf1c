"""Request bodies in (JSON or msgpack, size-capped) and replies out in the caller's encoding.

Upstream clients (the seed worker, `tools.api_client`) speak msgpack with raw bytes for audio;
browsers and curl speak JSON, where bytes travel as base64 strings. Both decode to the same
Python dict, so one pydantic schema validates either.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from fish_speech.errors import FishError

MSGPACK_TYPES = ("application/msgpack", "application/x-msgpack", "application/vnd.msgpack")


def _media_type(value: str | None) -> str:
    return (value or "").split(";")[0].strip().lower()


def is_msgpack(request: Request) -> bool:
    return _media_type(request.headers.get("content-type")) in MSGPACK_TYPES


def wants_msgpack(request: Request) -> bool:
    """Reply in msgpack when asked to by Accept, or when the request itself was msgpack."""
    accept = request.headers.get("accept", "")
    if any(t in accept for t in MSGPACK_TYPES):
        return True
    if "application/json" in accept:
        return False
    return is_msgpack(request)


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) anything over `limit` bytes before or while it arrives."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise FishError(413, None, f"request body is {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise FishError(413, None, f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_body(request: Request, limit: int) -> dict:
    """Decode a JSON or msgpack object body; other content types get 415."""
    raw = await read_body(request, limit)
    kind = _media_type(request.headers.get("content-type"))
    if kind in MSGPACK_TYPES:
        try:
            import ormsgpack

            data = ormsgpack.unpackb(raw)
        except Exception as exc:  # ormsgpack raises its own decode error type
            raise FishError(400, None, f"body is not valid msgpack: {exc}") from None
    elif kind == "" and not getattr(request.app.state, "api_key", None):
        # a keyless server: a body without a content type is what a cross-site form or beacon sends
        raise FishError(415, "content-type", "send Content-Type: application/json (or application/msgpack)")
    elif kind in ("", "application/json", "text/json") or kind.endswith("+json"):
        if not raw.strip():
            raise FishError(400, None, "request body is empty; send a JSON object")
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise FishError(400, None, f"body is not valid JSON: {exc}") from None
        except RecursionError:
            raise FishError(400, None, "body is nested too deeply") from None
    else:
        raise FishError(
            415, "content-type", f"unsupported content type {kind!r}; use application/json or application/msgpack"
        )
    if not isinstance(data, dict):
        raise FishError(400, None, "request body must be an object")
    return data


def decode_bytes(value: Any, field: str) -> bytes:
    """Bytes from msgpack as is; from JSON as base64 text (a data: URL prefix is allowed)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, str):
        text = value.split(",", 1)[1] if value.startswith("data:") and "," in value else value
        try:
            return base64.b64decode("".join(text.split()), validate=True)
        except ValueError:
            raise FishError(400, field, "must be base64 text (JSON) or raw bytes (msgpack)") from None
    raise FishError(400, field, "must be base64 text (JSON) or raw bytes (msgpack)")


def _convert(value: Any, leaf) -> Any:
    """Walk dicts, lists and tuples, turning each other value with `leaf`."""
    if isinstance(value, dict):
        return {k: _convert(v, leaf) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_convert(v, leaf) for v in value]
    return leaf(value)


def _packable_leaf(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else value


def _json_leaf(value: Any) -> Any:
    """msgpack-friendly data made JSON-friendly: bytes become base64, arrays lists."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return _packable_leaf(value)


def _jsonable(value: Any) -> Any:
    return _convert(value, _json_leaf)


def _packable(value: Any) -> Any:
    return _convert(value, _packable_leaf)


def reply(request: Request, data: dict, status: int = 200) -> Response:
    if wants_msgpack(request):
        import ormsgpack

        return Response(ormsgpack.packb(_packable(data)), status_code=status, media_type="application/msgpack")
    return JSONResponse(_jsonable(data), status_code=status)
