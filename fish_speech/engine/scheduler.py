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
from typing import Any, AsyncIterator, Callable, Iterator

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
            job = self._jobs.get()
            try:
                job()
            finally:
                with self._lock:
                    self._pending -= 1

    async def stream(self, fn: Callable[..., Iterator[Any]], *args, **kwargs) -> AsyncIterator[Any]:
        loop = asyncio.get_running_loop()
        out: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def send(kind, value):
            try:
                loop.call_soon_threadsafe(out.put_nowait, (kind, value))
            except RuntimeError:  # the caller's loop is gone: nobody is listening any more
                stop.set()

        def job():
            if stop.is_set():
                return
            gen = None
            try:
                gen = fn(*args, **kwargs)
                for item in gen:
                    if stop.is_set():
                        break
                    send("item", item)
                send("end", _END)
            except BaseException as e:  # noqa: BLE001 - handed to the caller, who re-raises it
                send("error", e)
            finally:
                if gen is not None and hasattr(gen, "close"):
                    gen.close()

        with self._lock:
            self._pending += 1
        self._jobs.put(job)
        try:
            while True:
                kind, value = await out.get()
                if kind == "item":
                    yield value
                elif kind == "end":
                    return
                else:
                    raise value
        finally:
            stop.set()

    async def call(self, fn: Callable[..., Any], *args, **kwargs) -> Any:
        def once():
            yield fn(*args, **kwargs)

        async for value in self.stream(once):
            return value
