"""One thread owns the model; async callers queue work and get results back in order.

`stream(fn, ...)` runs the sync generator `fn(...)` on the model thread and hands its items to the
awaiting coroutine, so many async jobs (RunPod, HTTP) share one GPU without blocking each other's
I/O. Leaving the `async for` early (or cancelling the task) stops the generator between items.
Today jobs run one at a time; batching several requests per decode step would live behind this
same interface.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from typing import Any, Callable, Iterator

_END = object()


class Scheduler:
    def __init__(self, name: str = "model-worker"):
        self._jobs: queue.Queue = queue.Queue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        """Jobs queued or running."""
        return self._pending

    def _run(self):
        while True:
            self._jobs.get()()

    def stream(self, fn: Callable[..., Iterator[Any]], *args, **kwargs) -> "JobStream":
        """Queue `fn(*args, **kwargs)`; iterate the result with `async for`. Must be called in a running loop."""
        return JobStream(self, fn, args, kwargs)

    async def call(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        def once():
            yield fn(*args, **kwargs)

        values = [v async for v in self.stream(once)]
        return values[0]


class _Channel:
    """What the model thread and the consumer share. The worker never holds the consumer's handle,
    so dropping the handle (a `break`) is noticed at once through `__del__`."""

    def __init__(self):
        self.loop = asyncio.get_running_loop()
        self.out: asyncio.Queue = asyncio.Queue()
        self.stop = threading.Event()

    def send(self, kind, value):
        try:
            self.loop.call_soon_threadsafe(self.out.put_nowait, (kind, value))
        except RuntimeError:  # the caller's loop is gone: nobody is listening any more
            self.stop.set()


def _work(sched: Scheduler, ch: _Channel, fn, args, kwargs):
    result = ("end", _END)
    gen = None
    try:
        if not ch.stop.is_set():
            gen = fn(*args, **kwargs)
            for item in gen:
                if ch.stop.is_set():
                    break
                ch.send("item", item)
    except BaseException as e:  # noqa: BLE001 - handed to the caller, who re-raises it
        result = ("error", e)
    finally:
        if gen is not None and hasattr(gen, "close"):
            gen.close()
        with sched._lock:
            sched._pending -= 1
    ch.send(*result)


class JobStream:
    """Async iterator over one queued job. Dropping it (break, cancel, garbage) stops the job."""

    def __init__(self, sched: Scheduler, fn, args, kwargs):
        self._ch = ch = _Channel()
        self._done = False
        with sched._lock:
            sched._pending += 1
        sched._jobs.put(lambda: _work(sched, ch, fn, args, kwargs))

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self._done:
            raise StopAsyncIteration
        try:
            kind, value = await self._ch.out.get()
        except BaseException:  # cancelled while waiting
            self.close()
            raise
        if kind == "item":
            return value
        self._done = True
        if kind == "error":
            raise value
        raise StopAsyncIteration

    def close(self):
        self._ch.stop.set()

    async def aclose(self):
        self.close()

    def __del__(self):
        self._ch.stop.set()
