"""An agent turn, written once for every surface: raw request -> checked request -> engine turn on
the model thread -> events (`TextOut`, `AudioBytes`, one `JobDone`).

The conversation is loaded before, and the turn stored after, the engine runs, both off the model
thread (`ConversationStore.run`); a job that fails at any step stores nothing and caches no voice.

Streaming yields text and audio pieces as the model produces them; otherwise only the whole audio
file (`AudioBytes(whole=True)`) and the summary. `load_agent(runtime)` builds the backend named by
AGENT_BACKEND (`fish`, or `llm`) with the conversation store of CONVERSATION_STORE; a load failure
is kept and reported to each agent job as a 503, so tts jobs keep working.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing

from fish_speech.agent.memory import display_history
from fish_speech.agent.types import AudioEvent, DoneEvent, TextEvent
from fish_speech.audio.sink import AudioSink
from fish_speech.errors import FishError
from fish_speech.service.agent_fields import parse_agent_request
from fish_speech.service.events import AudioBytes, JobDone, TextOut
from fish_speech.service.fields import check_family_fields

log = logging.getLogger(__name__)


def _rounded(timings: dict) -> dict:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in timings.items()}


class AgentService:
    def __init__(self, engine, limits, max_message_chars: int = 0, conversation_secret: str | None = None):
        self.engine = engine
        self.limits = limits
        self.max_message_chars = max_message_chars or limits.max_text_length
        self._secret = conversation_secret
        self._ownership = None

    @property
    def ownership(self):
        """Tokens for the engine's current store (None: the engine keeps no conversations)."""
        from fish_speech.store.ownership import Ownership

        store = getattr(self.engine, "store", None)
        if store is None:
            return None
        if self._ownership is None or self._ownership.store is not store:
            self._ownership = Ownership(store, self._secret)
        return self._ownership

    def voice_model(self) -> dict:
        """The cascade's speaking model (family, checkpoint) for the summary; fish-agent speaks itself."""
        from fish_speech.service.runtime import family_info

        family = getattr(getattr(self.engine, "tts", None), "family", None)
        return family_info(family) if family is not None else {}

    def check_family_fields(self, sampling) -> None:
        """The knobs the voice model honours: the cascade's tts family, or fish-agent's own (1.5's)."""
        from fish_speech.models.family import SAMPLING_FIELDS
        from fish_speech.models.text2semantic.detect import FISH_15

        family = getattr(getattr(self.engine, "tts", None), "family", None)
        name, supported = (family.name, family.sampling_fields) if family else (FISH_15, SAMPLING_FIELDS[FISH_15])
        values = {"repetition_penalty": sampling.repetition_penalty, "top_k": sampling.top_k}
        check_family_fields(values, name, supported)

    async def events(self, raw: dict, scheduler) -> AsyncIterator:
        """The events of one agent turn; `scheduler` runs the engine on the model thread."""
        request, out, unknown = await asyncio.to_thread(parse_agent_request, raw, self.limits, self.max_message_chars)
        self.check_family_fields(request.sampling)
        if unknown:
            log.warning("agent job: ignoring unknown fields %s", ", ".join(unknown))
        token, cid = None, request.conversation_id
        store = getattr(self.engine, "store", None) if cid is not None else None
        if store is not None:
            # Store I/O runs on the store's threads with STORE_TIMEOUT_S, never on the model thread: a
            # locked or slow store delays (or fails, 503) this conversation's job only.
            token = await store.run(self.ownership.check, cid, raw.get("conversation_token"))  # before any read
            request.conversation = await store.run(store.load, cid)
        request.new_voices = []  # cached only if the whole job succeeds
        sink = AudioSink(out.format, self.engine.sample_rate, out.streaming)
        done = None
        try:
            async with aclosing(scheduler.stream(self.engine.chat, request)) as events:
                async for event in events:
                    if isinstance(event, TextEvent):
                        if out.streaming and event.text:
                            yield TextOut(event.text)
                    elif isinstance(event, AudioEvent):
                        data = await sink.add(event.audio)
                        if data:
                            yield AudioBytes(data, sink.format)
                    elif isinstance(event, DoneEvent):
                        done = event
            if done is None:  # pragma: no cover - the engine always ends with one
                raise FishError(500, None, "the agent ended without a reply")
            tail = await sink.finish()
            if store is not None:  # the last step that can fail: a failed job stores nothing
                user, reply = done.messages[-2:]
                system = done.messages[0] if done.messages[0].role == "system" else None
                await store.run(store.append, cid, [user, reply], system=system)
        finally:
            sink.close()
        voices = getattr(self.engine, "voices", None)
        if voices is not None and request.new_voices:
            voices.commit(request.new_voices)
        if tail:
            yield AudioBytes(tail, sink.format, whole=not out.streaming)
        yield JobDone(
            {
                "mode": "agent",
                "backend": self.engine.backend,
                **self.voice_model(),
                "text": done.text,
                "conversation_id": done.conversation_id,
                "conversation_token": token,
                "finish_reason": done.finish_reason,
                "history": display_history(done.messages, out.return_codes),
                "format": out.format,
                "sample_rate": sink.file_rate,
                "duration": round(sink.duration, 3),
                "timings": _rounded(done.timings),
            }
        )


class UnavailableAgent:
    """Stands in for an agent that failed to load: every agent job gets the reason as a 503."""

    backend = None
    engine = None

    def __init__(self, error: FishError):
        self.error = error

    async def events(self, raw, scheduler):
        raise self.error
        yield  # pragma: no cover - makes this an async generator


def check_backend_family(rt) -> None:
    """fish-agent speaks the 1.5 codec only (8 codebooks of 1024): with an S1-mini or S2-Pro tts model
    loaded, AGENT_BACKEND=fish cannot share its codec or voices, so it is refused with the reason."""
    from fish_speech.models.text2semantic.detect import FISH_15

    family = rt.engine.family.name if rt.engine is not None else None
    if rt.settings.agent_backend == "fish" and family not in (None, FISH_15):
        raise FishError(
            503,
            "AGENT_BACKEND",
            f"AGENT_BACKEND=fish (fish-agent) speaks the Fish Speech 1.5 codec only, but the loaded model is "
            f"{family}; use AGENT_BACKEND=llm (a chat model + this {family} voice) or a fish-speech-1.5 checkpoint",
        )


def load_agent_engine(rt, store=None):
    """The backend named by AGENT_BACKEND, sharing the tts engine's codec and the voice library."""
    from fish_speech.store import store_from_settings

    check_backend_family(rt)
    s = rt.settings
    store = store if store is not None else store_from_settings(s)
    tts = rt.engine
    options = {
        "max_reply_tokens": s.agent_max_reply_tokens,
        "stream_frames": s.agent_stream_frames,
        "voices": rt.voices,
        "default_system": s.default_system_message,
    }
    device = str(tts.device)
    if s.agent_backend == "fish":
        from fish_speech.agent.engine import AgentEngine

        options.update(prefix_cache_bytes=s.prefix_cache_bytes, packed_weight_bytes=s.packed_weight_bytes)
        return AgentEngine.load(
            s.agent_checkpoint_path, tts.codec, store, device=device, half=s.half, compile=s.compile, **options
        )
    from fish_speech.agent.cascade import CascadeEngine

    if not s.agent_llm_path:
        raise FishError(
            500, "AGENT_LLM_PATH", "AGENT_BACKEND=llm needs AGENT_LLM_PATH (a Hugging Face chat model directory)"
        )
    knobs = (s.agent_llm_temperature, s.agent_llm_top_p, s.agent_llm_repetition_penalty)
    return CascadeEngine.load(
        s.agent_llm_path, tts, store, device=device, half=s.half, knobs=knobs,
        sentence_chars=s.agent_sentence_chars, **options,
    )  # fmt: skip


def load_agent(rt) -> AgentService | UnavailableAgent:
    """An AgentService, or an UnavailableAgent carrying why it could not be built."""
    try:
        s = rt.settings
        return AgentService(load_agent_engine(rt), rt.limits, s.agent_max_message_chars, s.conversation_secret)
    except FishError as err:
        log.error("agent mode unavailable: %s", err)
        return UnavailableAgent(FishError(503, err.field, f"agent mode unavailable: {err.message}"))
    except Exception as err:
        log.exception("loading the agent failed")
        return UnavailableAgent(FishError(503, None, f"agent mode unavailable: {type(err).__name__}: {err}"))
