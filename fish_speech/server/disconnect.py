"""Work nobody waits for stops: a request whose client has gone has its job cancelled.

Streaming responses notice a closed socket when they write; a whole-file request writes nothing
until the end, so `until_disconnected` watches the connection while the job runs and cancels the
job when the client leaves. Cancelling the awaiting task stops the job on the model thread between
steps (see `JobStream`), or before it starts if it is still queued.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request
from fastapi.responses import Response

log = logging.getLogger("fish_speech.server")
T = TypeVar("T")
CLIENT_GONE = 499  # nginx's "client closed request": logged, never seen by the (absent) client


async def _disconnected(request: Request) -> None:
    """Returns once the client has closed the connection. Call only after the body was read:
    from then on the server's receive() yields nothing but the disconnect."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def until_disconnected(request: Request, work: Awaitable[T]) -> T | Response:
    """`await work`, unless the client leaves first: then the work is cancelled and an empty 499
    response is returned (no one reads it)."""
    job = asyncio.ensure_future(work)
    watcher = asyncio.create_task(_disconnected(request))
    try:
        await asyncio.wait({job, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not job.done():
            job.cancel()
    if job.done() and not job.cancelled():
        return job.result()
    try:
        await job  # let the cancellation run its clean-up (the job's stream is closed)
    except asyncio.CancelledError:
        pass
    log.info("%s %s: the client went away; its job was cancelled", request.method, request.url.path)
    return Response(status_code=CLIENT_GONE)
