"""The CUDA paths: bf16/fp16 loading, greedy codes against CPU, compiled (CUDA-graph) and batched decode
steps, the codec and streaming on the GPU, and the tts engine end to end.

All marked `cuda`: they skip where torch sees no GPU (tests/conftest.py) and run on the lent GPU machine
through benchmarks/gpu_check.sh. Float32 on CUDA is compared exactly with CPU float32 or eager (a flip
of a near-tied argmax would be a real finding); bf16 is compared by relative error, since random
weights make near ties common and bf16 rounding moves them. Compiling costs tens of seconds a graph,
so only the float32 single and batched steps compile here; compiled bf16 decoding runs full-size in
the script's CLI, bench and engine steps.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from fish_speech.engine.tts import TTSEngine
from fish_speech.engine.types import Reference, Sampling, TTSRequest
from fish_speech.models.text2semantic.batch import BatchGenerator, Slot
from fish_speech.models.text2semantic.generate import WAIT, Generator
from fish_speech.models.text2semantic.loader import load_language_model
from fish_speech.models.vqgan.codec import Codec, StreamingDecoder
from fish_speech.prompt import chunk_prompt, system_prompt

pytestmark = pytest.mark.cuda
CUDA = torch.device("cuda")


def _prompt(lm, text="Hello there. A short test."):
    return torch.cat([system_prompt(lm.tokenizer, 8), chunk_prompt(text, lm.tokenizer, 8)], 1)


def _greedy(generator, prompt, frames, sync_every=4):
    generator.set_sampling(0.0, 0.7, 1.2)
    return torch.cat(list(generator.generate(prompt, frames, sync_every)), 1)


def _fp32_on_cuda(lm_dir):
    """The CPU float32 model moved to the GPU: what CPU results can be compared with exactly."""
    lm = load_language_model(lm_dir, device="cpu")
    return dataclasses.replace(lm, model=lm.model.to(CUDA), device=CUDA)


def _chord(seconds=1.5, rate=44100):
    t = np.arange(int(seconds * rate)) / rate
    wave = sum(np.sin(2 * np.pi * f * t) / (i + 1) for i, f in enumerate((180.0, 360.0, 540.0)))
    return (0.3 * wave * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)


def _rel(a, b):
    a, b = torch.as_tensor(a).double().cpu(), torch.as_tensor(b).double().cpu()
    return float((a - b).norm() / b.norm())


def test_loads_bf16_and_fp16_on_cuda(tiny_checkpoints):
    llama, codec_path = tiny_checkpoints
    lm = load_language_model(llama, device="cuda")
    assert lm.dtype == torch.bfloat16 and lm.device.type == "cuda"
    assert all(p.dtype == torch.bfloat16 and p.is_cuda for p in lm.model.parameters())
    half = load_language_model(llama, device="cuda", half=True)
    assert all(p.dtype == torch.float16 for p in half.model.parameters())
    codec = Codec.load(codec_path, device="cuda")
    assert codec.device.type == "cuda" and codec.dtype == torch.float32
    assert Codec.load(codec_path, device="cuda", dtype=torch.bfloat16).dtype == torch.bfloat16


def test_bf16_prefill_logits_track_cpu_float32(tiny_checkpoints):
    llama, _ = tiny_checkpoints
    cpu, gpu = load_language_model(llama, device="cpu"), load_language_model(llama, device="cuda")
    prompt = _prompt(cpu)
    pos = torch.arange(prompt.shape[1])
    Generator(cpu), Generator(gpu)  # each sets up its model's KV caches, which the prefill writes
    with torch.inference_mode():
        ref, _ = cpu.model.forward_slow(prompt[None], pos, True)
        out, _ = gpu.model.forward_slow(prompt[None].to(CUDA), pos.to(CUDA), True)
    assert torch.isfinite(out.float()).all()
    assert _rel(out.float(), ref) < 3e-2  # bf16 operands land between 1e-3 and 1e-2


def test_greedy_codes_float32_cuda_equal_cpu(tiny_checkpoints):
    llama, _ = tiny_checkpoints
    cpu = load_language_model(llama, device="cpu")
    ref = _greedy(Generator(cpu), _prompt(cpu), 20)
    gpu = _fp32_on_cuda(llama)
    assert torch.equal(_greedy(Generator(gpu), _prompt(gpu), 20), ref)


@pytest.mark.parametrize("half", [False, True], ids=["bf16", "fp16"])
def test_greedy_codes_half_precision_are_valid_and_repeatable(tiny_checkpoints, half):
    lm = load_language_model(tiny_checkpoints[0], device="cuda", half=half)
    a = _greedy(Generator(lm), _prompt(lm), 20)
    b = _greedy(Generator(lm), _prompt(lm), 20)
    assert a.shape == (9, 20) and torch.equal(a, b)
    assert ((a[1:] >= 0) & (a[1:] < 1000)).all()


def test_compiled_cuda_graph_step_equals_eager(tiny_checkpoints):
    lm = _fp32_on_cuda(tiny_checkpoints[0])
    eager = _greedy(Generator(lm), _prompt(lm), 24)
    compiled = Generator(lm, compile=True)
    assert compiled.cuda_graphs
    first = _greedy(compiled, _prompt(lm), 24)  # compiles, records the graph
    again = _greedy(compiled, _prompt(lm, "Another text, other codes."), 24)  # replays with other inputs
    assert torch.equal(first, eager)
    assert torch.equal(again, _greedy(Generator(lm), _prompt(lm, "Another text, other codes."), 24))


def _run_batch(bg, prompts, frames):
    gens = []
    for i, p in enumerate(prompts):
        slot = Slot(bg, i)
        slot.set_sampling(0.0, 0.7, 1.2)
        gens.append(slot.generate(p, frames, 4))
    out = [[] for _ in prompts]
    live = list(range(len(prompts)))
    while live:
        still = []
        for i in live:
            for block in gens[i]:
                if block is WAIT:
                    still.append(i)
                    break
                out[i].append(block)
        if still:
            bg.step()
        live = still
    return [torch.cat(o, 1) for o in out]


@pytest.mark.parametrize("compile", [False, True], ids=["eager", "compiled"])
def test_batched_step_on_cuda_gives_each_request_its_codes_alone(tiny_checkpoints, compile):
    lm = _fp32_on_cuda(tiny_checkpoints[0])
    texts = ["Hello there.", "A different request.", "Third one, longer than the others."]
    prompts = [_prompt(lm, t) for t in texts]
    alone = [_greedy(Generator(lm), p, 16) for p in prompts]
    bg = BatchGenerator(lm, 4, compile=compile)
    assert bg.cuda_graphs == compile
    batched = _run_batch(bg, prompts, 16)
    for a, b in zip(alone, batched):
        assert torch.equal(a, b)


def test_codec_on_cuda_tracks_cpu(tiny_checkpoints):
    path = tiny_checkpoints[1]
    cpu, gpu = Codec.load(path), Codec.load(path, device="cuda")
    x = _chord()
    codes_cpu, codes_gpu = cpu.encode(x, 44100), gpu.encode(x, 44100)
    assert codes_gpu.shape == codes_cpu.shape
    # cuDNN may run float32 convolutions in TF32: a code on an FSQ boundary can round the other way
    assert (codes_gpu.cpu() == codes_cpu).float().mean() > 0.9
    audio_cpu, audio_gpu = cpu.decode(codes_cpu), gpu.decode(codes_cpu)
    assert audio_gpu.shape == audio_cpu.shape and audio_gpu.dtype == torch.float32
    assert _rel(audio_gpu, audio_cpu) < 1e-2
    bf16 = Codec.load(path, device="cuda", dtype=torch.bfloat16)
    assert _rel(bf16.decode(codes_cpu).float(), audio_cpu) < 0.1


def test_streaming_decode_on_cuda_equals_one_shot(tiny_checkpoints):
    codec = Codec.load(tiny_checkpoints[1], device="cuda")
    codes = torch.randint(0, 1000, (8, 40), generator=torch.Generator().manual_seed(4))
    full = codec.decode(codes).cpu()
    stream = StreamingDecoder(codec)
    pieces, start = [], 0
    for n in (1, 3, 7, 2, 16, 11):
        piece = stream.push(codes[:, start : start + n])
        assert piece.shape == (2048 * n,)
        pieces.append(piece.cpu())
        start += n
    # same device, but cuDNN may choose another algorithm per input length: equal up to rounding
    assert torch.allclose(torch.cat(pieces), full, atol=1e-4 * float(full.abs().max()) + 1e-6)


def test_tts_engine_end_to_end_on_cuda(tiny_checkpoints):
    # eager here; gpu_check.sh's `engine` step runs the compiled engine on the full-size model
    engine = TTSEngine.load(*tiny_checkpoints, device="cuda")
    assert engine.device.type == "cuda"
    ref = engine.encode_reference(_chord(), 44100, "a steady hum")
    assert ref.codes.dtype == np.int32 and ref.codes.shape[0] == 8

    def run(stream_frames):
        req = TTSRequest(
            text="Good morning. The weather is fine today.",
            references=[Reference(ref.codes, ref.text)],
            chunk_length=20,
            stream_frames=stream_frames,
            sampling=Sampling(temperature=0.0, max_new_tokens=12),
        )
        return [s for s in engine.synthesize(req) if s is not WAIT]

    whole, streamed = run(0), run(4)
    codes = np.concatenate([s.codes for s in whole], axis=1)
    assert codes.shape[1] > 0 and np.array_equal(codes, np.concatenate([s.codes for s in streamed], axis=1))
    a, b = np.concatenate([s.audio for s in whole]), np.concatenate([s.audio for s in streamed])
    assert a.dtype == np.float32 and len(a) == len(b) == 2048 * codes.shape[1] and np.isfinite(a).all()
    assert np.allclose(a, b, atol=1e-4 * float(np.abs(a).max()) + 1e-6)
    assert 0 < streamed[0].timings["first_audio_s"] <= streamed[-1].timings["elapsed_s"]
