// Waveforms on <canvas>: the result and the reference voice, drawn from their decoded samples
// (one min..max bar per pixel column), so people can look instead of read.
"use strict";

// Float32 mono samples of an audio Blob (any format the browser decodes), or null.
async function decodeSamples(blob) {
  try {
    const ctx = new OfflineAudioContext(1, 1, 44100);  // decoding only: no sound device needed
    const buffer = await ctx.decodeAudioData(await blob.arrayBuffer());
    return buffer.getChannelData(0);
  } catch (e) {
    return null;
  }
}

function drawWaveform(canvas, samples) {
  const rect = canvas.getBoundingClientRect();
  canvas.width = Math.max(200, Math.round(rect.width || 600));
  const ctx = canvas.getContext("2d");
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  if (!samples || !samples.length) { canvas.hidden = true; delete canvas.dataset.drawn; return; }
  canvas.hidden = false;
  const style = getComputedStyle(canvas);
  ctx.fillStyle = style.getPropertyValue("--wave").trim() || "#1f6feb";
  const perColumn = samples.length / width, mid = height / 2;
  for (let x = 0; x < width; x++) {
    let lo = 1, hi = -1;
    const end = Math.min(samples.length, Math.ceil((x + 1) * perColumn));
    for (let i = Math.floor(x * perColumn); i < end; i++) {
      const v = samples[i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (hi < lo) continue;
    const top = mid - Math.min(1, hi) * mid, bottom = mid - Math.max(-1, lo) * mid;
    ctx.fillRect(x, top, 1, Math.max(1, bottom - top));  // silence still shows as a thin line
  }
  canvas.dataset.drawn = String(samples.length);
}

// Concatenate streamed Float32Array pieces into one array.
function joinSamples(chunks) {
  const out = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { out.set(c, at); at += c.length; }
  return out;
}

async function drawBlobWaveform(canvas, blob) {
  drawWaveform(canvas, await decodeSamples(blob));
}

function clearWaveform(canvas) { drawWaveform(canvas, null); }
