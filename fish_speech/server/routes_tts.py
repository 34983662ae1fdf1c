"""POST /v1/tts (upstream's ServeTTSRequest) and POST /v1/audio/speech (OpenAI's request)."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fish_speech.errors import FishError, bad_input
from fish_speech.server.audio_out import streaming_response, whole_response
from fish_speech.server.disconnect import until_disconnected
from fish_speech.server.schemas import (
    HTTP_TTS_RULES,
    IGNORED_TTS_FIELDS,
    OPENAI_PRESET_VOICES,
    OPENAI_RULES,
    REFERENCES_DOC,
    json_schema,
    request_body,
)
from fish_speech.server.wire import decode_bytes, parse_body
from fish_speech.service import voices
from fish_speech.service.fields import check_string, check_tts_limits, parse_fields
from fish_speech.service.tts import TTSJob, check_uploads, tts_events
from fish_speech.service.voices import VoiceQuery

router = APIRouter(tags=["speech"])

AUDIO_RESPONSES = {
    200: {
        "description": "the audio file, or its pieces as they are generated when streaming",
        "content": {"audio/wav": {}, "audio/mpeg": {}, "audio/flac": {}, "audio/ogg": {}, "audio/pcm": {}},
    },
    400: {"description": "a field is invalid: {code, field, message}"},
    404: {"description": "unknown reference id, voice or ref_data speaker"},
}


def _limit(request: Request) -> int:
    return request.app.state.max_request_bytes


def uploaded_references(raw: dict, limits) -> list[tuple[bytes, str]]:
    """[(audio bytes, transcript)] from upstream's `references: [{audio, text}]`; counted before decoding."""
    refs = raw.get("references")
    if refs is None:
        return []
    if not isinstance(refs, list):
        raise bad_input("references", "must be a list of {audio, text} objects")
    check_uploads([(b"", "", f"references[{i}].audio") for i in range(len(refs))], limits)
    out = []
    for i, item in enumerate(refs):
        if not isinstance(item, dict):
            raise bad_input(f"references[{i}]", "must be an object with 'audio' and 'text'")
        text = item.get("text") or ""
        if not isinstance(text, str):
            raise bad_input(f"references[{i}].text", "must be a string")
        check_string(text, f"references[{i}].text")
        out.append((decode_bytes(item.get("audio"), f"references[{i}].audio"), text))
    return out


async def _speak(request: Request, values: dict, voice: VoiceQuery, fmt: str, streaming: bool, transform=None):
    rt = request.app.state.runtime
    values = {**values, "format": fmt, "streaming": streaming and transform is None}
    every = values.get("stream_frames")
    every = rt.settings.stream_frames if every is None else every  # one default: STREAM_FRAMES
    job = TTSJob(values, voice, stream_frames=every, transform=transform)
    events = tts_events(rt, job)
    respond = streaming_response if values["streaming"] else whole_response
    return await until_disconnected(request, respond(events, fmt, rt.engine.sample_rate, request.state.started))


_TTS_SCHEMA = json_schema(HTTP_TTS_RULES, {"references": REFERENCES_DOC})


@router.post(
    "/v1/tts",
    summary="Text to speech (Fish Speech request)",
    response_class=Response,
    responses=AUDIO_RESPONSES,
    openapi_extra=request_body(_TTS_SCHEMA, "JSON (audio as base64) or msgpack (audio as bytes)"),
)
async def tts(request: Request) -> Response:
    request.state.started = time.perf_counter()
    rt = request.app.state.runtime
    raw = await parse_body(request, _limit(request))
    values, _unknown = parse_fields(raw, HTTP_TTS_RULES, ignore=IGNORED_TTS_FIELDS)
    check_tts_limits(values, rt.limits, "text")
    voice = VoiceQuery(
        reference_id=values["reference_id"] or None,
        uploads=[
            (data, text, f"references[{i}].audio") for i, (data, text) in enumerate(uploaded_references(raw, rt.limits))
        ],
        speaker=values.get("speaker"),
        emotion=values.get("emotion"),
        use_cache=bool(values.get("use_memory_cache", True)),
        id_overrides_uploads=True,
    )
    return await _speak(request, values, voice, values["format"], values["streaming"])


def _openai_voice(voice: str | None, known: list[str]) -> str | None:
    """A saved reference id, or None for OpenAI's preset names (the model picks a voice)."""
    if not voice or voice in known:
        return voice or None
    if voice.lower() in OPENAI_PRESET_VOICES:
        return None
    return voice  # let the library say why it is not usable (bad id 400, unknown 404)


@router.post(
    "/v1/audio/speech",
    summary="OpenAI-compatible text to speech",
    response_class=Response,
    responses=AUDIO_RESPONSES,
    openapi_extra=request_body(json_schema(OPENAI_RULES), "OpenAI's fields; Fish sampling fields may be added"),
)
async def openai_speech(request: Request) -> Response:
    from fish_speech.audio import FORMATS

    request.state.started = time.perf_counter()
    rt = request.app.state.runtime
    raw = await parse_body(request, _limit(request))
    values, _unknown = parse_fields(raw, OPENAI_RULES)
    fmt = values["response_format"].strip().lower()
    if fmt not in FORMATS:
        raise bad_input("response_format", f"must be one of {', '.join(FORMATS)}; got {fmt!r}")
    values["text"] = values.pop("input")
    check_tts_limits(values, rt.limits, "input")
    # a named voice never changes between requests: always cached
    voice = VoiceQuery(reference_id=_openai_voice(values.get("voice"), await voices.list_voices(rt)))
    transform = None
    if abs(values["speed"] - 1.0) > 1e-6:
        from fish_speech.server.speed import change_speed

        speed = values["speed"]
        transform = lambda audio, sr: change_speed(audio, sr, speed)  # noqa: E731
    try:
        return await _speak(request, values, voice, fmt, streaming=True, transform=transform)
    except FishError as err:
        if err.field == "reference_id":
            err.field = "voice"
        raise
