#!/usr/bin/env python3
"""hls.js (LL-HLS mode, CMCD on) in headless Chromium plays a live stream; its CMCD becomes the
session's QoE: startup time and rebuffer figures in the dashboard while live and in the report
after the end.

hls.js comes from the PyPI wheel gradio==6.31.0 (hls.js 1.6.15 as an ES module), fetched once
into HLSJS_DIR with `pip download --no-deps`. Its export `t` attaches a player with a fixed
configuration; the page takes the Hls class from that player to build one with `cmcd` on.

usage: hlsjs_cmcd.py BASE_URL ADMIN_TOKEN RTMP_PORT HLSJS_DIR ARTIFACTS_DIR
Prints one JSON line of figures; exits 1 with what failed.
"""
import json
import os
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "ops", "bench", "llhls"))
import common  # noqa: E402  (hls.js from the wheel, the page server, Chromium)

base, token, rtmp_port, hlsjs_dir, artifacts = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
os.makedirs(artifacts, exist_ok=True)
figures = {}


def admin(method, path, body=None):
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        text = reply.read().decode()
        return json.loads(text) if text else None


def until(what, seconds, probe):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out after {seconds} s waiting for {what}")


PAGE = """<!doctype html><meta charset="utf-8"><video id="v" muted autoplay playsinline width="640"></video>
<script type="module">
import { t as attach, n as isSupported } from "./hls.js";
const video = document.getElementById("v");
window.report = { supported: isSupported(), errors: [], stalls: 0 };
const probe = attach(document.createElement("video"), "%(url)s");
const Hls = probe.constructor;
probe.destroy();
const hls = new Hls({ lowLatencyMode: true, cmcd: { sessionId: "hlsjs-cmcd-test", contentId: "%(channel)s" } });
hls.on(Hls.Events.ERROR, (_, data) => { if (data.fatal) window.report.errors.push(data.details); });
hls.on(Hls.Events.BUFFER_STALLED_ERROR, () => window.report.stalls++);
hls.loadSource("%(url)s");
hls.attachMedia(video);
video.addEventListener("waiting", () => window.report.stalls++);
</script>"""

channel = f"cmcd-{int(time.time()) % 100000}"
key = admin("POST", "/v1/channels", {"name": channel})["streamKey"]
publisher = subprocess.Popen(
    ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
     "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "90", "-c:v", "libx264", "-preset", "ultrafast",
     "-tune", "zerolatency", "-g", "30", "-bf", "0", "-c:a", "aac", "-b:a", "96k", "-f", "flv",
     f"rtmp://127.0.0.1:{rtmp_port}/live/{key}"],
    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

server = common.serve_hlsjs_page(
    os.path.join(artifacts, "hlsjs-site"), hlsjs_dir, PAGE % {"url": f"{base}/live/{channel}/index.m3u8", "channel": channel})

driver = None
try:
    session_id = until("the session", 30, lambda: next((s["sessionID"] for s in admin("GET", "/v1/dashboard/live")["sessions"]
                                                      if s["channelName"] == channel), None))
    def playlist_ready():
        try:
            return urllib.request.urlopen(f"{base}/live/{channel}/index.m3u8", timeout=5).status == 200
        except OSError:
            return False
    until("the multivariant playlist", 30, playlist_ready)
    driver = common.chromium()
    driver.get(f"http://127.0.0.1:{server.server_address[1]}/index.html")
    played = until("hls.js to play 6 s", 60, lambda: driver.execute_script(
        "const v = document.getElementById('v'); return v && v.currentTime > 6 ? v.currentTime : 0"))
    figures["played_seconds"] = round(played, 1)
    figures["player"] = driver.execute_script("return window.report")
    assert not figures["player"]["errors"], f"hls.js fatal errors: {figures['player']['errors']}"
    driver.save_screenshot(os.path.join(artifacts, "hlsjs-cmcd.png"))

    # While live: the audience sample carries the player's QoE (at most every 10 s).
    live = until("the player's QoE on the live session", 40, lambda: (lambda s: s if (s.get("qoe") or {}).get("startupMedianMilliseconds") is not None else None)(
        admin("GET", f"/v1/dashboard/sessions/{session_id}")["session"]))
    figures["live_qoe"] = live["qoe"]
    streams = admin("GET", "/v1/streams")["streams"]
    figures["streams_entry"] = next(({k: s.get(k) for k in ("viewers", "peakViewers", "qoe")} for s in streams
                                     if s["channelName"] == channel), None)

    # After the end: the post-stream report keeps them.
    driver.quit()
    driver = None
    request = urllib.request.Request(f"{base}/v1/streams/{session_id}?reason=cmcd%20test%20done", method="DELETE",
                                     headers={"Authorization": f"Bearer {token}"})
    urllib.request.urlopen(request, timeout=30).read()
    report = until("the ended session's report", 30, lambda: (lambda s: s if not s["live"] else None)(
        admin("GET", f"/v1/dashboard/sessions/{session_id}")["session"]))
    qoe = report.get("qoe") or {}
    figures["report_qoe"] = qoe
    assert qoe.get("players", 0) >= 1, f"no players in the report: {report}"
    assert qoe.get("startupMedianMilliseconds") is not None and qoe["startupMedianMilliseconds"] > 0, f"no startup time: {qoe}"
    assert "rebuffers" in qoe and qoe.get("rebufferRatio") is not None, f"no rebuffer figures: {qoe}"
    print(json.dumps(figures))
except AssertionError as failure:
    print(f"FAILED: {failure}")
    print(json.dumps(figures, default=str))
    if driver:
        driver.save_screenshot(os.path.join(artifacts, "hlsjs-cmcd-failure.png"))
    sys.exit(1)
finally:
    if driver:
        driver.quit()
    publisher.kill()
    server.shutdown()
