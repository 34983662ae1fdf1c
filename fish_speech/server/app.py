"""The FastAPI application: routes, error rendering, key and size guard, static page.

`create_app(runtime)` takes an already loaded `Runtime` (fish_speech.service) so tests and the two launchers
(`tools.api_server`, `tools.run_webui`) share one construction path.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from fish_speech import __version__
from fish_speech.server import failures
from fish_speech.server.guard import Guard
from fish_speech.server.routes_meta import STATIC_DIR

DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024


def create_app(
    runtime,
    api_key: str | None = None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    allowed_hosts=(),
    allowed_origins=(),
) -> FastAPI:
    from fish_speech.server import routes_chat, routes_codec, routes_meta, routes_refs, routes_tts

    app = FastAPI(
        # FastAPI's own /docs and /redoc pull Swagger/ReDoc from a CDN and are blank offline;
        # routes_meta serves a self-contained page that renders /openapi.json instead.
        docs_url=None,
        redoc_url=None,
        title="Fish Speech",
        version=__version__,
        description="Text to speech with voice cloning (Fish Speech 1.5). Bodies are JSON or msgpack; "
        "errors are {code, field, message}. Send 'Authorization: Bearer <key>' when the server has a key.",
    )
    app.state.runtime = runtime
    app.state.api_key = api_key or None
    app.state.max_request_bytes = int(max_request_bytes)
    failures.install(app)
    for module in (routes_meta, routes_tts, routes_codec, routes_refs, routes_chat):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(
        Guard,
        api_key=api_key,
        max_request_bytes=int(max_request_bytes),
        allowed_hosts=tuple(allowed_hosts),
        allowed_origins=tuple(allowed_origins),
    )
    return app
