"""ASGI middleware in front of every route: bearer API key, request size cap, and (without a key)
the cross-site checks.

A server without a key trusts whoever can reach it, so it must not be reachable through a browser
on another site: a request with a foreign `Origin` (a page elsewhere posting to localhost) or a
`Host` that is not local (DNS rebinding) is refused with 403, unless allow-listed (ALLOWED_ORIGINS,
ALLOWED_HOSTS). JSON routes also refuse bodies without a JSON or msgpack content type there (see
`wire.parse_body`), which browsers cannot send cross-site without a CORS preflight we never grant.
With a key, none of this applies: the key is the protection.

Written as plain ASGI (not a BaseHTTPMiddleware) so streaming responses pass through untouched
and oversized uploads are refused from their Content-Length before a byte of body is read.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fish_speech.errors import FishError
from fish_speech.server.failures import error_response

# Reachable without a key: the page and its assets, the API description, and the health probe
# (load balancers and the worker's start-up poll have no key).
OPEN_PATHS = ("/", "/docs", "/redoc", "/openapi.json", "/v1/health", "/v1/info", "/favicon.ico")
OPEN_PREFIXES = ("/static/", "/docs/")


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def _host_name(value: str) -> str:
    """'example.com:8080' -> 'example.com'; '[::1]:80' -> '::1' (lower case)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def split_list(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _bearer(headers: dict[bytes, bytes]) -> str | None:
    raw = headers.get(b"authorization", b"").decode("latin-1").strip()
    if raw[:7].lower() == "bearer ":
        return raw[7:].strip()
    return None


class Guard:
    def __init__(self, app, api_key: str | None, max_request_bytes: int, allowed_hosts=(), allowed_origins=()):
        self.app = app
        self.api_key = api_key or None
        self.limit = max_request_bytes
        self.hosts = {_host_name(h) for h in allowed_hosts if h != "*"}
        self.any_host = "*" in allowed_hosts
        self.origins = {o.rstrip("/").lower() for o in allowed_origins}

    def _cross_site(self, headers: dict[bytes, bytes]) -> FishError | None:
        """Without a key: a non-local Host, or an Origin other than this server's own."""
        host = headers.get(b"host", b"").decode("latin-1")
        name = _host_name(host)
        if not self.any_host and name not in LOCAL_HOSTS and name not in self.hosts:
            return FishError(403, "host", f"host {name!r} is not served without an API key; see ALLOWED_HOSTS")
        origin = headers.get(b"origin", b"").decode("latin-1").strip().rstrip("/").lower()
        if origin:
            parts = urlsplit(origin)
            if parts.netloc != host.strip().lower() and origin not in self.origins:
                return FishError(403, "origin", f"origin {origin!r} may not call this server without an API key")
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        if not self.api_key:
            err = self._cross_site(headers)
            if err is not None:
                return await error_response(err)(scope, receive, send)
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
