// WAV helpers for the page: parse a streamed WAV (or raw pcm) as it arrives, play the pieces
// gap-free with Web Audio, and build a complete WAV file for the <audio> element and download.
"use strict";

// Turns response bytes into float samples. Streamed WAV headers carry no usable sizes, so the
// parser only needs "fmt " (rate, channels, sample type) and then takes everything after "data".
class WavStreamParser {
  constructor(raw = false, sampleRate = 44100) {
    this.raw = raw;  // true: headerless 16-bit mono pcm
    this.sampleRate = sampleRate;
    this.channels = 1;
    this.bits = 16;
    this.float = false;
    this.inData = raw;
    this.pending = new Uint8Array(0);
  }

  _append(bytes) {
    const joined = new Uint8Array(this.pending.length + bytes.length);
    joined.set(this.pending, 0);
    joined.set(bytes, this.pending.length);
    this.pending = joined;
  }

  _readHeader() {
    const b = this.pending, v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const tag = (o) => String.fromCharCode(b[o], b[o + 1], b[o + 2], b[o + 3]);
    if (b.length < 12) return false;
    if (tag(0) !== "RIFF" || tag(8) !== "WAVE") throw new Error("the stream is not a WAV file");
    let at = 12;
    while (at + 8 <= b.length) {
      const id = tag(at), size = v.getUint32(at + 4, true);
      if (id === "data") {
        this.pending = b.slice(at + 8);
        this.inData = true;
        return true;
      }
      if (at + 8 + size > b.length) return false;  // wait for the rest of this chunk
      if (id === "fmt ") {
        const format = v.getUint16(at + 8, true);
        this.channels = v.getUint16(at + 10, true);
        this.sampleRate = v.getUint32(at + 12, true);
        this.bits = v.getUint16(at + 22, true);
        this.float = format === 3;
      }
      at += 8 + size + (size & 1);
    }
    return false;
  }

  // Feed bytes; returns the new mono Float32Array samples (possibly empty).
  push(bytes) {
    this._append(bytes);
    if (!this.inData && !this._readHeader()) return new Float32Array(0);
    const width = (this.bits / 8) * this.channels;
    const frames = Math.floor(this.pending.length / width);
    const out = new Float32Array(frames);
    const v = new DataView(this.pending.buffer, this.pending.byteOffset, frames * width);
    for (let i = 0; i < frames; i++) {
      let sum = 0;
      for (let c = 0; c < this.channels; c++) {
        const o = i * width + (c * this.bits) / 8;
        sum += this.float ? v.getFloat32(o, true) : v.getInt16(o, true) / 32768;
      }
      out[i] = sum / this.channels;
    }
    this.pending = this.pending.slice(frames * width);
    return out;
  }
}

// A complete 16-bit mono WAV blob from float sample chunks.
function encodeWav(chunks, sampleRate) {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const buf = new ArrayBuffer(44 + total * 2), v = new DataView(buf);
  const put = (o, s) => { for (let i = 0; i < s.length; i++) v.setUint8(o + i, s.charCodeAt(i)); };
  put(0, "RIFF"); v.setUint32(4, 36 + total * 2, true); put(8, "WAVE");
  put(12, "fmt "); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, 1, true);
  v.setUint32(24, sampleRate, true); v.setUint32(28, sampleRate * 2, true);
  v.setUint16(32, 2, true); v.setUint16(34, 16, true);
  put(36, "data"); v.setUint32(40, total * 2, true);
  let o = 44;
  for (const c of chunks) {
    for (let i = 0; i < c.length; i++, o += 2) {
      const s = Math.max(-1, Math.min(1, c[i]));
      v.setInt16(o, s < 0 ? s * 32768 : s * 32767, true);
    }
  }
  return new Blob([buf], { type: "audio/wav" });
}

// Schedules float chunks back to back on one AudioContext so playback starts with the first piece.
class PcmPlayer {
  constructor() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    this.ctx = Ctx ? new Ctx() : null;
    this.next = 0;
    this.sources = [];
  }

  play(samples, sampleRate) {
    if (!this.ctx || !samples.length) return;
    if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
    const buffer = this.ctx.createBuffer(1, samples.length, sampleRate);
    buffer.copyToChannel(samples, 0);
    const src = this.ctx.createBufferSource();
    src.buffer = buffer;
    src.connect(this.ctx.destination);
    this.next = Math.max(this.next, this.ctx.currentTime + 0.05);
    src.start(this.next);
    this.next += buffer.duration;
    this.sources.push(src);
  }

  // After the last piece: release the audio device once everything scheduled has been heard.
  closeWhenDone() {
    if (!this.ctx) return;
    const left = Math.max(0, this.next - this.ctx.currentTime);
    setTimeout(() => this.stop(), left * 1000 + 250);
  }

  stop() {
    for (const s of this.sources) { try { s.stop(); } catch (e) { /* already ended */ } }
    this.sources = [];
    if (this.ctx) this.ctx.close().catch(() => {});
    this.ctx = null;
  }
}

// Decode any recorded/uploaded audio the browser understands into a 16-bit mono WAV blob.
async function toWavBlob(blob) {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  const ctx = new Ctx();
  try {
    const audio = await ctx.decodeAudioData(await blob.arrayBuffer());
    const mono = new Float32Array(audio.length);
    for (let c = 0; c < audio.numberOfChannels; c++) {
      const data = audio.getChannelData(c);
      for (let i = 0; i < data.length; i++) mono[i] += data[i] / audio.numberOfChannels;
    }
    return encodeWav([mono], audio.sampleRate);
  } finally {
    ctx.close().catch(() => {});
  }
}

async function blobToBase64(blob) {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(text);
}
