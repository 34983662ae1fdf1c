// The text-to-speech tab: builds a /v1/tts request from the form, plays the answer as it streams,
// then hands the whole file to the <audio> element and the download link.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { info: null, refBlob: null, refName: null, abort: null, player: null, recorder: null };

function authHeaders(extra = {}) {
  const key = $("api-key").value.trim();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

// Errors come back as {code, field, message}; show them as one readable line.
async function errorText(response) {
  try {
    const body = await response.json();
    return `${body.code || response.status} · ${body.field ? body.field + ": " : ""}${body.message}`;
  } catch (e) {
    return `HTTP ${response.status}`;
  }
}

function showError(text, box = "error") {
  $(box).textContent = text;
  $(box).hidden = !text;
}

function setStatus(text) { $("status").textContent = text; }
const seconds = (s) => (s == null || !isFinite(s) ? "–" : `${s.toFixed(2)} s`);

// ---- settings from /v1/info -------------------------------------------------------------------
function applyField(name, spec) {
  const el = document.querySelector(`#settings #${name}`);
  if (!el || !spec) return;
  const base = spec.anyOf ? spec.anyOf[0] : spec;
  if (el.type === "checkbox") { el.checked = !!spec.default; return; }
  if (base.minimum != null) el.min = base.minimum;
  if (base.maximum != null) el.max = base.maximum;
  if (spec.default != null) el.value = spec.default;
  if (spec.description && el.closest("label")) el.closest("label").title = spec.description;
  const out = document.querySelector(`output[for=${name}]`);
  if (out) { out.textContent = el.value; el.addEventListener("input", () => { out.textContent = el.value; }); }
}

async function loadInfo() {
  const info = await (await fetch("/v1/info")).json();
  state.info = info;
  $("version").textContent = `v${info.version}`;
  // the loaded model family; knobs it does not use are hidden (they are then sent at their defaults)
  $("model-family").textContent = info.family ? `${info.family} (${info.model})` : "";
  for (const knob of ["repetition_penalty"]) {
    const label = $(knob).closest("label");
    if (label && info.sampling_fields) label.hidden = !info.sampling_fields.includes(knob);
  }
  for (const fmt of info.formats) $("format").add(new Option(fmt, fmt, fmt === "wav", fmt === "wav"));
  for (const [name, spec] of Object.entries(info.tts_fields)) applyField(name, spec);
  $("streaming").checked = true;  // the page's point: hear it while it is made
  // the server's STREAM_FRAMES: the first audio after 8 frames, then every N (early first audio)
  if (info.stream_frames != null) $("stream_frames").value = info.stream_frames;
  if (info.random_weights) {  // a test checkpoint: say so before anyone mistakes noise for a bug
    $("random-banner").textContent = `⚠ ${info.warning}`;
    $("random-banner").hidden = false;
  }
  $("key-box").hidden = !info.auth;
  $("api-key").value = localStorage.getItem("fish-api-key") || "";
  $("tab-agent").hidden = !info.agent;
}

async function loadVoices(select) {
  const response = await fetch("/v1/references", { headers: authHeaders() });
  const box = $("voice-select");
  if (response.status === 401) {  // a keyed server: not an error until the user has typed a key
    box.innerHTML = "";
    box.add(new Option("(enter the API key to list voices)", ""));
    if ($("api-key").value.trim()) showError(await errorText(response));
    else setStatus("This server needs an API key: enter it at the top of the page.");
    return;
  }
  if (!response.ok) { showError(await errorText(response)); return; }
  const { reference_ids: ids } = await response.json();
  box.innerHTML = "";
  if (!ids.length) box.add(new Option("(no saved voices yet)", ""));
  for (const id of ids) box.add(new Option(id, id, false, id === select));
}

// ---- reference voice ----------------------------------------------------------------------------
function refMode() { return document.querySelector("input[name=ref-mode]:checked").value; }

function showRefPanes() {
  const mode = refMode();
  for (const pane of document.querySelectorAll(".ref-pane")) pane.hidden = !pane.dataset.mode.split(" ").includes(mode);
}

function setReference(blob, name) {
  state.refBlob = blob;
  state.refName = name;
  const preview = $("ref-preview");
  preview.src = URL.createObjectURL(blob);
  preview.hidden = false;
  drawBlobWaveform($("ref-wave"), blob);
}

async function toggleRecording() {
  if (state.recorder) { state.recorder.stop(); return; }
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    showError("cannot record here: browsers allow the microphone only on https:// or http://localhost pages; upload a file instead");
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const recorder = new MediaRecorder(stream), parts = [];
    recorder.ondataavailable = (e) => parts.push(e.data);
    recorder.onstop = async () => {
      stream.getTracks().forEach((t) => t.stop());
      state.recorder = null;
      $("record-btn").textContent = "● Record";
      // MediaRecorder gives webm/ogg; the server gets a plain WAV it can always decode.
      setReference(await toWavBlob(new Blob(parts, { type: recorder.mimeType })), "recording.wav");
      $("record-state").textContent = "recorded; add its transcript below";
    };
    recorder.start();
    state.recorder = recorder;
    $("record-btn").textContent = "■ Stop recording";
    $("record-state").textContent = "recording…";
  } catch (e) {
    showError(`cannot record: ${e.message}`);
  }
}

async function saveVoice() {
  const id = $("save-id").value.trim();
  if (!id || !state.refBlob) { showError("choose or record a reference and give it an id first"); return; }
  const body = { id, text: $("ref-text").value, audio: await blobToBase64(state.refBlob), filename: state.refName };
  const response = await fetch("/v1/references", {
    method: "POST", headers: authHeaders({ "Content-Type": "application/json" }), body: JSON.stringify(body),
  });
  if (!response.ok) { showError(await errorText(response)); return; }
  showError("");
  setStatus(`Saved voice “${id}”.`);
  await loadVoices(id);
}

async function deleteVoice() {
  const id = $("voice-select").value;
  if (!id || !confirm(`Delete the saved voice “${id}”?`)) return;
  const response = await fetch(`/v1/references/${encodeURIComponent(id)}`, { method: "DELETE", headers: authHeaders() });
  if (!response.ok) { showError(await errorText(response)); return; }
  await loadVoices();
}

// ---- request and playback -----------------------------------------------------------------------
async function buildRequest() {
  const num = (id) => Number($(id).value);
  const body = {
    text: $("text").value,
    format: $("format").value,
    streaming: $("streaming").checked,
    max_new_tokens: num("max_new_tokens"),
    chunk_length: num("chunk_length"),
    top_p: num("top_p"),
    temperature: num("temperature"),
    repetition_penalty: num("repetition_penalty"),
    stream_frames: $("stream_frames").value === "" ? null : num("stream_frames"),
    normalize: $("normalize").checked,
    use_memory_cache: $("use_memory_cache").checked,
    seed: $("seed").value === "" ? null : num("seed"),
  };
  const mode = refMode();
  if (mode === "saved" && $("voice-select").value) body.reference_id = $("voice-select").value;
  if ((mode === "upload" || mode === "record") && state.refBlob) {
    body.references = [{ audio: await blobToBase64(state.refBlob), text: $("ref-text").value }];
  }
  return body;
}

function finish(blob, fmt, started, firstAudio, audioSeconds, serverFirst, samples = null) {
  if (samples) drawWaveform($("wave"), samples);
  else drawBlobWaveform($("wave"), blob);
  const url = URL.createObjectURL(blob);
  const audio = $("audio");
  audio.src = url;
  const link = $("download");
  link.href = url;
  link.download = `speech.${fmt}`;
  link.hidden = false;
  const total = (performance.now() - started) / 1000;
  $("t-first").textContent = seconds(firstAudio);
  $("t-total").textContent = seconds(total);
  $("t-server").textContent = seconds(serverFirst);
  const show = (len) => {
    $("t-audio").textContent = seconds(len);
    $("t-rtf").textContent = len > 0 ? (total / len).toFixed(2) : "–";
  };
  if (audioSeconds != null) show(audioSeconds);
  else audio.addEventListener("loadedmetadata", () => show(audio.duration), { once: true });
}

// A new request clears the last result, so old audio and timings are never taken for the new ones.
function clearResult() {
  const audio = $("audio");
  if (audio.src.startsWith("blob:")) URL.revokeObjectURL(audio.src);
  audio.removeAttribute("src");
  audio.load();
  $("download").hidden = true;
  $("download").removeAttribute("href");
  for (const id of ["t-first", "t-total", "t-audio", "t-rtf", "t-server"]) $(id).textContent = "–";
  clearWaveform($("wave"));
  $("output-card").classList.remove("failed");
}

// Error state: nothing of an earlier result stays on screen next to the error.
function failed(text) {
  if (state.player) state.player.stop();
  state.player = null;
  clearResult();
  showError(text);
  setStatus("Failed.");
  $("output-card").classList.add("failed");
}

// While a job runs and nothing is heard yet: a moving bar and the seconds waited.
function showProgress(started) {
  const tick = () => { $("progress-text").textContent = `${((performance.now() - started) / 1000).toFixed(1)} s`; };
  tick();
  $("progress").hidden = false;
  const timer = setInterval(tick, 100);
  return () => { clearInterval(timer); $("progress").hidden = true; };
}

async function generate() {
  showError("");
  const body = await buildRequest();
  if (!body.text.trim()) { failed("400 · text: must not be empty"); return; }
  clearResult();
  const fmt = body.format;
  const live = body.streaming && (fmt === "wav" || fmt === "pcm");
  state.abort = new AbortController();
  $("generate").disabled = true;
  $("stop").disabled = false;
  setStatus("Generating…");
  const started = performance.now();
  const hideProgress = showProgress(started);
  try {
    const response = await fetch("/v1/tts", {
      method: "POST", signal: state.abort.signal,
      headers: authHeaders({ "Content-Type": "application/json" }), body: JSON.stringify(body),
    });
    if (!response.ok) { failed(await errorText(response)); return; }
    const serverFirst = parseFloat(response.headers.get("X-First-Audio-Seconds"));
    if (!live) {
      const blob = await response.blob();
      hideProgress();
      finish(blob, fmt, started, (performance.now() - started) / 1000, null, serverFirst);
      setStatus("Done.");
      $("audio").play().catch(() => {});  // nothing was heard yet; the browser may still refuse autoplay
      return;
    }
    const rate = parseInt(response.headers.get("X-Sample-Rate") || "44100", 10);
    const parser = new WavStreamParser(fmt === "pcm", rate);
    if (state.player) state.player.stop();  // never two voices at once
    const player = (state.player = new PcmPlayer());
    const chunks = [];
    let firstAudio = null, count = 0;
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      const samples = parser.push(value);
      if (!samples.length) continue;
      if (firstAudio == null) { firstAudio = (performance.now() - started) / 1000; hideProgress(); }
      chunks.push(samples);
      count += samples.length;
      player.play(samples, parser.sampleRate);
      setStatus(`Streaming… ${(count / parser.sampleRate).toFixed(1)} s of audio`);
      $("t-first").textContent = seconds(firstAudio);
    }
    player.closeWhenDone();
    const samples = joinSamples(chunks);
    finish(encodeWav(chunks, parser.sampleRate), "wav", started, firstAudio, count / parser.sampleRate, serverFirst, samples);
    setStatus("Done.");
  } catch (e) {
    if (e.name === "AbortError") setStatus("Stopped.");
    else failed(e.message);
  } finally {
    hideProgress();
    $("generate").disabled = false;
    $("stop").disabled = true;
    state.abort = null;
  }
}

function stop() {
  if (state.abort) state.abort.abort();
  if (state.player) state.player.stop();
  state.player = null;
}

// ---- wiring -------------------------------------------------------------------------------------
function switchTab(name) {
  for (const tab of document.querySelectorAll(".tab")) tab.classList.toggle("active", tab.dataset.tab === name);
  for (const panel of document.querySelectorAll(".panel")) panel.hidden = panel.id !== `panel-${name}`;
}

document.addEventListener("DOMContentLoaded", async () => {
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => switchTab(tab.dataset.tab));
  for (const radio of document.querySelectorAll("input[name=ref-mode]")) radio.addEventListener("change", showRefPanes);
  $("text").addEventListener("input", () => {
    const n = $("text").value.length;
    $("text-count").textContent = `${n} character${n === 1 ? "" : "s"}`;
  });
  $("ref-file").addEventListener("change", () => {
    const file = $("ref-file").files[0];
    if (file) setReference(file, file.name);
  });
  $("api-key").addEventListener("change", () => {
    localStorage.setItem("fish-api-key", $("api-key").value.trim());
    showError("");
    setStatus("Ready.");
    loadVoices();
  });
  $("record-btn").addEventListener("click", toggleRecording);
  $("save-voice").addEventListener("click", saveVoice);
  $("voice-refresh").addEventListener("click", () => loadVoices());
  $("voice-delete").addEventListener("click", deleteVoice);
  $("generate").addEventListener("click", generate);
  $("stop").addEventListener("click", stop);
  try {
    await loadInfo();
    await loadVoices();
    document.body.dataset.ready = "1";  // lets tests (and people) know the controls are filled in
  } catch (e) {
    showError(`cannot reach the server: ${e.message}`);
  }
});
