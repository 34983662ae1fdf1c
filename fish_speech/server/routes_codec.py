"""POST /v1/vqgan/encode and /v1/vqgan/decode: the codec on its own, as upstream serves it.

Encode takes whole audio files and returns codes [num_codebooks][frames] per file. Decode returns,
like upstream, raw little-endian float16 PCM at 44.1 kHz per item, or an audio file when
`format` is given. Replies are msgpack for msgpack requests (or `Accept: application/msgpack`),
else JSON with bytes as base64.
"""

from __future__ import annotations

import asyncio

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response

from fish_speech.errors import bad_input
from fish_speech.models.codes import check_code_array
from fish_speech.server.disconnect import until_disconnected
from fish_speech.server.schemas import BYTES_DOC, CODES_DOC, VQGAN_DECODE_RULES, json_schema, request_body
from fish_speech.server.wire import decode_bytes, parse_body, reply
from fish_speech.service import codec_ops
from fish_speech.service.fields import check_value, parse_fields

router = APIRouter(tags=["codec"])
MAX_ITEMS = 64


def _items(raw: dict, name: str) -> list:
    items = raw.get(name)
    if not isinstance(items, list) or not items:
        raise bad_input(name, "must be a non-empty list")
    if len(items) > MAX_ITEMS:
        raise bad_input(name, f"at most {MAX_ITEMS} items per request, got {len(items)}")
    return items


def check_codes(item, field: str, codebook_sizes) -> np.ndarray:
    try:
        codes = np.asarray(item)
    except ValueError:
        raise bad_input(field, "must be a rectangular [codebooks][frames] array") from None
    if codes.dtype == object or codes.ndim != 2:
        raise bad_input(field, "must be a rectangular [codebooks][frames] array of integers")
    if codes.shape[1] == 0:
        raise bad_input(field, "has no frames")
    return check_code_array(codes, codebook_sizes, field, what="values")


@router.post(
    "/v1/vqgan/encode",
    summary="Audio files → codec codes",
    openapi_extra=request_body(json_schema({}, {"audios": {"type": "array", "items": BYTES_DOC}}, ["audios"])),
)
async def encode(request: Request) -> Response:
    rt = request.app.state.runtime
    raw = await parse_body(request, request.app.state.max_request_bytes)
    audios = [decode_bytes(a, f"audios[{i}]") for i, a in enumerate(_items(raw, "audios"))]
    tokens = await until_disconnected(request, codec_ops.encode_audios(rt, audios))
    if isinstance(tokens, Response):  # the client went away
        return tokens
    return reply(request, {"tokens": tokens})


@router.post(
    "/v1/vqgan/decode",
    summary="Codec codes → audio",
    openapi_extra=request_body(json_schema(VQGAN_DECODE_RULES, {"tokens": CODES_DOC}, ["tokens"])),
)
async def decode(request: Request) -> Response:
    from fish_speech.audio import FORMATS, encode_audio

    rt = request.app.state.runtime
    raw = await parse_body(request, request.app.state.max_request_bytes)
    values, _ = parse_fields(raw, VQGAN_DECODE_RULES, ignore={"tokens"})
    fmt = values["format"]
    if fmt is not None:
        fmt = check_value("format", VQGAN_DECODE_RULES["format"], fmt).strip().lower()
        if fmt not in FORMATS:
            raise bad_input("format", f"must be one of {', '.join(FORMATS)}; got {fmt!r}")
    sizes = rt.engine.codec.codebook_sizes
    codes = [check_codes(t, f"tokens[{i}]", sizes) for i, t in enumerate(_items(raw, "tokens"))]
    waves = await until_disconnected(request, codec_ops.decode_codes(rt, codes))
    if isinstance(waves, Response):  # the client went away
        return waves
    sr = int(rt.engine.sample_rate)
    if fmt is None:
        audios = [w.astype("<f2").tobytes() for w in waves]
    else:
        audios = [await asyncio.to_thread(encode_audio, w, sr, fmt) for w in waves]
    return reply(request, {"audios": audios, "sample_rate": sr, "format": fmt or "float16"})
