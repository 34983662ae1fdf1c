"""ASGI middleware in front of every route: bearer API key and request size cap.

Written as plain ASGI (not a BaseHTTPMiddleware) so streaming responses pass through untouched
and oversized uploads are refused from their Content-Length before a byte of body is read.
"""

from __future__ import annotations

import hmac

from fish_speech.errors import FishError
from fish_speech.server.failures import error_response

# Reachable without a key: the page and its assets, the API description, and the health probe
# (load balancers and the worker's start-up poll have no key).
OPEN_PATHS = ("/", "/docs", "/redoc", "/openapi.json", "/v1/health", "/v1/info", "/favicon.ico")
OPEN_PREFIXES = ("/static/", "/docs/")


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


def _bearer(headers: dict[bytes, bytes]) -> str | None:
    raw = headers.get(b"authorization", b"").decode("latin-1").strip()
    if raw[:7].lower() == "bearer ":
        return raw[7:].strip()
    return None


class Guard:
    def __init__(self, app, api_key: str | None, max_request_bytes: int):
        self.app = app
        self.api_key = api_key or None
        self.limit = max_request_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        if self.api_key and scope["method"] != "OPTIONS" and not _is_open(scope["path"]):
            given = _bearer(headers)
            if given is None or not hmac.compare_digest(given.encode(), self.api_key.encode()):
                what = "missing" if given is None else "wrong"
                err = FishError(401, "authorization", f"{what} API key: send 'Authorization: Bearer <key>'")
                return await error_response(err)(scope, receive, send)
        declared = headers.get(b"content-length", b"").decode("latin-1")
        if declared.isdigit() and int(declared) > self.limit:
            err = FishError(413, None, f"request body is {declared} bytes; the limit is {self.limit}")
            return await error_response(err)(scope, receive, send)
        return await self.app(scope, self._counting(receive), send)

    def _counting(self, receive):
        """Stop chunked uploads (no Content-Length) once they pass the limit."""
        seen = 0

        async def wrapped():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise FishError(413, None, f"request body exceeds the limit of {self.limit} bytes")
            return message

        return wrapped
