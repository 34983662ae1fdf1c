"""One thread owns the model; async callers queue work and get results back in order.

`stream(fn, ...)` runs the sync generator `fn(...)` on the model thread and hands its items to the
awaiting coroutine, so many async jobs (RunPod, HTTP) share one GPU without blocking each other's
I/O. Leaving the `async for` early (or cancelling the task) stops the generator between items.
`Scheduler` runs jobs one at a time; `BatchScheduler` (same interface) runs up to `max_batch`
`synthesize` jobs at once, sharing each decode step, and other jobs between steps.
"""

from __future__ import annotations

import asyncio
import inspect
import queue
import threading
from collections import deque
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

    def _submit(self, ch: "_Channel", fn, args, kwargs, request=None):
        self._jobs.put(lambda: _work(self, ch, fn, args, kwargs))

    def stream(self, fn: Callable[..., Iterator[Any]], *args, **kwargs) -> "JobStream":
        """Queue `fn(*args, **kwargs)`; iterate the result with `async for`. Must be called in a running loop."""
        return JobStream(self, fn, args, kwargs)

    def synthesize(self, engine, request) -> "JobStream":
        """The segments of `engine.synthesize(request)`; a `BatchScheduler` runs it in a batch slot."""
        return JobStream(self, engine.synthesize, (request,), {}, request=request, stop_arg="should_stop")

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


def _accepts(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


class JobStream:
    """Async iterator over one queued job. Dropping it (break, cancel, garbage) stops the job."""

    def __init__(self, sched: Scheduler, fn, args, kwargs, request=None, stop_arg: str | None = None):
        self._ch = ch = _Channel()
        self._done = False
        if stop_arg and _accepts(fn, stop_arg):  # fn polls the flag itself: it stops between steps, not items
            kwargs = {**kwargs, stop_arg: ch.stop.is_set}
        with sched._lock:
            sched._pending += 1
        sched._submit(ch, fn, args, kwargs, request)  # `request`: a tts request a batch may take

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


def make_scheduler(engine=None, max_batch: int = 1) -> Scheduler:
    """The surfaces' scheduler: MAX_BATCH > 1 (and an engine) batches synthesize jobs."""
    return BatchScheduler(engine, max_batch) if engine is not None and max_batch > 1 else Scheduler()


class _BatchJob:
    def __init__(self, ch: _Channel, request):
        self.ch, self.request = ch, request
        self.synthesis = None  # the engine's `Synthesis`, started once the job has a slot
        self.slot = None


class BatchScheduler(Scheduler):
    """A `Scheduler` whose `synthesize` jobs run together, one batch slot each.

    The model thread loops: take new jobs (other kinds, e.g. reference encoding, run whole right
    away), give waiting synthesize jobs the free slots, advance every running job until its slot
    waits for frames (prefill, codec decode and handing segments out happen here), then run one
    batched decode step. The scheduler drives each job's code blocks itself (`engine.start`: the
    family's block iterator, which yields `WAIT` while the batch computes) and hands real blocks to
    the engine's `render`, so the engine never sees the batch. A job keeps its slot across its
    text chunks; a finished or cancelled job frees it.
    """

    def __init__(self, engine, max_batch: int, name: str = "model-worker"):
        from fish_speech.models.text2semantic.batch import Slot

        self.engine = engine
        self.batch = engine.family.batch_generator(max_batch)
        self._slots = [Slot(self.batch, i) for i in range(max_batch)]
        self._free = list(reversed(range(max_batch)))
        self._waiting: deque[_BatchJob] = deque()
        self._running: list[_BatchJob] = []
        super().__init__(name)

    def _submit(self, ch, fn, args, kwargs, request=None):
        if request is not None:
            self._jobs.put(_BatchJob(ch, request))
        else:
            super()._submit(ch, fn, args, kwargs)

    def _run(self):
        while True:
            self._take(block=not self._running and not self._waiting)
            while self._waiting and self._free:
                job = self._waiting.popleft()
                job.slot = self._slots[self._free.pop()]
                self._running.append(job)
            self._running = [job for job in self._running if self._advance(job)]
            if self._running:
                try:
                    self.batch.step()
                except BaseException as e:  # noqa: BLE001 - the step is shared: every running job fails
                    for job in self._running:
                        self._finish(job, ("error", e))
                    self._running = []

    def _take(self, block: bool):
        """Queue new synthesize jobs; run any other job to completion now."""
        while True:
            try:
                item = self._jobs.get(block=block)
            except queue.Empty:
                return
            block = False
            if isinstance(item, _BatchJob):
                self._waiting.append(item)
            else:
                item()

    def _advance(self, job: _BatchJob) -> bool:
        """Run the job until its slot waits for the batch; False once it is over (slot freed)."""
        from fish_speech.models.family import WAIT

        result = ("end", _END)
        try:
            while not job.ch.stop.is_set():
                if job.synthesis is None:
                    job.synthesis = self.engine.start(job.request, job.slot)
                block = next(job.synthesis.blocks)
                if block is WAIT:
                    return True
                for segment in job.synthesis.render(block):
                    job.ch.send("item", segment)
        except StopIteration:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to the caller, who re-raises it
            result = ("error", e)
        self._finish(job, result)
        return False

    def _finish(self, job: _BatchJob, result):
        try:
            if job.synthesis is not None:
                job.synthesis.blocks.close()  # releases the slot's row if it was mid-chunk
        finally:
            self.batch.release(job.slot.index)
            self._free.append(job.slot.index)
            with self._lock:
                self._pending -= 1
            job.ch.send(*result)
