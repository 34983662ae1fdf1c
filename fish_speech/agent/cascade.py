"""The cascade agent backend (AGENT_BACKEND=llm): a Hugging Face chat model writes the reply,
the tts engine speaks it in the `system_audio` voice, sentence by sentence, so the first audio
arrives while the reply is still being written. Same requests, memory and events as the
fish-agent backend, but text only: the LLM cannot hear, so `message_audio` is refused, and the
stored turns are text (the voice is kept as the system message's VQ part, so later turns of a
conversation keep speaking in it without re-sending the audio).

Unlike fish-agent (CC-BY-NC-SA), this pairs the fish-speech tts model with any LLM whose licence
allows commercial use.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fish_speech.agent.engine import DEFAULT_SYSTEM_MESSAGE
from fish_speech.agent.llm import ChatLLM
from fish_speech.agent.memory import open_turn, reply_room
from fish_speech.agent.sentences import SentenceSplitter
from fish_speech.agent.types import AgentRequest, AudioEvent, DoneEvent, TextEvent
from fish_speech.engine.types import Reference, Sampling, TTSRequest
from fish_speech.errors import FishError, bad_input
from fish_speech.models.text2semantic.sampling import seed_everything
from fish_speech.store.base import ConversationStore
from fish_speech.store.conversation import Message, TextPart, VQPart
from fish_speech.voices.encode import VoiceEncoder
from fish_speech.voices.library import ReferenceLibrary

# Speech-frame cap per sentence: ~3x a slow speaker, so a tts model that never stops still ends.
FRAMES_PER_CHAR, MIN_FRAMES = 4, 64


class CascadeEngine:
    backend = "llm"

    def __init__(
        self,
        llm: ChatLLM,
        tts,
        store: ConversationStore | None = None,
        max_reply_tokens: int = 1024,
        sentence_chars: int = 200,
        stream_frames: int = 24,
        voices: ReferenceLibrary | None = None,
        default_system: str | None = None,
    ):
        self.llm, self.tts, self.store = llm, tts, store
        self.sample_rate = tts.sample_rate
        self.max_reply_tokens = max_reply_tokens
        self.sentence_chars = sentence_chars
        self.stream_frames = stream_frames
        self.default_system = default_system or DEFAULT_SYSTEM_MESSAGE
        self.voices = voices if voices is not None else ReferenceLibrary(VoiceEncoder(tts.codec))

    @classmethod
    def load(
        cls,
        llm_path: str | Path,
        tts,
        store: ConversationStore | None = None,
        device: str | None = None,
        half: bool = False,
        knobs: tuple[float, float, float] = (0.7, 0.9, 1.05),
        **options,
    ) -> CascadeEngine:
        return cls(ChatLLM.load(llm_path, device=device, half=half, knobs=knobs), tts, store, **options)

    def _llm_messages(self, system: Message | None, history: list[Message], user_text: str, budget: int):
        """Chat-template messages (text only), dropping the oldest turns until the prompt fits."""
        head = [{"role": "system", "content": system.text}] if system is not None and system.text else []
        turns = [{"role": m.role, "content": m.text} for m in history if m.text]
        user = [{"role": "user", "content": user_text}]
        while True:
            ids = self.llm.prompt_ids(head + turns + user)
            if len(ids) <= budget:
                return ids, len(history) - len(turns)
            if not turns:
                raise FishError(413, "message", f"the prompt needs {len(ids)} tokens; the LLM has room for {budget}")
            turns = turns[2:] if len(turns) > 1 and turns[0]["role"] == "user" else turns[1:]

    def _voice_codes(self, codes: np.ndarray) -> np.ndarray:
        """A stored voice is spoken only by the codec that made it: a conversation kept from another
        family (say 1.5's 8 rows, now with S2-Pro's 10) is a 409 asking for the voice again."""
        sizes = tuple(self.tts.codec.codebook_sizes)
        codes = np.asarray(codes)
        fits = codes.ndim == 2 and codes.shape[0] == len(sizes)
        if fits and codes.shape[1]:
            fits = bool((codes.min(axis=1) >= 0).all() and (codes.max(axis=1) < np.asarray(sizes)).all())
        if not fits:
            raise FishError(
                409,
                "system_audio",
                f"the conversation's voice holds codes {list(codes.shape)} of another codec; the loaded "
                f"{self.tts.family.name} codec reads {len(sizes)} rows: send system_audio again",
            )
        return codes.astype(np.int32)

    def _speak(self, sentence: str, voice: list[Reference], s: Sampling) -> Iterator[np.ndarray]:
        if not any(ch.isalnum() for ch in sentence):
            return  # punctuation only: nothing to say
        cap = max(MIN_FRAMES, FRAMES_PER_CHAR * len(sentence))
        request = TTSRequest(
            text=sentence,
            references=voice,
            chunk_length=0,
            stream_frames=self.stream_frames,
            sampling=Sampling(s.temperature, s.top_p, s.repetition_penalty, cap, None, s.top_k),
        )
        for segment in self.tts.synthesize(request):
            if segment.audio.size:
                yield segment.audio

    def chat(self, request: AgentRequest) -> Iterator[TextEvent | AudioEvent | DoneEvent]:
        start = time.perf_counter()
        if request.message_audio is not None:
            raise bad_input("message_audio", "the llm backend reads text only (use AGENT_BACKEND=fish to speak to it)")
        voice = None
        if request.system_audio is not None:
            # The transcript is kept with the codes: later turns speak in this voice without re-sending either.
            voice = VQPart(
                self.voices.from_audio(
                    request.system_audio, request.reference_text, field="system_audio", pending=request.new_voices
                ).codes,
                request.reference_text,
            )
        turn = open_turn(request, voice, self.default_system, self.store)
        refs = [Reference(self._voice_codes(v.codes), request.reference_text or v.text) for v in turn.voice[:1]]
        s = request.sampling
        budget = min(s.max_new_tokens, self.max_reply_tokens) if s.max_new_tokens > 0 else self.max_reply_tokens
        context = self.llm.context
        prompt, dropped = self._llm_messages(
            turn.system, turn.history, request.message, context - reply_room(budget, context)
        )
        budget = min(budget, context - len(prompt))  # the reply stops where the context ends
        seed_everything(s.seed)
        t = {
            "prompt_tokens": len(prompt),
            "dropped_turns": dropped,
            "first_text_s": None,
            "first_audio_s": None,
            "tts_s": 0.0,
        }
        splitter, text = SentenceSplitter(self.sentence_chars), []

        def speak(sentences):
            for sentence in sentences:
                t0 = time.perf_counter()
                for audio in self._speak(sentence, refs, s):
                    if t["first_audio_s"] is None:
                        t["first_audio_s"] = time.perf_counter() - start
                    yield AudioEvent(audio, self.sample_rate)
                t["tts_s"] += time.perf_counter() - t0

        for piece in self.llm.stream(prompt, budget):
            if t["first_text_s"] is None:
                t["first_text_s"] = time.perf_counter() - start
            text.append(piece)
            yield TextEvent(piece)
            yield from speak(splitter.push(piece))
        yield from speak(splitter.flush())
        user = Message("user", [TextPart(request.message)])
        reply = Message("assistant", [TextPart("".join(text))])
        messages = turn.close(user, reply)
        t.update(reply_tokens=self.llm.last_tokens, total_s=time.perf_counter() - start)
        finish = "length" if self.llm.last_tokens >= budget else "stop"
        yield DoneEvent(reply.text, request.conversation_id, messages, reply, finish, t)
