"""The web page in headless Chromium (Selenium), served by `python -m tools.run_webui`.

Types text, generates, and checks the <audio> element got a playable source; saves a voice from
an uploaded file and uses it; records one; shows errors; works with an API key; renders /docs; sends
an agent chat turn. The browser resolves no host names (offline). Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import base64
import shutil

import httpx
import pytest

from tests.requires import need_tool
from tests.server.helpers import ServerProcess, free_port, model_args

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(autouse=True, scope="module")
def browser_installed():
    """Skip (fail under CI=true) before any server starts when the browser is missing."""
    need_tool("chromium", "chromium-browser", "google-chrome", hint="apt-get install chromium")
    need_tool("chromedriver", hint="apt-get install chromium-driver")


# Keeps the JSON body the page sends to /v1/tts (window.__ttsBody).
CAPTURE_TTS = """const realFetch = window.fetch;
window.fetch = (url, opts) => { if (String(url).endsWith('/v1/tts')) window.__ttsBody = JSON.parse(opts.body);
                                return realFetch(url, opts); };"""
PAGE_GREEDY = """document.getElementById('temperature').value = 0;
document.getElementById('streaming').checked = false;"""
# The <audio> element's blob as base64 (an async script: the last argument is the callback).
BLOB_BASE64 = """const done = arguments[arguments.length - 1];
fetch(document.getElementById('audio').src).then(r => r.arrayBuffer())
  .then(b => done(btoa(String.fromCharCode(...new Uint8Array(b)))));"""

PLAYABLE = """const a = document.getElementById('audio');
return a.src.startsWith('blob:') && a.readyState >= 1 && a.duration > 0 && !a.error ? a.src : null;"""


@pytest.fixture(scope="module")
def webui(workdir, agent_checkpoint):
    port = free_port()
    env = {"GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "CONVERSATION_STORE": "memory"}
    proc = ServerProcess(
        "tools.run_webui",
        [*model_args(workdir), "--mode", "agent", "--agent-checkpoint-path", str(agent_checkpoint)],
        cwd=workdir,
        env=env,
        port=port,
    )
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--autoplay-policy=no-user-gesture-required",
        "--mute-audio",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",  # a beeping "microphone"
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    ):  # offline: no name resolves
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


# Counts what the page hands to Web Audio while a stream arrives (time, samples).
RECORD_PLAYS = """window.__plays = [];
const play = PcmPlayer.prototype.play;
PcmPlayer.prototype.play = function (samples, rate) { window.__plays.push([performance.now(), samples.length]);
                                                      return play.call(this, samples, rate); };"""


def wait(driver, condition, timeout=90):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition)


def open_page(driver, url, ready=True):
    driver.get(url)
    if ready:
        wait(driver, lambda d: d.execute_script("return document.body.dataset.ready === '1'"), 30)
    driver.execute_script(
        "document.getElementById('advanced').open = true;document.getElementById('max_new_tokens').value = 12;"
    )


def loaded_from_elsewhere(driver, origin):
    """Resources the page loaded from anywhere but its own server."""
    names = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    return [n for n in names if not n.startswith((origin + "/", "data:", "blob:"))]


def test_type_generate_and_play(webui, browser, artifacts):
    from selenium.webdriver.common.by import By

    open_page(browser, webui.url + "/")
    assert not browser.find_element(By.ID, "download").is_displayed()  # nothing to download yet
    browser.find_element(By.ID, "text").send_keys("Hello from the web page.")
    assert browser.find_element(By.ID, "text-count").text == "24 characters"
    browser.execute_script(RECORD_PLAYS + "document.getElementById('stream_frames').value = 4;")
    browser.find_element(By.ID, "generate").click()
    src = wait(browser, lambda d: d.execute_script(PLAYABLE))
    # heard while it streamed: several pieces went to the speakers, together the whole result
    plays, rate, duration = browser.execute_script(
        "const a = document.getElementById('audio'); return [window.__plays, 44100, a.duration];"
    )
    assert len(plays) >= 2, plays
    assert sum(n for _, n in plays) == pytest.approx(duration * rate, abs=2)
    assert 0 < duration <= 12 * 2048 / rate + 1e-3  # the page's max_new_tokens (12) reached the server
    assert browser.find_element(By.ID, "status").text == "Done."
    assert browser.find_element(By.ID, "t-first").text.endswith(" s")
    link = browser.find_element(By.ID, "download")
    assert link.is_displayed() and link.get_attribute("download") == "speech.wav"
    assert link.get_attribute("href") == src
    assert browser.find_element(By.ID, "error").get_attribute("hidden")
    for cell in ("t-total", "t-audio", "t-server"):
        assert browser.find_element(By.ID, cell).text.endswith(" s"), cell
    assert float(browser.find_element(By.ID, "t-rtf").text) > 0
    assert loaded_from_elsewhere(browser, webui.url) == []
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(artifacts / "webui.png"))


def test_whole_file_format_plays_and_downloads(webui, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_page(browser, webui.url + "/")
    Select(browser.find_element(By.ID, "format")).select_by_value("mp3")
    browser.find_element(By.ID, "text").send_keys("An mp3 file this time.")
    browser.find_element(By.ID, "generate").click()
    assert wait(browser, lambda d: d.execute_script(PLAYABLE))
    assert browser.find_element(By.ID, "download").get_attribute("download") == "speech.mp3"
    assert browser.find_element(By.ID, "t-audio").text.endswith(" s")


def test_upload_save_and_use_a_voice(webui, browser, ref_wav, workdir):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    open_page(browser, webui.url + "/")
    browser.find_element(By.CSS_SELECTOR, "input[name=ref-mode][value=upload]").click()
    browser.find_element(By.ID, "ref-file").send_keys(str(ref_wav))
    browser.find_element(By.ID, "ref-text").send_keys("This is the reference voice.")
    browser.find_element(By.ID, "save-id").send_keys("page-voice")
    browser.find_element(By.ID, "save-voice").click()
    wait(browser, lambda d: "page-voice" in d.find_element(By.ID, "status").text)
    assert (workdir / "references" / "page-voice").is_dir()

    browser.find_element(By.CSS_SELECTOR, "input[name=ref-mode][value=saved]").click()
    Select(browser.find_element(By.ID, "voice-select")).select_by_value("page-voice")
    browser.find_element(By.ID, "text").send_keys("Now in the saved voice.")
    # greedy, whole file: the page's audio can be compared with the API's
    browser.execute_script(CAPTURE_TTS + PAGE_GREEDY)
    browser.find_element(By.ID, "generate").click()
    wait(browser, lambda d: d.execute_script(PLAYABLE))
    body = browser.execute_script("return window.__ttsBody")
    assert body["reference_id"] == "page-voice" and "references" not in body  # the voice went out
    page_audio = base64.b64decode(browser.execute_async_script(BLOB_BASE64))
    with httpx.Client(base_url=webui.url, timeout=120) as api:
        voiced = api.post("/v1/tts", json=body).content
        plain = api.post("/v1/tts", json={k: v for k, v in body.items() if k != "reference_id"}).content
    assert page_audio == voiced != plain  # the page's audio is the saved voice's, not the default voice's


def test_record_a_reference_with_the_microphone(webui, browser):
    import time

    from selenium.webdriver.common.by import By

    open_page(browser, webui.url + "/")
    browser.find_element(By.CSS_SELECTOR, "input[name=ref-mode][value=record]").click()
    browser.find_element(By.ID, "record-btn").click()
    wait(browser, lambda d: "recording" in d.find_element(By.ID, "record-state").text, 20)
    time.sleep(1.0)
    browser.find_element(By.ID, "record-btn").click()
    wait(
        browser, lambda d: d.execute_script("return document.getElementById('ref-preview').src.startsWith('blob:')"), 20
    )
    browser.find_element(By.ID, "text").send_keys("Spoken in the recorded voice.")
    browser.find_element(By.ID, "generate").click()
    assert wait(browser, lambda d: d.execute_script(PLAYABLE))
    assert not browser.find_element(By.ID, "error").is_displayed()


def test_server_errors_are_shown(webui, browser, artifacts):
    from selenium.webdriver.common.by import By

    open_page(browser, webui.url + "/")
    browser.execute_script("document.getElementById('max_new_tokens').value = -5")
    browser.find_element(By.ID, "text").send_keys("x")
    browser.find_element(By.ID, "generate").click()
    wait(browser, lambda d: d.find_element(By.ID, "error").is_displayed())
    assert "400 · max_new_tokens" in browser.find_element(By.ID, "error").text
    assert browser.find_element(By.ID, "status").text == "Failed."
    assert not browser.find_element(By.ID, "download").is_displayed()
    assert browser.find_element(By.ID, "t-total").text == "–"
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(artifacts / "webui-error.png"))


def test_page_on_a_keyed_server(locked, browser, artifacts):
    """The page asks for the key instead of showing an error, then works once it is given."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    from tests.server.conftest import API_KEY

    open_page(browser, locked.url + "/")
    assert browser.find_element(By.ID, "key-box").is_displayed()
    assert not browser.find_element(By.ID, "tab-agent").is_displayed()  # tts-only server: no agent tab
    assert not browser.find_element(By.ID, "error").is_displayed()
    assert "API key" in browser.find_element(By.ID, "status").text
    browser.find_element(By.ID, "api-key").send_keys(API_KEY + Keys.TAB)
    wait(
        browser,
        lambda d: (
            "narrator" in [o.get_attribute("value") for o in Select(d.find_element(By.ID, "voice-select")).options]
        ),
    )
    browser.find_element(By.CSS_SELECTOR, "input[name=ref-mode][value=saved]").click()
    Select(browser.find_element(By.ID, "voice-select")).select_by_value("narrator")
    browser.find_element(By.ID, "text").send_keys("Hello with a key.")
    browser.find_element(By.ID, "generate").click()
    assert wait(browser, lambda d: d.execute_script(PLAYABLE))
    assert not browser.find_element(By.ID, "error").is_displayed()
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(artifacts / "webui-key.png"))


def test_docs_page_renders_the_api_offline(webui, browser, artifacts):
    """/docs lists every route of /openapi.json with its fields, from this server alone."""
    import httpx
    from selenium.webdriver.common.by import By

    spec = httpx.get(webui.url + "/openapi.json").json()
    routes = {f"{m.upper()} {p}" for p, ops in spec["paths"].items() for m in ops}
    browser.get(webui.url + "/docs")
    wait(browser, lambda d: d.execute_script("return document.body.dataset.ready === '1'"), 30)
    shown = set(
        browser.execute_script("return [...document.querySelectorAll('[data-route]')].map(e => e.dataset.route)")
    )
    assert shown == routes
    assert len(browser.find_elements(By.CSS_SELECTOR, "#toc a")) == len(routes)
    tts = browser.find_element(By.CSS_SELECTOR, "[data-route='POST /v1/tts']")
    fields = {e.get_attribute("data-field") for e in tts.find_elements(By.CSS_SELECTOR, "tr[data-field]")}
    assert {
        "text",
        "references",
        "audio",
        "reference_id",
        "format",
        "streaming",
        "chunk_length",
        "max_new_tokens",
        "top_p",
        "repetition_penalty",
        "temperature",
        "seed",
        "normalize",
        "use_memory_cache",
    } <= fields
    assert "required" in tts.find_element(By.CSS_SELECTOR, "tr[data-field=text]").text
    assert "curl -X POST" in tts.find_element(By.CSS_SELECTOR, "pre.curl").text
    speech = browser.find_element(By.CSS_SELECTOR, "[data-route='POST /v1/audio/speech']").text
    assert "response_format" in speech and "voice" in speech
    assert not browser.find_element(By.ID, "docs-error").is_displayed()
    assert loaded_from_elsewhere(browser, webui.url) == []
    browser.save_screenshot(str(artifacts / "docs.png"))


def test_agent_chat_tab(webui, browser, artifacts):
    from selenium.webdriver.common.by import By

    open_page(browser, webui.url + "/")
    tab = browser.find_element(By.ID, "tab-agent")
    assert tab.is_displayed()
    tab.click()
    browser.execute_script("document.getElementById('chat-max').value = 8")
    browser.find_element(By.ID, "chat-input").send_keys("Hello agent")
    browser.find_element(By.ID, "chat-send").click()
    wait(
        browser,
        lambda d: d.execute_script(
            "return !document.getElementById('chat-send').disabled && document.querySelectorAll('.msg.assistant').length === 1"
        ),
    )
    assert browser.find_element(By.CSS_SELECTOR, ".msg.user").text == "Hello agent"
    assert not browser.find_element(By.ID, "chat-error").is_displayed()
    browser.save_screenshot(str(artifacts / "webui-agent.png"))
