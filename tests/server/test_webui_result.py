"""The page's result area in headless Chromium: waveforms drawn from the decoded audio (result and
reference), the progress indicator of a whole-file job, the error state that clears an earlier
result, the random-weight banner and the early-first-audio default of the Stream box."""

from __future__ import annotations

import pytest

from fish_speech.models.random_weights import WARNING
from tests.server.test_webui import PLAYABLE, browser, browser_installed, open_page, wait, webui  # noqa: F401

# Pixels of a canvas that are not transparent (0 when hidden or blank).
INKED = """const c = document.getElementById(arguments[0]);
if (c.hidden) return 0;
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
return n;"""
# Records every change of the progress indicator's visibility (true = shown).
WATCH_PROGRESS = """window.__progress = [];
const el = document.getElementById('progress');
new MutationObserver(() => window.__progress.push(!el.hidden)).observe(el, {attributes: true});"""


def test_banner_and_stream_default(webui, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    open_page(browser, webui.url + "/")
    banner = browser.find_element(By.ID, "random-banner")
    assert banner.is_displayed() and WARNING in banner.text  # the tiny test checkpoints are random
    assert browser.find_element(By.ID, "stream_frames").get_attribute("value") == "24"  # STREAM_FRAMES


def test_streamed_result_waveform_then_an_error_clears_it(webui, browser, artifacts):  # noqa: F811
    from selenium.webdriver.common.by import By

    open_page(browser, webui.url + "/")
    browser.find_element(By.ID, "text").send_keys("A waveform to look at.")
    browser.find_element(By.ID, "generate").click()
    wait(browser, lambda d: d.execute_script(PLAYABLE))
    assert browser.execute_script(INKED, "wave") > 100
    drawn, duration = browser.execute_script(
        "return [Number(document.getElementById('wave').dataset.drawn), document.getElementById('audio').duration]"
    )
    assert drawn == pytest.approx(duration * 44100, abs=2)  # drawn from exactly the result's samples
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(artifacts / "webui-waveform.png"))

    browser.execute_script("document.getElementById('max_new_tokens').value = -5")
    browser.find_element(By.ID, "generate").click()
    wait(browser, lambda d: d.find_element(By.ID, "error").is_displayed())
    assert browser.find_element(By.ID, "status").text == "Failed."
    assert browser.execute_script("return document.getElementById('audio').getAttribute('src')") is None
    assert browser.execute_script(INKED, "wave") == 0 and not browser.find_element(By.ID, "wave").is_displayed()
    assert not browser.find_element(By.ID, "download").is_displayed()
    for cell in ("t-first", "t-total", "t-audio", "t-rtf", "t-server"):
        assert browser.find_element(By.ID, cell).text == "–", cell
    assert "failed" in browser.find_element(By.ID, "output-card").get_attribute("class")
    # an error found on the page itself (empty text) clears the result the same way
    browser.execute_script("document.getElementById('max_new_tokens').value = 12")
    browser.find_element(By.ID, "generate").click()
    wait(browser, lambda d: d.execute_script(PLAYABLE))
    browser.find_element(By.ID, "text").clear()
    browser.find_element(By.ID, "generate").click()
    assert browser.find_element(By.ID, "status").text == "Failed."
    assert browser.execute_script(INKED, "wave") == 0
    assert browser.find_element(By.ID, "t-total").text == "–"


def test_whole_file_job_shows_progress_then_its_waveform(webui, browser):  # noqa: F811
    from selenium.webdriver.common.by import By

    open_page(browser, webui.url + "/")
    browser.execute_script(WATCH_PROGRESS + "document.getElementById('streaming').checked = false;")
    browser.execute_script("document.getElementById('max_new_tokens').value = 200")
    browser.find_element(By.ID, "text").send_keys("A longer job, spoken as one whole file. " * 3)
    browser.find_element(By.ID, "generate").click()
    wait(browser, lambda d: d.execute_script(PLAYABLE))
    seen = browser.execute_script("return window.__progress")
    assert seen and seen[0] is True and seen[-1] is False, seen  # shown while it ran, hidden after
    assert browser.find_element(By.ID, "progress-text").get_attribute("textContent").endswith(" s")  # seconds waited
    wait(browser, lambda d: d.execute_script(INKED, "wave") > 100, 20)  # decoded from the file, then drawn


def test_reference_upload_shows_its_waveform(webui, browser, ref_wav):  # noqa: F811
    from selenium.webdriver.common.by import By

    open_page(browser, webui.url + "/")
    browser.find_element(By.CSS_SELECTOR, "input[name=ref-mode][value=upload]").click()
    browser.find_element(By.ID, "ref-file").send_keys(str(ref_wav))
    wait(browser, lambda d: d.execute_script(INKED, "ref-wave") > 100, 20)
    import soundfile as sf

    frames = sf.info(str(ref_wav)).frames
    drawn = int(browser.execute_script("return document.getElementById('ref-wave').dataset.drawn"))
    assert drawn > 0 and abs(drawn / 44100 - frames / sf.info(str(ref_wav)).samplerate) < 0.05  # resampled to 44.1k
