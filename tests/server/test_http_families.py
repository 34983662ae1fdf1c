"""The HTTP server on tiny OpenAudio S1-mini and Fish Audio S2-Pro checkpoints, started as users start it
(`python -m tools.api_server --llama-checkpoint-path checkpoints/s2-pro`, the codec found beside the
weights): health, tts wav/mp3/stream, saved voices, the OpenAI client, the per-family fields, a
cascade agent conversation, and the page in headless Chromium. One server per family."""

from __future__ import annotations

import base64
import io
import shutil

import httpx
import numpy as np
import pytest
import soundfile as sf

from tests.requires import need_module, need_tool
from tests.server.helpers import REF_TEXT, ServerProcess, free_port, voice_wav

FRAME = 2048  # modded DAC samples per frame at 44.1 kHz
FAMILY = {"s1-mini": "openaudio-s1-mini", "s2-pro": "fish-audio-s2-pro"}


@pytest.fixture(scope="module")
def llm_dir(tmp_path_factory):
    need_module("transformers")  # the cascade agent's chat model
    from fish_speech.testing.tiny_llm import write_tiny_llm

    return write_tiny_llm(tmp_path_factory.mktemp("tiny-llm"))


def _start(short: str, root, folder_of, llm_dir) -> ServerProcess:
    """A server on one family's checkpoint folder (named as downloaded), a saved voice `narrator`,
    agent mode with the cascade backend (a tiny chat model writes, the family's model speaks)."""
    folder = root / "checkpoints" / ("s2-pro" if short == "s2-pro" else "openaudio-s1-mini")
    folder.parent.mkdir()
    folder.symlink_to(folder_of)
    narrator = root / "references" / "narrator"
    voice_wav(narrator / "narrator.wav", pitch=120)
    (narrator / "narrator.lab").write_text(REF_TEXT)
    clip = voice_wav(root / "ref_data" / "SPEAKER1" / "CALM" / "0.0-1.2.wav", pitch=110)
    clip.with_suffix(".lab").write_text("a calm clip")
    port = free_port()
    args = ["--listen", f"127.0.0.1:{port}", "--llama-checkpoint-path", str(folder), "--device", "cpu"]
    args += ["--decoder-config-name", "modded_dac_vq", "--mode", "agent"]
    env = {"AGENT_BACKEND": "llm", "AGENT_LLM_PATH": str(llm_dir), "CONVERSATION_STORE": "memory"}
    proc = ServerProcess("tools.api_server", args, cwd=root, env={**env, "AGENT_SENTENCE_CHARS": "16"}, port=port)
    proc.family, proc.model = FAMILY[short], folder.name
    return proc


@pytest.fixture(scope="module")
def servers(tmp_path_factory, tiny_family_dir, llm_dir):
    """Both families' servers, started side by side (their start-ups overlap)."""
    from concurrent.futures import ThreadPoolExecutor

    folders = {short: tiny_family_dir(short) for short in FAMILY}  # written here, not in two threads
    with ThreadPoolExecutor(len(FAMILY)) as pool:
        futures = {
            short: pool.submit(_start, short, tmp_path_factory.mktemp(f"http-{short}"), folders[short], llm_dir)
            for short in FAMILY
        }
        started = {short: f.result() for short, f in futures.items()}
    yield started
    for proc in started.values():
        proc.stop()


@pytest.fixture(params=sorted(FAMILY))
def fam(request, servers):
    """(family short name, its server)."""
    return request.param, servers[request.param]


def post(server, path, body, **kw):
    return httpx.post(f"{server.url}{path}", json=body, timeout=120, **kw)


def wav_samples(data: bytes) -> tuple[np.ndarray, int]:
    samples, sr = sf.read(io.BytesIO(data), dtype="float32")
    return samples, sr


def test_health_and_info_name_the_family(fam):
    short, server = fam
    health = httpx.get(f"{server.url}/v1/health").json()
    assert health == {
        "status": "ok",
        "family": server.family,
        "model": server.model,
        "random_weights": True,  # the tiny writers mark their folders
        "warning": "random-weight test checkpoint: output is noise",
    }
    info = httpx.get(f"{server.url}/v1/info").json()
    assert info["family"] == server.family and info["sample_rate"] == 44100
    assert ("top_k" in info["sampling_fields"]) == (short == "s2-pro")
    assert ("repetition_penalty" in info["sampling_fields"]) == (short != "s2-pro")


def test_tts_wav_mp3_and_stream(fam):
    _, server = fam
    r = post(server, "/v1/tts", {"text": "Hello there.", "max_new_tokens": 8, "seed": 1})
    assert r.status_code == 200, r.text
    samples, sr = wav_samples(r.content)
    assert sr == 44100 and len(samples) == 8 * FRAME and np.abs(samples).max() > 0
    r = post(server, "/v1/tts", {"text": "Hello there.", "max_new_tokens": 8, "format": "mp3"})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg"
    body = {"text": "Streamed speech.", "max_new_tokens": 24, "streaming": True, "stream_frames": 8, "seed": 1}
    with httpx.stream("POST", f"{server.url}/v1/tts", json=body, timeout=120) as r:
        assert r.status_code == 200 and r.headers["transfer-encoding"] == "chunked"
        pieces = [p for p in r.iter_raw() if p]
    samples, _ = wav_samples(b"".join(pieces))
    assert len(samples) == 24 * FRAME and len(pieces) >= 3  # pieces arrive as frames are decoded


def test_fields_follow_the_family(fam):
    short, server = fam
    unsupported, supported = ({"repetition_penalty": 1.5}, {"top_k": 5}) if short == "s2-pro" else ({"top_k": 5}, {})
    r = post(server, "/v1/tts", {"text": "Hi.", "max_new_tokens": 4, **unsupported})
    name = next(iter(unsupported))
    assert r.status_code == 400 and r.json()["field"] == name and server.family in r.json()["message"]
    defaults = {"repetition_penalty": 1.2, "top_k": None, "temperature": 0.7, "top_p": 0.7}  # what old clients send
    r = post(server, "/v1/tts", {"text": "Hi.", "max_new_tokens": 4, **defaults, **supported})
    assert r.status_code == 200, r.text


def test_saved_and_ref_data_voices(fam, ref_wav_bytes):
    _, server = fam
    r = post(
        server,
        "/v1/tts",
        {"text": "In the narrator's voice.", "reference_id": "narrator", "max_new_tokens": 8, "seed": 1},
    )
    assert r.status_code == 200 and len(wav_samples(r.content)[0]) == 8 * FRAME
    b64 = base64.b64encode(ref_wav_bytes).decode()
    assert post(server, "/v1/references", {"id": "fresh", "audio": b64, "text": REF_TEXT}).status_code == 201
    r = post(server, "/v1/tts", {"text": "Fresh voice.", "reference_id": "fresh", "max_new_tokens": 8})
    assert r.status_code == 200
    assert httpx.delete(f"{server.url}/v1/references/fresh").status_code == 200
    r = post(server, "/v1/tts", {"text": "A ref_data voice.", "speaker": "SPEAKER1", "max_new_tokens": 8, "seed": 1})
    assert r.status_code == 200 and len(wav_samples(r.content)[0]) == 8 * FRAME


def test_openai_client(fam, tmp_path):
    need_module("openai")
    import openai

    short, server = fam
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0, timeout=120)
    extra = {"max_new_tokens": 8, "seed": 3, **({"top_k": 20} if short == "s2-pro" else {})}
    r = client.audio.speech.create(
        model="tts-1", voice="narrator", input="Hello.", response_format="wav", extra_body=extra
    )
    assert len(wav_samples(r.content)[0]) == 8 * FRAME
    out = tmp_path / "speech.mp3"
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="alloy", input="Streamed.", extra_body=extra
    ) as r:
        assert r.headers["content-type"] == "audio/mpeg"
        r.stream_to_file(out)
    assert out.stat().st_size > 0


def test_codec_routes_speak_the_modded_dac(fam, ref_wav_bytes):
    _, server = fam
    b64 = base64.b64encode(ref_wav_bytes).decode()
    tokens = post(server, "/v1/vqgan/encode", {"audios": [b64]}).json()["tokens"][0]
    assert len(tokens) == 10 and max(tokens[0]) < 4096 and max(max(row) for row in tokens[1:]) < 1024
    r = post(server, "/v1/vqgan/decode", {"tokens": [tokens], "format": "wav"})
    assert len(wav_samples(base64.b64decode(r.json()["audios"][0]))[0]) == FRAME * len(tokens[0])
    r = post(server, "/v1/vqgan/decode", {"tokens": [tokens[:8]]})  # 1.5-shaped codes: refused, not decoded
    assert r.status_code == 400 and "10" in r.json()["message"]


def test_api_client_sends_top_k(fam, tmp_path):
    """`python -m tools.api_client --top_k` on S2-Pro; on S1-mini the server names the field it refuses."""
    from tests.server.test_api_client import run_client

    short, server = fam
    args = ["--url", f"{server.url}/v1/tts", "--text", "Hi.", "-id", "narrator", "--max_new_tokens", "8", "--seed", "1"]
    r = run_client([*args, "--top_k", "20", "--play", "False", "-o", "out.wav"], tmp_path)
    if short == "s2-pro":
        assert r.returncode == 0, r.stderr
        assert len(wav_samples((tmp_path / "out.wav").read_bytes())[0]) == 8 * FRAME
    else:
        assert r.returncode == 1 and "400 top_k" in r.stderr and server.family in r.stderr


def test_cascade_agent_turns_keep_the_voice_and_the_history(fam, ref_wav_bytes):
    _, server = fam
    voice = base64.b64encode(ref_wav_bytes).decode()
    first = {"message": "My name is Ada.", "system_audio": voice, "reference_text": REF_TEXT}
    first.update(conversation_id="fam-1", max_new_tokens=8, seed=2, streaming=False, format="wav")
    r = post(server, "/v1/chat", first)
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["backend"] == "llm" and done["text"] and done["family"] == server.family
    second = {"message": "Who am I?", "conversation_id": "fam-1", "conversation_token": done["conversation_token"]}
    second.update(max_new_tokens=8, streaming=False, format="wav", return_codes=True)
    r = post(server, "/v1/chat", second)
    assert r.status_code == 200, r.text
    history = r.json()["history"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user", "assistant"]
    codes = next(p for p in history[0]["parts"] if p["type"] == "vq")["codes"]
    assert len(codes) == 10 and max(max(row) for row in codes) <= 4095  # the modded DAC's codes, kept
    assert len(wav_samples(base64.b64decode(r.json()["audio"]))[0]) > 0


def test_page_shows_the_family_and_speaks(fam):
    need_tool("chromium", "chromium-browser", "google-chrome", hint="apt-get install chromium")
    need_tool("chromedriver", hint="apt-get install chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    from tests.server.test_webui import PLAYABLE, open_page, wait

    short, server = fam
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser") or "google-chrome"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--mute-audio"):
        options.add_argument(arg)
    options.add_argument("--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1")
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        open_page(driver, server.url + "/")
        shown = driver.find_element(By.ID, "model-family").text
        assert server.family in shown and server.model in shown
        knob = driver.find_element(By.ID, "repetition_penalty")
        assert knob.is_displayed() == (short != "s2-pro")  # S2-Pro does not use it
        driver.find_element(By.ID, "text").send_keys("Hello from the page.")
        driver.find_element(By.ID, "generate").click()
        wait(driver, lambda d: d.execute_script(PLAYABLE))
        assert driver.find_element(By.ID, "status").text == "Done."
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def ref_wav_bytes(tmp_path_factory) -> bytes:
    return voice_wav(tmp_path_factory.mktemp("voice") / "ref.wav").read_bytes()
