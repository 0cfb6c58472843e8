// The streamd console: plain ES modules, no build step. Each page is drawn from the REST API
// (/v1/...), which the console reaches with its session cookie; every change sends the page's
// CSRF token. Live parts follow /v1/dashboard/live/events (Server-Sent Events).

import { el } from "./dom.js";

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const main = document.getElementById("main");
const page = document.body.dataset.page;
const arg = document.body.dataset.arg;

// ---- helpers --------------------------------------------------------------------------------


function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  for (const child of children.flat()) if (child) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

async function api(path, { method = "GET", body, json = true } = {}) {
  const headers = {};
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  if (response.status === 401) {
    location.href = "/admin/login?next=" + encodeURIComponent(location.pathname);
    throw new Error("signed out");
  }
  const text = await response.text();
  const value = text && json ? JSON.parse(text) : text;
  if (!response.ok) throw new Error(value?.error?.message ?? `${response.status} ${response.statusText}`);
  return value;
}

function toast(message, error = false) {
  const node = el("div", { class: error ? "toast error" : "toast", role: "status" }, message);
  document.body.append(node);
  setTimeout(() => node.remove(), error ? 8000 : 4000);
}

async function act(what, body) {
  try {
    const result = await body();
    toast(what);
    return result;
  } catch (error) {
    toast(`${what} failed: ${error.message}`, true);
    throw error;
  }
}

const bitrate = (bits) => (bits >= 1e6 ? `${(bits / 1e6).toFixed(2)} Mbit/s` : `${Math.round((bits ?? 0) / 1e3)} kbit/s`);
const duration = (seconds) => {
  seconds = Math.max(0, Math.round(seconds));
  const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
  return h ? `${h}h ${String(m).padStart(2, "0")}m` : `${m}m ${String(s).padStart(2, "0")}s`;
};
const time = (iso) => (iso ? new Date(iso).toLocaleString() : "—");
const figure = (label, value, id) => el("div", { class: "figure" }, el("div", { class: "label" }, label), el("div", { class: "value", "data-figure": id }, value));
const badge = (text, kind = text) => el("span", { class: `badge ${kind}` }, text);
const healthKind = (health) => (health == null ? "" : health >= 80 ? "good" : health >= 50 ? "warn" : "bad");
// A live session's open ingest alerts (dashboard `alerts`: IngestAlertRaised by rule).
const alertList = (alerts) => {
  const open = Object.values(alerts ?? {});
  return el("ul", { class: "alerts", "data-alerts": open.length, hidden: open.length === 0 }, ...open.map((alert) => el("li", { "data-rule": alert.rule }, badge(alert.rule, "bad"), " ", alert.message)));
};

function liveFeed(onSessions) {
  const source = new EventSource("/v1/dashboard/live/events");
  source.addEventListener("live", (event) => onSessions(JSON.parse(event.data).sessions));
  window.addEventListener("beforeunload", () => source.close());
  return source;
}

function setMain(...children) {
  main.replaceChildren(...children);
}

// ---- overview -------------------------------------------------------------------------------

function sessionCard(session) {
  const uptime = el("span", { "data-started": session.startedAt }, duration(session.durationSeconds));
  return el(
    "article",
    { class: "card", "data-session": session.sessionID, "data-channel": session.channelName },
    el("img", { class: "thumb", src: `/live/${encodeURIComponent(session.channelName)}/thumbnail.jpg?t=${Math.floor(Date.now() / 10000)}`, alt: `${session.channelName} now` }),
    el(
      "div",
      { class: "body" },
      el("div", { class: "title" }, el("a", { href: `/admin/sessions/${session.sessionID}` }, session.channelName), el("span", {}, badge("LIVE", "live"), " ", badge(session.quality ?? "…", session.quality ?? ""))),
      el(
        "div",
        { class: "figures" },
        figure("health", session.health ?? "—", "health"),
        figure("ingest", bitrate(session.bitrate), "bitrate"),
        figure("frame rate", `${(session.frameRate ?? 0).toFixed(1)} fps`, "fps"),
        figure("viewers", session.viewers, "viewers"),
        figure("uptime", uptime, "uptime"),
        figure("protocol", session.protocol, "protocol"),
      ),
      alertList(session.alerts),
    ),
  );
}

async function overview() {
  const cards = el("div", { class: "cards", id: "live-sessions" });
  const empty = el("p", { class: "muted", id: "nothing-live" }, "Nothing is live. Publish to a channel's RTMP or SRT URL and it appears here.");
  const activity = el("tbody", { id: "activity" });
  setMain(
    el("h1", {}, "Live now"),
    cards,
    empty,
    el("h2", {}, "Recent refusals and moderation"),
    el("div", { class: "panel" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "#"), el("th", {}, "when"), el("th", {}, "what"), el("th", {}, "who"), el("th", {}, "reason"))), activity)),
  );
  let shownActivity = 0;
  async function refreshActivity() {
    if (Date.now() - shownActivity < 10000) return;
    shownActivity = Date.now();
    const { activity: entries } = await api("/v1/dashboard/activity?limit=15");
    activity.replaceChildren(
      ...entries.map((entry) =>
        el("tr", {}, el("td", {}, el("a", { href: `/admin/audit?after=${entry.position - 1}#e${entry.position}` }, `#${entry.position}`)), el("td", {}, time(entry.at)), el("td", {}, entry.eventType, entry.channel ? ` · ${entry.channel}` : ""), el("td", {}, entry.actor), el("td", {}, entry.reason ?? "")),
      ),
    );
  }
  function render(sessions) {
    cards.replaceChildren(...sessions.map(sessionCard));
    empty.hidden = sessions.length > 0;
    refreshActivity().catch(() => {});
  }
  render((await api("/v1/dashboard/live")).sessions);
  liveFeed(render);
  setInterval(() => {
    for (const node of document.querySelectorAll("[data-started]")) node.textContent = duration((Date.now() - Date.parse(node.dataset.started)) / 1000);
  }, 1000);
}

// ---- channels -------------------------------------------------------------------------------

function secretBox(created) {
  return el(
    "div",
    { class: "panel secret", id: "new-key" },
    el("strong", {}, "Stream key (shown once): "),
    el("code", { id: "stream-key" }, created.streamKey),
    el("div", {}, "RTMP: ", el("code", {}, created.rtmpURL)),
    el("div", {}, "SRT: ", el("code", {}, created.srtURL)),
  );
}

async function channels() {
  const list = el("tbody", { id: "channel-list" });
  const result = el("div");
  const name = el("input", { id: "new-channel", placeholder: "channel-name", pattern: "[a-z0-9\\-]{2,63}", required: true });
  async function load() {
    const { channels } = await api("/v1/channels");
    list.replaceChildren(...channels.map((channel) => el("tr", {}, el("td", {}, el("a", { href: `/admin/channels/${channel.name}` }, channel.name)), el("td", {}, time(channel.createdAt)), el("td", {}, channel.hasActiveKey ? "active key" : "no key"), el("td", {}, el("a", { href: `/watch/${channel.name}` }, "watch page")))));
  }
  setMain(
    el("h1", {}, "Channels"),
    el(
      "form",
      {
        class: "panel inline",
        id: "create-channel",
        onsubmit: async (event) => {
          event.preventDefault();
          const created = await act(`Channel ${name.value} created`, () => api("/v1/channels", { method: "POST", body: { name: name.value } }));
          result.replaceChildren(secretBox(created));
          name.value = "";
          await load();
        },
      },
      el("label", { for: "new-channel" }, "New channel"),
      name,
      el("button", { type: "submit" }, "Create"),
    ),
    result,
    el("div", { class: "panel" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "created"), el("th", {}, "key"), el("th", {}, ""))), list)),
  );
  await load();
}

// `pick`: the answer's key that holds what PUT takes (GET wraps it with the channel's name).
function jsonEditor(title, path, id, pick) {
  const area = el("textarea", { id, spellcheck: "false" });
  const form = el(
    "form",
    {
      class: "panel",
      onsubmit: async (event) => {
        event.preventDefault();
        let body;
        try {
          body = JSON.parse(area.value);
        } catch (error) {
          toast(`${title}: not JSON (${error.message})`, true);
          return;
        }
        const saved = await act(`${title} saved`, () => api(path, { method: "PUT", body }));
        area.value = JSON.stringify(pick ? saved[pick] : saved, null, 2);
      },
    },
    el("h2", {}, title),
    area,
    el("button", { type: "submit" }, `Save ${title.toLowerCase()}`),
  );
  api(path).then((value) => (area.value = JSON.stringify(pick ? value[pick] : value, null, 2))).catch((error) => (area.value = `// ${error.message}`));
  return form;
}

function eventsTable(events) {
  return el(
    "table",
    { class: "events" },
    el("thead", {}, el("tr", {}, el("th", {}, "#"), el("th", {}, "when"), el("th", {}, "stream"), el("th", {}, "type"), el("th", {}, "actor"), el("th", {}, "reason"), el("th", {}, "data"))),
    el(
      "tbody",
      {},
      events.map((event) =>
        el(
          "tr",
          { id: `e${event.position}` },
          el("td", {}, el("a", { href: `#e${event.position}` }, `#${event.position}`)),
          el("td", {}, time(event.recordedAt)),
          el("td", { class: "mono" }, event.streamId),
          el("td", {}, event.type),
          el("td", { class: "mono" }, `${event.metadata.actor.kind}:${event.metadata.actor.id}`),
          el("td", {}, event.metadata.reason ?? ""),
          el("td", {}, el("details", {}, el("summary", {}, "data"), el("pre", {}, JSON.stringify(event.data, null, 2)), el("pre", { class: "muted" }, JSON.stringify(event.metadata, null, 2)))),
        ),
      ),
    ),
  );
}

function hlsPlayer(url) {
  const video = el("video", { controls: true, playsinline: true, preload: "metadata", width: 640 });
  if (video.canPlayType("application/vnd.apple.mpegurl")) video.src = url;
  else return el("p", {}, "This browser has no native HLS: open ", el("a", { href: url }, url), " in a player.");
  return video;
}

async function channel() {
  const name = arg;
  const info = await api(`/v1/channels/${encodeURIComponent(name)}`);
  const keyResult = el("div");
  const reason = el("input", { id: "key-reason", placeholder: "reason (kept in the log)", size: 40 });
  const recordings = el("div", { id: "recordings" });
  const sessions = el("tbody", { id: "channel-sessions" });
  const history = el("div", { id: "channel-events" });
  setMain(
    el("h1", {}, `Channel ${name} `, info.hasActiveKey ? badge("key active", "good") : badge("no key", "bad")),
    el("p", {}, "Playback: ", el("code", {}, info.playbackURL), " · ", el("a", { href: `/watch/${name}` }, "watch page"), " · ", el("a", { href: `/admin/chat/${name}` }, "chat moderation")),
    el(
      "div",
      { class: "panel" },
      el("h2", {}, "Stream key"),
      el(
        "form",
        { class: "inline", onsubmit: (event) => event.preventDefault() },
        reason,
        el("button", { type: "button", id: "rotate-key", onclick: async () => keyResult.replaceChildren(secretBox(await act("Key rotated", () => api(`/v1/channels/${name}/key?reason=${encodeURIComponent(reason.value)}`, { method: "POST" })))) }, "Rotate"),
        el("button", { type: "button", class: "danger", id: "revoke-key", onclick: async () => { await act("Key revoked", () => api(`/v1/channels/${name}/key?reason=${encodeURIComponent(reason.value)}`, { method: "DELETE", json: false })); keyResult.replaceChildren(el("p", {}, "Revoked: publishing stops until a new key is issued.")); } }, "Revoke"),
      ),
      keyResult,
    ),
    el("div", { class: "row" }, el("div", { class: "grow" }, jsonEditor("Ladder", `/v1/channels/${name}/ladder`, "ladder")), el("div", { class: "grow" }, jsonEditor("Playback", `/v1/channels/${name}/playback`, "playback")), el("div", { class: "grow" }, jsonEditor("Quality thresholds", `/v1/channels/${name}/quality`, "quality", "thresholds")), el("div", { class: "grow" }, jsonEditor("Ingest alerts", `/v1/channels/${name}/ingest-alerts`, "ingest-alerts", "rules"))),
    el("h2", {}, "Sessions"),
    el("div", { class: "panel" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "started"), el("th", {}, "duration"), el("th", {}, "state"), el("th", {}, "peak viewers"), el("th", {}, "ended"))), sessions)),
    el("h2", {}, "Recordings"),
    recordings,
    el("h2", {}, "Event history"),
    history,
  );
  const [{ sessions: rows }, { recordings: list }, { events }] = await Promise.all([
    api(`/v1/dashboard/sessions?channel=${encodeURIComponent(name)}&limit=20`),
    api(`/v1/channels/${name}/recordings`),
    api(`/v1/events?stream=${encodeURIComponent(`channel-${name}`)}&limit=200`),
  ]);
  sessions.replaceChildren(...rows.map((session) => el("tr", {}, el("td", {}, el("a", { href: `/admin/sessions/${session.sessionID}` }, time(session.startedAt))), el("td", {}, duration(session.durationSeconds)), el("td", {}, session.live ? badge("LIVE", "live") : session.endReason ?? ""), el("td", {}, session.peakViewers), el("td", {}, time(session.endedAt)))));
  recordings.replaceChildren(
    list.length === 0
      ? el("p", { class: "muted" }, "No recordings yet.")
      : el("div", { class: "panel" }, list.map((recording) => el("details", { "data-recording": recording.sessionID }, el("summary", {}, `${time(recording.startedAt)} · ${recording.state}${recording.duration ? ` · ${duration(recording.duration)}` : ""}`), hlsPlayer(recording.playbackURL)))),
  );
  history.replaceChildren(el("div", { class: "panel" }, eventsTable(events)));
}

// ---- session --------------------------------------------------------------------------------

/// A line chart of several series over time, with horizontal thresholds and vertical transitions.
function chart({ series, thresholds = [], marks = [], unit = "", id }) {
  const width = 900, height = 220, left = 56, right = 12, top = 12, bottom = 26;
  const points = series.flatMap((s) => s.points);
  const root = svg("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", id });
  if (points.length === 0) {
    root.append(svg("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "no samples yet"));
    return root;
  }
  const t0 = Math.min(...points.map((p) => p.t), ...marks.map((m) => m.t));
  const t1 = Math.max(...points.map((p) => p.t), ...marks.map((m) => m.t), t0 + 1);
  const vmax = Math.max(...points.map((p) => p.v), ...thresholds.map((h) => h.v), 1) * 1.1;
  const x = (t) => left + ((t - t0) / (t1 - t0)) * (width - left - right);
  const y = (v) => top + (1 - v / vmax) * (height - top - bottom);
  root.append(svg("line", { class: "axis", x1: left, y1: height - bottom, x2: width - right, y2: height - bottom }));
  root.append(svg("line", { class: "axis", x1: left, y1: top, x2: left, y2: height - bottom }));
  for (const v of [0, vmax / 2, vmax / 1.1]) root.append(svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, `${v >= 100 ? Math.round(v) : v.toFixed(2)}${unit}`));
  root.append(svg("text", { x: left, y: height - 6 }, new Date(t0).toLocaleTimeString()));
  root.append(svg("text", { x: width - right, y: height - 6, "text-anchor": "end" }, new Date(t1).toLocaleTimeString()));
  for (const h of thresholds) {
    root.append(svg("line", { class: "threshold", x1: left, x2: width - right, y1: y(h.v), y2: y(h.v), stroke: h.color }));
    root.append(svg("text", { x: width - right - 4, y: y(h.v) - 4, "text-anchor": "end" }, h.label));
  }
  for (const s of series) {
    if (s.points.length === 0) continue;
    root.append(svg("polyline", { class: "series", stroke: s.color, points: s.points.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(" ") }));
  }
  for (const m of marks) {
    root.append(svg("line", { class: "transition", x1: x(m.t), x2: x(m.t), y1: top, y2: height - bottom, "data-transition": m.label }));
    root.append(svg("text", { x: x(m.t) + 3, y: top + 10 }, m.label));
  }
  return root;
}

const legend = (series) => el("div", { class: "legend" }, series.map((s) => el("span", {}, el("i", { "data-color": s.color }), s.label)));

async function session() {
  const id = arg;
  let view = await api(`/v1/dashboard/sessions/${id}`);
  let timeline = (await api(`/v1/dashboard/sessions/${id}/timeline`)).timeline;
  const header = el("div");
  const charts = el("div");
  const renditions = el("div");
  const report = el("div", { id: "report" });
  const kickReason = el("input", { id: "kick-reason", placeholder: "reason (kept in the log)", size: 40 });
  const kick = el(
    "form",
    { class: "panel inline", id: "kick", onsubmit: async (event) => { event.preventDefault(); await act("Session kicked", () => api(`/v1/streams/${id}?reason=${encodeURIComponent(kickReason.value)}`, { method: "DELETE", json: false })); } },
    el("label", { for: "kick-reason" }, "End this session"),
    kickReason,
    el("button", { type: "submit", class: "danger", id: "kick-button" }, "Kick"),
  );
  setMain(header, kick, el("h2", {}, "Quality timeline"), charts, el("h2", {}, "Renditions"), renditions, report);

  function draw() {
    const s = view.session;
    const thresholds = view.thresholds ?? {};
    header.replaceChildren(
      el("h1", {}, el("a", { href: `/admin/channels/${s.channelName}` }, s.channelName), " ", s.live ? badge("LIVE", "live") : badge(`ended: ${s.endReason ?? ""}`, ""), " ", badge(s.quality ?? "…", s.quality ?? ""), " ", s.health != null ? badge(`health ${s.health}`, healthKind(s.health)) : ""),
      el("div", { class: "figures panel" }, figure("ingest", bitrate(s.bitrate)), figure("frame rate", `${s.frameRate.toFixed(1)} fps`), figure("viewers", `${s.viewers} (peak ${s.peakViewers})`), figure("duration", duration(s.durationSeconds)), figure("reconnects", s.reconnects), figure("dropped frames", s.droppedFrames), figure("protocol", s.protocol), figure("encoder", s.encoder ?? "—"), figure("from", s.remoteAddress)),
      alertList(s.alerts),
    );
    kick.hidden = !s.live;
    const samples = timeline.filter((e) => e.kind === "sample");
    const t = (e) => Date.parse(e.at);
    const marks = timeline.filter((e) => e.kind === "quality").map((e) => ({ t: t(e), label: `${e.data.from}→${e.data.to} (${e.data.reason})` }));
    const bitrateSeries = [{ label: "ingest Mbit/s", color: "#4da3ff", points: samples.map((e) => ({ t: t(e), v: (e.data.receivedBitrate ?? 0) / 1e6 })) }];
    const srt = samples.filter((e) => e.data.srt);
    const linkSeries = [
      { label: "RTT ms", color: "#d29922", points: srt.map((e) => ({ t: t(e), v: e.data.srt.rttMilliseconds })) },
      { label: "loss %", color: "#f85149", points: srt.map((e) => ({ t: t(e), v: e.data.srt.lossPercent })) },
      { label: "link bandwidth Mbit/s", color: "#3fb950", points: srt.map((e) => ({ t: t(e), v: e.data.srt.bandwidthMbps })) },
    ];
    const lagSeries = [{ label: "timestamp lag ms (RTMP)", color: "#d29922", points: samples.filter((e) => e.data.timestampLagMilliseconds != null).map((e) => ({ t: t(e), v: Math.max(0, e.data.timestampLagMilliseconds) })) }];
    const viewerSeries = [{ label: "viewers", color: "#a371f7", points: timeline.filter((e) => e.kind === "audience").map((e) => ({ t: t(e), v: e.data.viewers })) }];
    const rule = thresholds.high ?? {};
    const lossThresholds = [
      rule.maximumLossRate != null && { v: rule.maximumLossRate * 100, label: `HIGH leaves above ${(rule.maximumLossRate * 100).toFixed(1)} % loss`, color: "#f85149" },
      rule.maximumRTTMilliseconds != null && { v: rule.maximumRTTMilliseconds, label: `HIGH leaves above ${rule.maximumRTTMilliseconds} ms RTT`, color: "#d29922" },
      rule.minimumBandwidth != null && { v: rule.minimumBandwidth / 1e6, label: `HIGH leaves below ${(rule.minimumBandwidth / 1e6).toFixed(1)} Mbit/s`, color: "#3fb950" },
    ].filter(Boolean);
    charts.replaceChildren(
      el("div", { class: "panel" }, chart({ id: "chart-bitrate", series: bitrateSeries, marks }), legend(bitrateSeries)),
      el("div", { class: "panel" }, srt.length ? chart({ id: "chart-link", series: linkSeries, thresholds: lossThresholds, marks }) : chart({ id: "chart-link", series: lagSeries, marks }), legend(srt.length ? linkSeries : lagSeries)),
      el("div", { class: "panel" }, chart({ id: "chart-viewers", series: viewerSeries, marks }), legend(viewerSeries)),
      el("div", { class: "panel" }, el("table", { id: "transitions" }, el("thead", {}, el("tr", {}, el("th", {}, "when"), el("th", {}, "change"), el("th", {}, "reason"), el("th", {}, "figures"))), el("tbody", {}, timeline.filter((e) => e.kind === "quality").map((e) => el("tr", {}, el("td", {}, time(e.at)), el("td", {}, `${e.data.from} → ${e.data.to}`), el("td", {}, `${e.data.reason}: ${e.data.detail}`), el("td", { class: "mono" }, JSON.stringify(e.data.figures))))))),
      el("div", { class: "panel" }, el("table", { id: "alert-log" }, el("thead", {}, el("tr", {}, el("th", {}, "when"), el("th", {}, "ingest alert"), el("th", {}, "what"))), el("tbody", {}, timeline.filter((e) => e.kind === "alert").map((e) => el("tr", {}, el("td", {}, time(e.at)), el("td", {}, `${e.data.rule} ${e.data.message != null ? "raised" : "cleared"}`), el("td", {}, e.data.message ?? `after ${duration(e.data.durationSeconds)}`)))))),
    );
    const renditionEvents = timeline.filter((e) => e.kind === "rendition");
    renditions.replaceChildren(
      el("div", { class: "panel" }, el("p", {}, "On now: ", Object.keys(s.renditions ?? {}).join(", ") || "none"), el("table", { id: "rendition-log" }, el("thead", {}, el("tr", {}, el("th", {}, "when"), el("th", {}, "rendition"), el("th", {}, "what"), el("th", {}, "reason"))), el("tbody", {}, renditionEvents.map((e) => el("tr", {}, el("td", {}, time(e.at)), el("td", {}, e.data.rendition), el("td", {}, e.data.codec ? `started${e.data.height ? ` ${e.data.height}p` : ""}${e.data.bitrate ? ` ${bitrate(e.data.bitrate)}` : ""}${e.data.passthrough ? " passthrough" : ""}` : "stopped"), el("td", {}, e.data.reason)))))),
    );
    if (!s.live) {
      const qoe = s.qoe ?? {};
      report.replaceChildren(
        el("h2", {}, "Post-stream report"),
        el("div", { class: "panel figures" }, figure("duration", duration(s.durationSeconds)), figure("average ingest", bitrate(s.averageBitrate ?? 0)), figure("average frame rate", `${(s.averageFrameRate ?? 0).toFixed(1)} fps`), figure("quality changes", s.qualityChanges), figure("reconnects", s.reconnects), figure("dropped frames", s.droppedFrames), figure("peak viewers", s.peakViewers), figure("average viewers", (s.averageViewers ?? 0).toFixed(1)), figure("chat messages", s.chatMessages), figure("moderation actions", s.moderationActions), figure("players (CMCD)", qoe.players ?? "—"), figure("startup (median)", qoe.startupMedianMilliseconds != null ? `${qoe.startupMedianMilliseconds} ms` : "—"), figure("rebuffer ratio", qoe.rebufferRatio != null ? `${(qoe.rebufferRatio * 100).toFixed(2)} %` : "—"), figure("ended", `${time(s.endedAt)} (${s.endReason})`)),
      );
    } else report.replaceChildren();
    for (const node of document.querySelectorAll(".legend i")) node.style.background = node.dataset.color;
  }
  draw();
  let refreshing = false;
  liveFeed(async () => {
    if (refreshing) return;
    refreshing = true;
    try {
      const last = timeline.length ? timeline[timeline.length - 1].position : 0;
      const [fresh, more] = await Promise.all([api(`/v1/dashboard/sessions/${id}`), api(`/v1/dashboard/sessions/${id}/timeline?after=${last}`)]);
      view = fresh;
      timeline = timeline.concat(more.timeline);
      draw();
    } finally {
      refreshing = false;
    }
  });
}

// ---- chat moderation ------------------------------------------------------------------------

async function chat() {
  const name = arg;
  const log = el("div", { class: "chatlog", id: "chat-log" });
  const actions = el("tbody", { id: "moderation-log" });
  const reason = el("input", { id: "moderation-reason", placeholder: "reason for the next action", size: 40 });
  const settings = jsonEditor("Settings", `/v1/moderation/${name}/settings`, "chat-settings");
  const moderator = el("input", { id: "moderator-id", placeholder: "viewer user id" });
  async function moderate(body, what) {
    const result = await act(what, () => api(`/v1/moderation/${name}/actions`, { method: "POST", body: { ...body, reason: reason.value || undefined } }));
    await loadActions(result?.position);
  }
  async function loadActions(waitFor) {
    const wait = waitFor ? `&waitFor=${waitFor}` : "";
    const { activity } = await api(`/v1/dashboard/activity?kind=moderation&channel=${encodeURIComponent(name)}&limit=50${wait}`);
    actions.replaceChildren(...activity.map((entry) => el("tr", {}, el("td", {}, el("a", { href: `/admin/audit?stream=chat-${name}#e${entry.position}` }, `#${entry.position}`)), el("td", {}, time(entry.at)), el("td", {}, entry.eventType), el("td", { class: "mono" }, entry.data.userId ?? entry.data.messageId ?? ""), el("td", {}, entry.actor), el("td", {}, entry.reason ?? ""))));
  }
  function line(message) {
    return el(
      "div",
      { class: "message", "data-id": message.id, "data-user": message.userId },
      el("span", { class: "who" }, message.name),
      el("span", { class: "text" }, message.text),
      el(
        "span",
        { class: "tools" },
        el("button", { type: "button", class: "delete", onclick: () => moderate({ action: "delete", messageId: message.id }, "Message deleted") }, "delete"),
        el("button", { type: "button", class: "timeout", onclick: () => moderate({ action: "timeout", userId: message.userId, seconds: 600 }, `${message.name} timed out`) }, "timeout"),
        el("button", { type: "button", class: "danger ban", onclick: () => moderate({ action: "ban", userId: message.userId }, `${message.name} banned`) }, "ban"),
        el("button", { type: "button", class: "unban", onclick: () => moderate({ action: "unban", userId: message.userId }, `${message.name} unbanned`) }, "unban"),
      ),
    );
  }
  setMain(
    el("h1", {}, `Chat of ${name}`),
    el(
      "div",
      { class: "row" },
      el("div", { class: "grow" }, el("div", { class: "panel" }, el("label", { for: "moderation-reason" }, "Reason"), reason), log),
      el(
        "div",
        { class: "grow" },
        settings,
        el(
          "form",
          { class: "panel inline", onsubmit: async (event) => { event.preventDefault(); await act("Moderator added", () => api(`/v1/moderation/${name}/moderators`, { method: "POST", body: { userId: moderator.value } })); } },
          el("label", { for: "moderator-id" }, "Moderators"),
          moderator,
          el("button", { type: "submit" }, "Add"),
          el("button", { type: "button", onclick: async () => act("Moderator removed", () => api(`/v1/moderation/${name}/moderators/${encodeURIComponent(moderator.value)}`, { method: "DELETE", json: false })) }, "Remove"),
        ),
      ),
    ),
    el("h2", {}, "Moderation actions (each one an event)"),
    el("div", { class: "panel" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "#"), el("th", {}, "when"), el("th", {}, "event"), el("th", {}, "subject"), el("th", {}, "by"), el("th", {}, "reason"))), actions)),
  );
  await loadActions();
  const socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/chat/${encodeURIComponent(name)}`);
  socket.addEventListener("message", (event) => {
    const frame = JSON.parse(event.data);
    if (frame.type === "backlog") log.replaceChildren(...frame.messages.map(line));
    else if (frame.type === "message") log.append(line(frame));
    else if (frame.type === "deleted") log.querySelector(`[data-id="${CSS.escape(frame.id)}"]`)?.remove();
    else if (frame.type === "userBanned" || frame.type === "userTimedOut" || frame.type === "userUnbanned") log.append(el("div", { class: "notice" }, `${frame.type} ${frame.userId}`));
    log.scrollTop = log.scrollHeight;
  });
  socket.addEventListener("close", () => log.append(el("div", { class: "notice" }, "disconnected; reload to reconnect")));
}

// ---- audit ----------------------------------------------------------------------------------

async function audit() {
  const query = new URLSearchParams(location.search);
  const fields = ["stream", "streamPrefix", "type", "actor", "correlation", "since", "until", "after", "to"];
  const inputs = Object.fromEntries(fields.map((name) => [name, el("input", { id: `filter-${name}`, name, value: query.get(name) ?? "", placeholder: { stream: "stream (channel-demo)", streamPrefix: "stream prefix (chat-)", type: "types, comma-separated", actor: "admin, encoder:ADDR, user:ID", correlation: "correlation id", since: "since (ISO 8601)", until: "until (ISO 8601)", after: "after position", to: "to position" }[name] })]));
  const status = el("span", { id: "verify-status", class: "muted" }, "checking the hash chain…");
  const results = el("div", { id: "audit-results" });
  setMain(
    el("h1", {}, "Audit ", status),
    el("form", { class: "panel inline", method: "get", action: "/admin/audit", id: "audit-filter" }, fields.map((name) => inputs[name]), el("button", { type: "submit" }, "Filter")),
    results,
  );
  api("/v1/events/verify").then((result) => {
    status.replaceChildren(badge(result.verified ? "hash chain verified" : "hash chain broken", result.verified ? "good" : "bad"), " ", result.message);
  }).catch((error) => status.replaceChildren(badge("verify failed", "bad"), " ", error.message));
  const parameters = new URLSearchParams();
  for (const name of fields) if (query.get(name)) parameters.set(name, query.get(name));
  parameters.set("limit", "500");
  try {
    const { events, next } = await api(`/v1/events?${parameters}`);
    const more = new URLSearchParams(query);
    more.set("after", String(next));
    results.replaceChildren(el("div", { class: "panel" }, events.length ? eventsTable(events) : el("p", { class: "muted" }, "No events match.")), events.length === 500 ? el("a", { href: `/admin/audit?${more}` }, "next page") : "");
    if (location.hash) document.querySelector(location.hash)?.scrollIntoView();
  } catch (error) {
    results.replaceChildren(el("p", { class: "problem" }, error.message));
  }
}

// ---- start ----------------------------------------------------------------------------------

const pages = { overview, channels, channel, session, chat, audit };
(pages[page] ?? overview)().catch((error) => {
  if (error.message !== "signed out") setMain(el("p", { class: "problem" }, error.message));
});
