"""Saved voices under `references/<id>/` (audio + .lab): list, add, delete; plus ref_data speakers.

REST paths (`GET/POST /v1/references`, `DELETE /v1/references/{id}`) and the later upstream
spellings (`/v1/references/list`, `/add`, `/delete`) do the same thing. Ids are checked by the
library; `{id:path}` lets ids with slashes reach that check and get a 400 rather than a 404.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from fish_speech.errors import FishError, bad_input
from fish_speech.server.schemas import BYTES_DOC, REFERENCE_ADD_RULES, json_schema, request_body
from fish_speech.server.wire import decode_bytes, parse_body, reply
from fish_speech.service import voices
from fish_speech.service.fields import check_reference_text, parse_fields
from fish_speech.voices.ref_data import RefData

router = APIRouter(tags=["voices"])

_ADD_SCHEMA = json_schema(REFERENCE_ADD_RULES, {"audio": BYTES_DOC}, ["audio"])


async def _form_or_body(request: Request) -> tuple[dict, bytes | None, str | None]:
    """(fields, audio bytes, file name) from multipart/form-data, JSON or msgpack."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        try:
            form = await request.form(max_part_size=request.app.state.max_request_bytes)
        except AssertionError:  # python-multipart missing: Starlette asserts
            raise FishError(
                415, "content-type", "multipart uploads need python-multipart; send JSON or msgpack"
            ) from None
        upload = form.get("audio")
        if upload is None or isinstance(upload, str):
            raise bad_input("audio", "attach the audio file as form field 'audio'")
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        return fields, await upload.read(), upload.filename
    raw = await parse_body(request, request.app.state.max_request_bytes)
    audio = raw.get("audio")
    return raw, (decode_bytes(audio, "audio") if audio is not None else None), raw.get("filename")


async def _add(request: Request) -> Response:
    raw, audio, filename = await _form_or_body(request)
    if "id" not in raw and "reference_id" in raw:  # upstream's spelling
        raw = {**raw, "id": raw["reference_id"]}
    values, _ = parse_fields(raw, REFERENCE_ADD_RULES, ignore={"audio", "filename", "reference_id"})
    check_reference_text(values["text"], request.app.state.runtime.limits, "text")
    if not audio:
        raise bad_input("audio", "is required: an audio file of the voice")
    if filename is not None and not isinstance(filename, str):
        raise bad_input("filename", "must be a string")
    runtime = request.app.state.runtime
    await voices.add_voice(runtime, values["id"], audio, values["text"], filename, values["overwrite"])
    return reply(request, {"reference_id": values["id"], "message": "saved"}, status=201)


async def _list(request: Request) -> Response:
    return reply(request, {"reference_ids": await voices.list_voices(request.app.state.runtime)})


async def _delete(request: Request, ref_id: str) -> Response:
    await voices.delete_voice(request.app.state.runtime, ref_id)
    return reply(request, {"reference_id": ref_id, "message": "deleted"})


@router.get("/v1/references", summary="List saved voice ids")
async def list_references(request: Request) -> Response:
    return await _list(request)


@router.get("/v1/references/list", summary="List saved voice ids (upstream spelling)")
async def list_references_alias(request: Request) -> Response:
    return await _list(request)


_ADD_DOC = request_body(_ADD_SCHEMA, "JSON/msgpack {id, audio, text}, or multipart form fields id, text and file audio")


@router.post("/v1/references", status_code=201, summary="Save a voice", openapi_extra=_ADD_DOC)
async def add_reference(request: Request) -> Response:
    return await _add(request)


@router.post("/v1/references/add", status_code=201, summary="Save a voice (upstream spelling)", openapi_extra=_ADD_DOC)
async def add_reference_alias(request: Request) -> Response:
    return await _add(request)


@router.delete(
    "/v1/references/delete",
    summary="Delete a saved voice (upstream spelling)",
    openapi_extra=request_body(json_schema({}, {"reference_id": {"type": "string"}}, ["reference_id"])),
)
async def delete_reference_alias(request: Request) -> Response:
    raw = await parse_body(request, request.app.state.max_request_bytes)
    ref_id = raw.get("reference_id", raw.get("id"))
    if not isinstance(ref_id, str):
        raise bad_input("reference_id", "is required: the id to delete")
    return await _delete(request, ref_id)


_REF_ID_PARAM = {
    "name": "ref_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "the voice id; ids with '/', '..' or other path tricks are refused (400)",
}


# The id is read from path_params rather than a typed argument, so FastAPI documents no 422
# (every validation failure here is a 400 in the worker's error shape).
@router.delete(
    "/v1/references/{ref_id:path}",
    summary="Delete a saved voice",
    responses={400: {"description": "not a valid id"}, 404: {"description": "no such voice"}},
    openapi_extra={"parameters": [_REF_ID_PARAM]},
)
async def delete_reference(request: Request) -> Response:
    return await _delete(request, request.path_params["ref_id"])


@router.get("/v1/ref_data", summary="Speakers and emotions of the ref_data folder")
async def ref_data(request: Request) -> Response:
    data = RefData.load(request.app.state.runtime.ref_data_root)
    speakers = {s: sorted(e) for s, e in sorted(data.speakers.items())}
    return reply(request, {"speakers": speakers})
