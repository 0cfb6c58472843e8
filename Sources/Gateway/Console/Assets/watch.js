// The public watch page: the channel's live stream in a <video> element (the browser's own HLS),
// its last thumbnail while it is offline, and the channel's chat room beside it.

import { el } from "./dom.js";

const channel = document.body.dataset.channel;
const main = document.getElementById("main");


const playlist = `/live/${encodeURIComponent(channel)}/index.m3u8`;
const stage = el("div", { id: "stage" });
const status = el("p", { class: "muted", id: "stream-status" });
const log = el("div", { class: "chatlog", id: "chat-log", "aria-live": "polite" });
const chatForm = el("form", { class: "inline", id: "chat-form" });
main.replaceChildren(el("section", {}, stage, status), el("aside", {}, el("h2", {}, "Chat"), log, chatForm));

// ---- the stream -----------------------------------------------------------------------------

let live = null;

function showOffline() {
  live = false;
  stage.replaceChildren(el("div", { class: "offline", id: "offline" }, el("img", { src: `/live/${encodeURIComponent(channel)}/thumbnail.jpg?t=${Date.now()}`, alt: "", onerror: (event) => event.target.remove() }), el("span", {}, `${channel} is offline`)));
  status.textContent = "The stream starts here as soon as the channel goes live.";
}

function showLive() {
  live = true;
  const video = el("video", { id: "player", controls: true, autoplay: true, muted: true, playsinline: true });
  if (!video.canPlayType("application/vnd.apple.mpegurl")) {
    stage.replaceChildren(el("p", {}, "This browser cannot play HLS by itself; open ", el("a", { href: playlist }, playlist), " in a player such as VLC."));
    return;
  }
  video.src = playlist;
  // The stream ended, or the player gave up on it (a rendition switch it could not parse): start
  // over from the playlist, or show the channel offline.
  const restart = () => {
    live = null;
    setTimeout(check, 1000);
  };
  video.addEventListener("ended", restart);
  video.addEventListener("error", restart);
  stage.replaceChildren(video);
  status.textContent = "Live. Drag the timeline back to rewind within the DVR window.";
}

async function check() {
  const response = await fetch(playlist, { cache: "no-store" }).catch(() => null);
  const isLive = response?.ok ?? false;
  if (isLive && live !== true) showLive();
  else if (!isLive && live !== false) showOffline();
}

check();
setInterval(() => {
  if (live !== true) check();
}, 5000);

// ---- the chat -------------------------------------------------------------------------------

const key = `streamd-viewer-${channel}`;
let identity = JSON.parse(sessionStorage.getItem(key) ?? "null");
if (identity && Date.parse(identity.expiresAt) < Date.now()) identity = null;
let socket = null;

function note(text, kind = "notice") {
  log.append(el("div", { class: kind }, text));
  log.scrollTop = log.scrollHeight;
}

function line(message) {
  return el("div", { class: "message", "data-id": message.id, "data-user": message.userId }, el("span", { class: "who" }, message.name), el("span", { class: "text" }, message.text));
}

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const query = identity ? `?token=${encodeURIComponent(identity.token)}` : "";
  socket = new WebSocket(`${scheme}://${location.host}/v1/chat/${encodeURIComponent(channel)}${query}`);
  socket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    switch (frame.type) {
      case "backlog":
        log.replaceChildren(...frame.messages.map(line));
        break;
      case "message":
        log.append(line(frame));
        break;
      case "deleted":
        log.querySelector(`[data-id="${CSS.escape(frame.id)}"]`)?.remove();
        break;
      case "userBanned":
        if (identity && frame.userId === identity.userId) note("You were banned from this chat.", "notice problem");
        break;
      case "userTimedOut":
        if (identity && frame.userId === identity.userId) note(`You are timed out until ${new Date(frame.until).toLocaleTimeString()}.`, "notice problem");
        break;
      case "authenticated":
        note(`You chat as ${frame.name}.`);
        break;
      case "error":
        note(frame.message, "notice problem");
        break;
    }
    log.scrollTop = log.scrollHeight;
  });
  socket.addEventListener("close", () => setTimeout(connect, 3000));
}

function drawForm() {
  if (!identity) {
    const name = el("input", { id: "chat-name", placeholder: "your name", minlength: 2, maxlength: 32, required: true });
    chatForm.replaceChildren(name, el("button", { type: "submit", id: "chat-join" }, "Join chat"));
    chatForm.onsubmit = async (event) => {
      event.preventDefault();
      const response = await fetch("/v1/viewers", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ name: name.value }) });
      const body = await response.json();
      if (!response.ok) {
        note(body?.error?.message ?? "could not join", "notice problem");
        return;
      }
      identity = body;
      sessionStorage.setItem(key, JSON.stringify(identity));
      drawForm();
      // Identify on the open socket; a reconnect carries the token in its URL.
      if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "auth", token: identity.token }));
    };
  } else {
    const text = el("input", { id: "chat-text", placeholder: `say something as ${identity.name}`, maxlength: 500, autocomplete: "off", required: true });
    chatForm.replaceChildren(text, el("button", { type: "submit", id: "chat-send" }, "Send"));
    chatForm.onsubmit = (event) => {
      event.preventDefault();
      if (socket?.readyState !== WebSocket.OPEN) return note("not connected yet", "notice problem");
      socket.send(JSON.stringify({ type: "send", text: text.value, nonce: Math.random().toString(36).slice(2) }));
      text.value = "";
    };
  }
}

drawForm();
connect();
