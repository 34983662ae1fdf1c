"""Agent mode: a voice assistant that answers in text and in a cloned voice and remembers the
conversation. Modules: tokenizer/loader/prompt/generate (the fish-agent model on the shared
DualAR code), llm/sentences (the cascade backend's LLM side), memory (context in and out of the
conversation store), request/types (what crosses the engine boundary), service (chunks for the
surfaces). Engines: fish_speech.agent.engine and fish_speech.agent.cascade."""
