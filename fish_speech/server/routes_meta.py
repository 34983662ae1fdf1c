"""GET / (the web page), /docs (the API description), /v1/health and /v1/info (what the page needs)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse

from fish_speech import __version__
from fish_speech.audio import FORMATS
from fish_speech.models.random_weights import WARNING as RANDOM_WARNING
from fish_speech.server.schemas import HTTP_TTS_RULES, json_schema

router = APIRouter()
STATIC_DIR = Path(__file__).parent / "static"


@router.get("/", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/docs", include_in_schema=False)
async def docs() -> FileResponse:
    """A self-contained page (no CDN) that lists the routes and fields of /openapi.json."""
    return FileResponse(STATIC_DIR / "docs.html", headers={"Cache-Control": "no-cache"})


@router.get("/redoc", include_in_schema=False)
async def redoc() -> RedirectResponse:
    return RedirectResponse("/docs")


@router.api_route("/v1/health", methods=["GET", "POST"], tags=["meta"], summary="Liveness probe")
async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", **request.app.state.runtime.model_info(), **random_weights(request)})


def random_weights(request: Request) -> dict:
    """`random_weights` and, when true, the warning every surface shows (the page as a banner)."""
    rt = getattr(request.app.state, "runtime", None)
    flag = rt is not None and rt.random_weights
    return {"random_weights": flag, **({"warning": RANDOM_WARNING} if flag else {})}


@router.get("/v1/info", tags=["meta"], summary="Formats, limits, field defaults, features")
async def info(request: Request) -> JSONResponse:
    rt = request.app.state.runtime
    return JSONResponse(
        {
            "version": __version__,
            "auth": bool(request.app.state.api_key),
            "max_request_bytes": request.app.state.max_request_bytes,
            "tts_fields": json_schema(HTTP_TTS_RULES)["properties"],
            "sample_rate": int(rt.engine.sample_rate),
            **rt.model_info(),
            "sampling_fields": sorted(rt.engine.family.sampling_fields),
            "formats": list(FORMATS),
            "agent": getattr(rt.agent, "engine", None) is not None,
            "limits": dataclasses.asdict(rt.limits),
            "stream_frames": rt.settings.stream_frames,  # what a request without stream_frames gets
            **random_weights(request),
        }
    )
