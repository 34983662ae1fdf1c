"""Every failure leaves the server as an HTTP status with the JSON body {"code","field","message"}.

That is the worker's error shape too, so one client-side error path handles both. Unexpected
exceptions are logged with their traceback but reach the client only as a short 500 message.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fish_speech.errors import FishError

log = logging.getLogger("fish_speech.server")


def error_response(err: FishError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if err.code == 401 else None
    return JSONResponse(err.to_dict(), status_code=err.code, headers=headers)


def install(app: FastAPI) -> None:
    @app.exception_handler(FishError)
    async def _fish(request: Request, exc: FishError):
        return error_response(exc)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404:
            message = f"no route {request.method} {request.url.path}"
        return error_response(FishError(exc.status_code, None, message))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        first = (exc.errors() or [{}])[0]
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        return error_response(FishError(400, ".".join(loc) or None, first.get("msg", "invalid request")))

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(FishError(500, None, f"internal error ({type(exc).__name__}); see the server log"))
