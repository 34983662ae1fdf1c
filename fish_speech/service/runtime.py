"""What one process serves with: settings, the tts engine, the model thread, the voice library, the agent.

Built once per process (RunPod worker, HTTP server) and shared by every job. Everything that touches
the model runs on `scheduler`'s thread. A load failure is kept, not raised: every job then fails with
a 503 saying why, instead of the process exiting and being restarted in a loop.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from fish_speech.engine.scheduler import make_scheduler
from fish_speech.errors import FishError
from fish_speech.models.random_weights import WARNING as RANDOM_WARNING
from fish_speech.models.random_weights import is_random
from fish_speech.settings import Limits, Settings
from fish_speech.voices.encode import VoiceEncoder
from fish_speech.voices.library import ReferenceLibrary

log = logging.getLogger("fish_speech.service")


def family_info(family) -> dict:
    """{"family", "model"} of a loaded `ModelFamily` (the model is its checkpoint folder's name)."""
    if family is None:
        return {"family": None, "model": None}
    return {"family": family.name, "model": Path(family.checkpoint_dir).name}


class Runtime:
    def __init__(
        self,
        settings: Settings | None = None,
        engine=None,
        error: FishError | None = None,
        agent=None,
        ref_data_root: str | Path = "ref_data",
    ):
        self.settings = settings or Settings()
        self.limits = Limits.from_settings(self.settings)
        self.engine, self.error, self.agent = engine, error, agent
        self.ref_data_root = Path(ref_data_root)
        self.scheduler = make_scheduler(engine, self.settings.max_batch) if engine is not None else None
        self._agent_lock = threading.Lock()
        self.voices = None
        if engine is not None:
            encoder = VoiceEncoder(engine.codec, self.limits.max_reference_bytes, self.limits.max_reference_seconds)
            s = self.settings
            self.voices = ReferenceLibrary(
                encoder,
                root=s.references_dir,
                cache_size=s.reference_cache_items,
                cache_bytes=s.reference_cache_bytes,
                max_voices=s.max_saved_voices,
            )

    @classmethod
    def load(cls, settings: Settings, with_agent: bool = False, **kwargs) -> Runtime:
        """Load the models the settings name; never raises (a failure is kept as `error`)."""
        try:
            from fish_speech.engine.tts import TTSEngine

            t0 = time.perf_counter()
            engine = TTSEngine.load(
                settings.checkpoint_path,
                settings.codec_path,  # None: the family's codec file beside the weights
                device=settings.device,
                half=settings.half,
                compile=settings.compile,
                prefix_cache_bytes=settings.prefix_cache_bytes,
                packed_weight_bytes=settings.packed_weight_bytes,
            )
            log.info("%s loaded in %.1f s on %s", engine.family.name, time.perf_counter() - t0, engine.device)
            if is_random(engine.family.checkpoint_dir, engine.family.codec_path):
                log.warning("%s (%s)", RANDOM_WARNING, settings.checkpoint_path)
        except Exception as err:  # noqa: BLE001 - reported to every job instead
            log.exception("loading the models failed")
            error = FishError(503, None, f"models not loaded: {type(err).__name__}: {err}")
            return cls(settings, error=error, **kwargs)
        rt = cls(settings, engine=engine, **kwargs)
        if with_agent:
            rt.load_agent()
        return rt

    @property
    def random_weights(self) -> bool:
        """Whether a loaded model is a random-weight test checkpoint (its folder carries the marker)."""
        family = getattr(self.engine, "family", None)
        paths = [family.checkpoint_dir, family.codec_path] if family is not None else []
        if getattr(self.agent, "engine", None) is not None and self.settings.agent_backend == "fish":
            paths.append(self.settings.agent_checkpoint_path)
        return is_random(*paths)

    def load_agent(self):
        from fish_speech.service.agent import load_agent

        self.agent = load_agent(self)
        return self.agent

    def ensure_agent(self, prepare=None):
        """The agent, loaded now if it was not preloaded (blocking: call it off the event loop).
        `prepare()` runs first, once (the worker fetches missing weights there)."""
        with self._agent_lock:
            if self.agent is None:
                t0 = time.perf_counter()
                try:
                    from fish_speech.service.agent import check_backend_family

                    check_backend_family(self)  # before any download of weights it could not use
                    if prepare is not None:
                        prepare()
                except FishError as err:
                    from fish_speech.service.agent import UnavailableAgent

                    log.error("agent mode unavailable: %s", err)
                    self.agent = UnavailableAgent(FishError(503, err.field, f"agent mode unavailable: {err.message}"))
                    return self.agent
                self.load_agent()
                log.info("agent loaded on first use in %.1f s", time.perf_counter() - t0)
                if self.settings.agent_backend == "fish" and is_random(self.settings.agent_checkpoint_path):
                    log.warning("%s (%s)", RANDOM_WARNING, self.settings.agent_checkpoint_path)
        return self.agent

    def model_info(self) -> dict:
        """What is loaded, for `/v1/health`, the page and every job's summary: the family and the
        checkpoint folder's name (None until the models load)."""
        return family_info(self.engine.family if self.engine is not None else None)

    def check_family_fields(self, values) -> None:
        """400 for a sampling knob the loaded family does not honour (see `fields.check_family_fields`)."""
        from fish_speech.service.fields import check_family_fields

        if self.engine is not None:
            family = self.engine.family
            check_family_fields(values, family.name, family.sampling_fields)

    def check_ready(self) -> None:
        if self.error is not None:
            raise self.error
        if self.engine is None:
            raise FishError(503, None, "the tts engine is not loaded")
