"""The web page in headless Chromium (Selenium), served by `python -m tools.run_webui`.

Types text, generates, and checks the <audio> element got a playable source; saves a voice from
an uploaded file and uses it; sends an agent chat turn. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import shutil

import pytest

from tests.server.helpers import ServerProcess, free_port, model_args

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs chromium and chromedriver (apt-get install chromium chromium-driver)")

PLAYABLE = """const a = document.getElementById('audio');
return a.src.startsWith('blob:') && a.readyState >= 1 && a.duration > 0 && !a.error ? a.src : null;"""


@pytest.fixture(scope="module")
def webui(workdir, agent_checkpoint):
    port = free_port()
    env = {"GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port), "CONVERSATION_STORE": "memory"}
    proc = ServerProcess("tools.run_webui", [*model_args(workdir), "--mode", "agent", "--agent-checkpoint-path",
                                             str(agent_checkpoint)], cwd=workdir, env=env, port=port)
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                "--autoplay-policy=no-user-gesture-required", "--mute-audio",
                "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"):  # a beeping "microphone"
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


def wait(driver, condition, timeout=90):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.2).until(condition)


def open_page(driver, url):
    driver.get(url)
    wait(driver, lambda d: d.execute_script("return document.body.dataset.ready === '1'"), 30)
    driver.execute_script("document.getElementById('advanced').open = true;"
                          "document.getElementById('max_new_tokens').value = 12;")


def test_type_generate_and_play(webui, browser, artifacts):
    from selenium.webdriver.common.by import By

    open_page(browser, webui.url + "/")
    browser.find_element(By.ID, "text").send_keys("Hello from the web page.")
    browser.find_element(By.ID, "generate").click()
    src = wait(browser, lambda d: d.execute_script(PLAYABLE))
    assert src
    assert browser.find_element(By.ID, "status").text == "Done."
    assert browser.find_element(By.ID, "t-first").text.endswith(" s")
    assert browser.find_element(By.ID, "download").get_attribute("download") == "speech.wav"
    assert browser.find_element(By.ID, "error").get_attribute("hidden")
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(artifacts / "webui.png"))


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
    browser.find_element(By.ID, "generate").click()
    assert wait(browser, lambda d: d.execute_script(PLAYABLE))


def test_record_a_reference_with_the_microphone(webui, browser):
    import time

    from selenium.webdriver.common.by import By

    open_page(browser, webui.url + "/")
    browser.find_element(By.CSS_SELECTOR, "input[name=ref-mode][value=record]").click()
    browser.find_element(By.ID, "record-btn").click()
    wait(browser, lambda d: "recording" in d.find_element(By.ID, "record-state").text, 20)
    time.sleep(1.0)
    browser.find_element(By.ID, "record-btn").click()
    wait(browser, lambda d: d.execute_script("return document.getElementById('ref-preview').src.startsWith('blob:')"), 20)
    browser.find_element(By.ID, "text").send_keys("Spoken in the recorded voice.")
    browser.find_element(By.ID, "generate").click()
    assert wait(browser, lambda d: d.execute_script(PLAYABLE))
    assert not browser.find_element(By.ID, "error").is_displayed()


def test_server_errors_are_shown(webui, browser):
    from selenium.webdriver.common.by import By

    open_page(browser, webui.url + "/")
    browser.execute_script("document.getElementById('max_new_tokens').value = -5")
    browser.find_element(By.ID, "text").send_keys("x")
    browser.find_element(By.ID, "generate").click()
    wait(browser, lambda d: d.find_element(By.ID, "error").is_displayed())
    assert "400 · max_new_tokens" in browser.find_element(By.ID, "error").text


def test_agent_chat_tab(webui, browser, artifacts):
    from selenium.webdriver.common.by import By

    open_page(browser, webui.url + "/")
    tab = browser.find_element(By.ID, "tab-agent")
    assert tab.is_displayed()
    tab.click()
    browser.execute_script("document.getElementById('chat-max').value = 8")
    browser.find_element(By.ID, "chat-input").send_keys("Hello agent")
    browser.find_element(By.ID, "chat-send").click()
    wait(browser, lambda d: d.execute_script(
        "return !document.getElementById('chat-send').disabled && document.querySelectorAll('.msg.assistant').length === 1"))
    assert browser.find_element(By.CSS_SELECTOR, ".msg.user").text == "Hello agent"
    assert not browser.find_element(By.ID, "chat-error").is_displayed()
    browser.save_screenshot(str(artifacts / "webui-agent.png"))
