"""The fish-agent engine: one conversational turn in, text and speech out as they are generated.

`AgentEngine.chat(request)` is a sync generator (run it on the model thread, see Scheduler):
it settles the context (memory.py), lays out the prompt (agent/prompt.py), runs interleaved
generation (agent/generate.py) and decodes every speech run through the codec as it grows, with
one causal decoder for the whole reply so consecutive runs join without clicks. It ends with a
`DoneEvent` after the turn has been stored.

Hard caps keep every job finite even with a model that never ends its turn: AGENT_MAX_REPLY_TOKENS
(text tokens + audio frames per reply) and the model's context.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fish_speech.agent.generate import AgentGenerator
from fish_speech.agent.loader import AgentModel, load_agent_model
from fish_speech.agent.memory import open_turn, reply_room
from fish_speech.agent.prompt import build_prompt, encode_message
from fish_speech.agent.types import AgentRequest, AudioEvent, DoneEvent, TextEvent
from fish_speech.models.text2semantic.prefix import PrefixCache
from fish_speech.models.text2semantic.sampling import seed_everything
from fish_speech.models.vqgan.codec import StreamingDecoder
from fish_speech.store.base import ConversationStore
from fish_speech.store.conversation import Message, TextPart, VQPart
from fish_speech.voices.encode import VoiceEncoder
from fish_speech.voices.library import ReferenceLibrary

DEFAULT_SYSTEM_MESSAGE = (
    "You are a friendly voice assistant made by Fish Audio. You talk with the user out loud, "
    "so keep your answers short and natural, and speak them."
)


class AgentEngine:
    backend = "fish"

    def __init__(
        self,
        am: AgentModel,
        codec,
        store: ConversationStore | None = None,
        compile: bool = False,
        max_reply_tokens: int = 1024,
        stream_frames: int = 24,
        voices: ReferenceLibrary | None = None,
        default_system: str | None = None,
        prefix_cache_bytes: int = 0,
    ):
        self.am, self.codec, self.store = am, codec, store
        self.sample_rate = codec.sample_rate
        # The system turn (message + voice) opens every prompt of a conversation: its K/V are kept.
        self.generator = AgentGenerator(am, compile=compile, prefix_cache=PrefixCache(prefix_cache_bytes))
        self.max_reply_tokens = max_reply_tokens
        # Long speech runs are decoded every `stream_frames` frames (~1.1 s at 24), not only at their end.
        self.stream_frames = stream_frames
        self.default_system = default_system or DEFAULT_SYSTEM_MESSAGE
        # The voice of a conversation is usually re-sent every turn: the process's library encodes it once.
        self.voices = voices if voices is not None else ReferenceLibrary(VoiceEncoder(codec))
        self.steer = None  # tests: step -> main-token logit bias (see AgentGenerator.generate)

    @classmethod
    def load(
        cls,
        checkpoint_path: str | Path,
        codec,
        store: ConversationStore | None = None,
        device: str | None = None,
        half: bool = False,
        packed_weight_bytes: int = 0,
        **options,
    ) -> AgentEngine:
        am = load_agent_model(checkpoint_path, device=device, half=half, packed_weight_bytes=packed_weight_bytes)
        return cls(am, codec, store, **options)

    def encode_audio(self, data: bytes, field_name: str) -> np.ndarray:
        """An audio file's bytes -> codec codes int16 [8, T] (errors name the request field)."""
        return np.asarray(self.voices.encoder.codes(data, field_name), dtype=np.int16)

    def reply_budget(self, requested: int) -> int:
        return min(requested, self.max_reply_tokens) if requested > 0 else self.max_reply_tokens

    def reply_room(self, budget: int) -> int:
        return reply_room(budget, self.am.args.max_seq_len)

    def chat(self, request: AgentRequest) -> Iterator[TextEvent | AudioEvent | DoneEvent]:
        start = time.perf_counter()
        tok, n = self.am.tokenizer, self.am.args.num_codebooks
        voice = None
        if request.system_audio is not None:
            codes = self.voices.from_audio(
                request.system_audio, "", field="system_audio", pending=request.new_voices
            ).codes
            voice = VQPart(np.asarray(codes, dtype=np.int16), request.reference_text)
        turn = open_turn(request, voice, self.default_system, self.store)
        user = Message("user", [TextPart(request.message)] if request.message else [])
        if request.message_audio is not None:
            user.parts.append(VQPart(self.encode_audio(request.message_audio, "message_audio")))
        budget = self.reply_budget(request.sampling.max_new_tokens)
        max_prompt = self.am.args.max_seq_len - self.reply_room(budget)
        prompt = build_prompt(turn.system, turn.history, user, tok, n, max_prompt)
        head = encode_message(turn.system, tok, n).shape[1] if turn.system is not None else 0  # the shared prefix
        s = request.sampling
        seed_everything(s.seed)
        t = {
            "prompt_tokens": prompt.tokens.shape[1],
            "dropped_turns": prompt.dropped,
            "first_text_s": None,
            "first_audio_s": None,
            "prefill_s": None,
            "prefix_cached": False,
            "prefix_columns": 0,  # prompt columns served from the prefix cache (system turn, last turn)
            "decode_s": 0.0,
        }
        parts: list = []
        text_ids: list[int] = []
        run: list[np.ndarray] = []  # frames of the current speech run
        pending = 0  # frames of `run` not decoded yet
        decoder = StreamingDecoder(self.codec)

        def flush_text():
            text = tok.decode(text_ids)
            text_ids.clear()
            parts.append(TextPart(text))
            if t["first_text_s"] is None:
                t["first_text_s"] = time.perf_counter() - start
            return TextEvent(text)

        def decode(frames: list[np.ndarray]):
            t0 = time.perf_counter()
            codes = np.stack(frames, axis=1)
            audio = np.asarray(decoder.push(codes.astype(np.int64)), dtype=np.float32)
            t["decode_s"] += time.perf_counter() - t0
            if t["first_audio_s"] is None:
                t["first_audio_s"] = time.perf_counter() - start
            return AudioEvent(audio, self.sample_rate, codes)

        steps = 0
        gen = self.generator.generate(
            prompt.tokens, budget, s.temperature, s.top_p, s.repetition_penalty, steer=self.steer, prefix=head
        )
        for main, codes in gen:
            if not steps:  # the prefill is done once the first position is out
                record = self.generator.last_prefill
                t.update(prefill_s=record.seconds, prefix_cached=record.cached, prefix_columns=record.columns)
            steps += 1
            if codes is None:
                if run:
                    if pending:
                        yield decode(run[-pending:])
                    parts.append(VQPart(np.stack(run, axis=1)))
                    run, pending = [], 0
                text_ids.append(main)
                continue
            if text_ids:
                yield flush_text()
            run.append(codes)
            pending += 1
            if pending >= self.stream_frames:
                yield decode(run[-pending:])
                pending = 0
        if text_ids:
            yield flush_text()
        if run:
            if pending:
                yield decode(run[-pending:])
            parts.append(VQPart(np.stack(run, axis=1)))
        reply = Message("assistant", parts)
        messages = turn.close(user, reply)
        total = time.perf_counter() - start
        t.update(
            reply_tokens=steps,
            audio_frames=sum(p.frames for p in parts if isinstance(p, VQPart)),
            total_s=total,
            generate_s=total - t["decode_s"],
        )
        yield DoneEvent(
            reply.text, request.conversation_id, messages, reply, "stop" if self.generator.stopped else "length", t
        )
