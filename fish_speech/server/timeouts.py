"""Slow clients cannot hold the server: time limits on reading a request, and a connection cap.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`) and answers 503 past
`limit_concurrency`, but it waits forever for a request's headers and lets a handler wait forever
for its body. Here:
  * `header_timeout_protocol(s)`: uvicorn's HTTP protocol, closing a connection whose next request's
    headers are not complete within `s` seconds of the connection opening (or of the previous
    response ending): one byte every few seconds no longer holds a socket;
  * `BodyTimeout(app, s)`: ASGI middleware; a request body not complete within `s` seconds of the
    handler's first read gets 408 and the connection is closed.
The launcher's flags (--header-timeout, --body-timeout, --keep-alive-timeout, --max-connections) and
their settings (HTTP_HEADER_TIMEOUT, HTTP_BODY_TIMEOUT, HTTP_KEEPALIVE_TIMEOUT, HTTP_MAX_CONNECTIONS)
are listed in docs/http.md.
"""

from __future__ import annotations

import asyncio
import logging
import time

from fish_speech.errors import FishError

log = logging.getLogger("fish_speech.server")


def header_timeout_protocol(timeout_s: float):
    """A subclass of uvicorn's HTTP protocol (httptools or h11, as uvicorn picks) with a header deadline."""
    from uvicorn.protocols.http.auto import AutoHTTPProtocol

    class HeaderTimeoutProtocol(AutoHTTPProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport):
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self):
            super().on_response_complete()
            self._arm()  # the next request on this connection gets the same deadline

        def connection_lost(self, exc):
            self._disarm()
            super().connection_lost(exc)

        def _arm(self):
            self._disarm()
            if not self.transport.is_closing():
                # a request whose headers are complete replaces `cycle`: the deadline then no longer applies
                self._header_timer = self.loop.call_later(timeout_s, self._expire, self.cycle)

        def _disarm(self):
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expire(self, cycle_then):
            self._header_timer = None
            if self.cycle is cycle_then and not self.transport.is_closing():
                log.info("closing a connection from %s: no complete request headers in %g s", self.client, timeout_s)
                self.transport.close()

    return HeaderTimeoutProtocol


class BodyTimeout:
    """408 (and the connection closed) when a request body takes longer than `timeout_s` to arrive."""

    def __init__(self, app, timeout_s: float):
        self.app, self.timeout_s = app, float(timeout_s)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.timeout_s:
            return await self.app(scope, receive, send)
        deadline = None
        complete = False

        async def timed_receive():
            nonlocal deadline, complete
            if complete:  # the body is in: later reads wait for the disconnect, as long as it takes
                return await receive()
            if deadline is None:
                deadline = time.monotonic() + self.timeout_s
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                raise FishError(
                    408, None, f"the request body did not arrive within {self.timeout_s:g} s (HTTP_BODY_TIMEOUT)"
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        async def closing_send(message):
            if message["type"] == "http.response.start" and message["status"] == 408:
                # the rest of the body may still be on its way: this connection cannot carry another request
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        return await self.app(scope, timed_receive, closing_send)
