// The agent chat tab: one /v1/chat turn per message, read as server-sent events; text shows as it
// arrives and speech plays as it streams. The conversation lives on the server under one id.
"use strict";

const chat = { id: null, token: null, busy: false };

function newConversation() {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  chat.id = "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  chat.token = null;  // the first turn returns the conversation's token; later turns send it
  $("chat-log").innerHTML = "";
  showError("", "chat-error");
}

function bubble(role, text) {
  const div = document.createElement("div");
  div.className = `msg ${role}`;
  const span = document.createElement("span");
  span.textContent = text;
  div.appendChild(span);
  $("chat-log").appendChild(div);
  $("chat-log").scrollTop = $("chat-log").scrollHeight;
  return div;
}

function base64Bytes(text) {
  const raw = atob(text), out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

async function sendChat() {
  const message = $("chat-input").value.trim();
  if (!message || chat.busy) return;
  chat.busy = true;
  $("chat-send").disabled = true;
  showError("", "chat-error");
  bubble("user", message);
  $("chat-input").value = "";
  const reply = bubble("assistant", "…");
  const body = { message, conversation_id: chat.id, streaming: true, format: "wav",
                 max_new_tokens: Number($("chat-max").value) || 0 };
  if (chat.token) body.conversation_token = chat.token;
  if ($("chat-system").value.trim()) body.system_message = $("chat-system").value.trim();
  const voice = $("chat-voice").files[0];
  if (voice) body.system_audio = await blobToBase64(voice);
  const parser = new WavStreamParser(), player = new PcmPlayer(), samples = [];
  let text = "", pending = "";
  const handle = (chunk) => {
    if (chunk.type === "text") { text += chunk.text; reply.firstChild.textContent = text; }
    else if (chunk.type === "audio") {
      const got = parser.push(base64Bytes(chunk.audio));
      if (got.length) { samples.push(got); player.play(got, parser.sampleRate); }
    } else if (chunk.type === "error") showError(`${chunk.code} · ${chunk.field ? chunk.field + ": " : ""}${chunk.message}`, "chat-error");
    else if (chunk.type === "done") {
      if (chunk.conversation_token) chat.token = chunk.conversation_token;
      const said = chunk.text || text;
      reply.firstChild.textContent = said.trim() ? said : "(no text)";
      if (samples.length) {
        const audio = document.createElement("audio");
        audio.controls = true;
        audio.src = URL.createObjectURL(encodeWav(samples, parser.sampleRate));
        reply.appendChild(audio);
      }
    }
  };
  try {
    const response = await fetch("/v1/chat", {
      method: "POST", headers: authHeaders({ "Content-Type": "application/json" }), body: JSON.stringify(body),
    });
    if (!response.ok) { reply.remove(); showError(await errorText(response), "chat-error"); return; }
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      pending += value;
      let cut;
      while ((cut = pending.indexOf("\n\n")) >= 0) {
        const event = pending.slice(0, cut);
        pending = pending.slice(cut + 2);
        if (event.startsWith("data: ")) handle(JSON.parse(event.slice(6)));
      }
    }
  } catch (e) {
    showError(e.message, "chat-error");
  } finally {
    player.closeWhenDone();
    chat.busy = false;
    $("chat-send").disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  newConversation();
  $("chat-send").addEventListener("click", sendChat);
  $("chat-input").addEventListener("keydown", (e) => { if (e.key === "Enter") sendChat(); });
  $("chat-reset").addEventListener("click", newConversation);
});
