"""Agent mode for a surface: raw request -> checked request -> engine turn on the model thread ->
JSON-ready chunks, in the same shapes as the tts chunks of the RunPod worker.

Chunks, in the order the model produces them (streaming):
  {"type": "text", "text": ...}
  {"type": "audio", "index": i, "format": fmt, "audio": base64}   all audio chunks concatenated
                                                                 form one valid file of `format`
  {"type": "done", "text", "conversation_id", "history", "finish_reason", "timings", ...}
Non-streaming yields only the `done` chunk, which then carries the whole reply as `audio`.

`load_agent_service(tts_engine)` builds the backend named by AGENT_BACKEND (`fish`, default, or
`llm`) with the conversation store of CONVERSATION_STORE; a load failure is kept and reported to
each agent job as a 503, so tts jobs keep working.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from collections.abc import AsyncIterator
from contextlib import aclosing

from fish_speech.agent.memory import display_history
from fish_speech.agent.request import parse_agent_request
from fish_speech.agent.types import AudioEvent, DoneEvent, TextEvent
from fish_speech.audio_chunks import CHUNK_BYTES, AudioChunks
from fish_speech.errors import FishError
from fish_speech.fields import Limits

log = logging.getLogger(__name__)


def _rounded(timings: dict) -> dict:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in timings.items()}


class AgentService:
    def __init__(self, engine, limits: Limits | None = None, chunk_bytes: int = CHUNK_BYTES):
        self.engine = engine
        self.limits = limits or Limits.from_env()
        self.chunk_bytes = chunk_bytes

    async def chunks(self, raw: dict, scheduler) -> AsyncIterator[dict]:
        """The chunks of one agent job; `scheduler` runs the engine on the model thread."""
        request, out, unknown = await asyncio.to_thread(parse_agent_request, raw, self.limits)
        if unknown:
            log.warning("agent job: ignoring unknown fields %s", ", ".join(unknown))
        sr = self.engine.sample_rate
        audio = AudioChunks(out.format, sr, out.streaming, self.chunk_bytes)
        done = None
        try:
            async with aclosing(scheduler.stream(self.engine.chat, request)) as events:
                async for event in events:
                    if isinstance(event, TextEvent):
                        if out.streaming and event.text:
                            yield {"type": "text", "text": event.text}
                    elif isinstance(event, AudioEvent):
                        for chunk in await audio.add(event.audio):
                            yield chunk
                    elif isinstance(event, DoneEvent):
                        done = event
            if done is None:  # pragma: no cover - the engine always ends with one
                raise FishError(500, None, "the agent ended without a reply")
            last, data = await audio.finish()
        finally:
            audio.close()
        summary = {
            "type": "done",
            "mode": "agent",
            "backend": self.engine.backend,
            "text": done.text,
            "conversation_id": done.conversation_id,
            "finish_reason": done.finish_reason,
            "history": display_history(done.messages, out.return_codes),
            "format": out.format,
            "sample_rate": audio.file_rate,
            "duration": round(audio.duration, 3),
            "timings": _rounded(done.timings),
        }
        for chunk in last:
            yield chunk
        if out.streaming:
            summary["chunks"] = audio.chunks
        else:  # the whole reply rides in `done`; the RunPod handler splits it if it is too large
            summary["audio"] = base64.b64encode(data).decode("ascii")
            summary["bytes"] = len(data)
        yield summary

    async def __call__(self, job: dict, raw: dict, worker) -> AsyncIterator[dict]:
        """The RunPod handler's agent slot: `(job, raw input, worker) -> chunks`."""
        async with aclosing(self.chunks(raw, worker.scheduler)) as chunks:
            async for chunk in chunks:
                yield chunk


class UnavailableAgent:
    """Stands in for an agent that failed to load: every agent job gets the reason as a 503."""

    backend = None

    def __init__(self, error: FishError):
        self.error = error

    async def chunks(self, raw, scheduler):
        raise self.error
        yield  # pragma: no cover - makes this an async generator

    def __call__(self, job, raw, worker):
        return self.chunks(raw, None)


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def load_agent_engine(tts_engine, store=None):
    """The backend named by AGENT_BACKEND, sharing the tts engine's codec (and, for `llm`, its voice)."""
    from fish_speech.store import store_from_env

    store = store if store is not None else store_from_env()
    backend = os.environ.get("AGENT_BACKEND", "fish").strip().lower() or "fish"
    device, half, compile = str(tts_engine.device), env_flag("HALF"), env_flag("COMPILE")
    if backend == "fish":
        from fish_speech.agent.loader import agent_checkpoint_path
        from fish_speech.engine.agent import AgentEngine

        return AgentEngine.load(
            agent_checkpoint_path(), tts_engine.codec, store, device=device, half=half, compile=compile
        )
    if backend == "llm":
        from fish_speech.engine.cascade import CascadeEngine

        path = os.environ.get("AGENT_LLM_PATH", "").strip()
        if not path:
            raise FishError(
                500, "AGENT_LLM_PATH", "AGENT_BACKEND=llm needs AGENT_LLM_PATH (a Hugging Face chat model directory)"
            )
        return CascadeEngine.load(path, tts_engine, store, device=device, half=half)
    raise FishError(500, "AGENT_BACKEND", f"AGENT_BACKEND must be 'fish' or 'llm', not {backend!r}")


def load_agent_service(tts_engine, limits: Limits | None = None):
    """An AgentService, or an UnavailableAgent carrying why it could not be built."""
    try:
        return AgentService(load_agent_engine(tts_engine), limits)
    except FishError as err:
        log.error("agent mode unavailable: %s", err)
        return UnavailableAgent(FishError(503, err.field, f"agent mode unavailable: {err.message}"))
    except Exception as err:
        log.exception("loading the agent failed")
        return UnavailableAgent(FishError(503, None, f"agent mode unavailable: {type(err).__name__}: {err}"))
