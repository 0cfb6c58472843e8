"""hls.js latency: how far behind live hls.js 1.6 plays streamd's LL-HLS in headless Chromium.

ffmpeg publishes a pre-encoded 1080p30 FLV (H.264 CBR 5 Mbit/s, 2 s GOP, no B-frames, AAC) with
`-re -c copy` to `streamd serve` (embedded PostgreSQL under $BENCH_DIR, recording off, the
channel's default ladder). A page in headless Chromium (Selenium, Debian's chromium-driver) plays
`/live/CHANNEL/index.m3u8` with hls.js 1.6.15 (`lowLatencyMode: true`, otherwise its defaults
unless `--hlsjs-config` adds some)
from the `gradio==6.31.0` wheel. Every 250 ms the page samples `hls.latency` (hls.js's own
estimate: live edge minus playhead) and wall clock minus `hls.playingDate` (the playhead's
PROGRAM-DATE-TIME; one clock, one machine). After a warm-up from the first frame played, the
samples of `--seconds` make the median and p90. It also counts stalls (`waiting` events and
BUFFER_STALLED_ERROR), part and segment loads, blocking reloads (`_HLS_msn`), `_HLS_skip` requests
and delta updates that skipped segments.

`--loss P` (repeatable; default 0 and 1): with any P > 0, Chromium runs in a network namespace
joined to the host by a veth pair, streamd listens on the host end's address, and for each lossy
run nftables in the namespace drops P % of the packets crossing the veth, both ways, at random
(`numgen random`; the kernel has no netem). The 0 % run then uses the same namespace without the
rule, so the two differ only by the loss. The namespace and the veth are removed on every exit.

`play` (a subcommand) is the browser half alone, run inside the namespace; the test suite runs it
too (HLSJSLatencyTests). It prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import log, percentile  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
GOAL = {False: 1.5, True: 2.0}  # seconds: clean link, lossy link (issue 23)
IP, NFT = "/usr/sbin/ip", "/usr/sbin/nft"

# --- the page ---------------------------------------------------------------------------------

PAGE = """<!doctype html><meta charset="utf-8"><video id="v" muted autoplay playsinline width="960"></video>
<script type="module">
import { t as attach, n as isSupported } from "./hls.js";
const url = %(url)s;
const video = document.getElementById("v");
const r = window.report = {
  supported: isSupported(), fatal: [], errors: {}, waiting: [], stalled: [], samples: [], firstPlayed: null,
  partLoads: 0, segmentLoads: 0, playlistLoads: 0, blockingReloads: 0, skipRequests: 0, deltaUpdates: 0,
  deltaFailures: 0, levelSwitches: [], details: null,
};
// gradio's export `t` attaches a player with a fixed configuration; its class builds ours.
const probe = attach(document.createElement("video"), url);
const Hls = probe.constructor;
probe.destroy();
// hls.js's own log, its first 400 lines and its last 300, for report.json: how it started, and
// where it ended up.
const head = window.hlsLogHead = [], log = window.hlsLog = [];
const keep = level => (...parts) => {
  const line = `${Math.round(performance.now())} ${level} ${parts.map(String).join(" ")}`.slice(0, 400);
  if (head.length < 400) head.push(line);
  log.push(line);
  if (log.length > 300) log.shift();
};
const logger = {trace: () => {}, debug: keep("debug"), log: keep("log"), info: keep("info"), warn: keep("warn"), error: keep("error")};
const hls = window.hls = new Hls(Object.assign(%(config)s, {debug: logger}));
r.version = Hls.version;
r.lowLatencyMode = hls.config.lowLatencyMode;
const E = Hls.Events;
hls.on(E.ERROR, (_, d) => {
  if (d.fatal) r.fatal.push(d.details);
  r.errors[d.details] = (r.errors[d.details] || 0) + 1;
  if (d.details === Hls.ErrorDetails.BUFFER_STALLED_ERROR) r.stalled.push(Date.now());
});
const loading = (_, d) => {
  r.playlistLoads++;
  const directives = d.deliveryDirectives;
  if (directives && directives.msn !== undefined) r.blockingReloads++;
  if (directives && directives.skip) r.skipRequests++;
};
hls.on(E.LEVEL_LOADING, loading);
hls.on(E.AUDIO_TRACK_LOADING, loading);
const loaded = (_, d) => {
  if (d.details.skippedSegments > 0) r.deltaUpdates++;
  if (d.details.deltaUpdateFailed) r.deltaFailures++;
  if (d.type === undefined || d.type === "level") r.details = {
    partTarget: d.details.partTarget, partHoldBack: d.details.partHoldBack, targetduration: d.details.targetduration,
    canSkipUntil: d.details.canSkipUntil, canBlockReload: d.details.canBlockReload };
};
hls.on(E.LEVEL_LOADED, loaded);
hls.on(E.AUDIO_TRACK_LOADED, loaded);
hls.on(E.FRAG_LOADED, (_, d) => { if (d.part) r.partLoads++; else r.segmentLoads++; });
hls.on(E.LEVEL_SWITCHED, (_, d) => r.levelSwitches.push([Date.now(), d.level]));
video.addEventListener("waiting", () => r.waiting.push(Date.now()));
video.addEventListener("playing", () => { if (r.firstPlayed === null) r.firstPlayed = Date.now(); });
setInterval(() => {
  if (r.firstPlayed === null) return;
  const now = Date.now(), date = hls.playingDate, buffered = video.buffered;
  const ahead = buffered.length ? buffered.end(buffered.length - 1) - video.currentTime : 0;
  r.samples.push([now, hls.latency, date ? (now - date.getTime()) / 1000 : null, hls.currentLevel, ahead,
                  video.playbackRate, video.paused, video.currentTime]);
}, 250);
hls.loadSource(url);
hls.attachMedia(video);
</script>"""


def rank(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile, rounded to the millisecond; None (JSON null) for no values."""
    return round(percentile(values, p), 3) if values else None


def longest_stall(samples: list) -> float:
    """The longest time (s) the playhead did not move while playing, from the 250 ms samples."""
    longest, since = 0.0, None
    for previous, sample in zip(samples, samples[1:]):
        if sample[7] == previous[7] and not sample[6]:
            since = previous[0] if since is None else since
            longest = max(longest, (sample[0] - since) / 1000)
        else:
            since = None
    return round(longest, 3)


def play(url: str, seconds: float, warmup: float, hlsjs_dir: str, out: str, config: dict, start_timeout: float = 60) -> dict:
    """Plays `url` in headless Chromium; returns the figures of the window after the warm-up."""
    page = PAGE % {"url": json.dumps(url), "config": json.dumps({"lowLatencyMode": True} | config)}
    server = common.serve_hlsjs_page(os.path.join(out, "site"), hlsjs_dir, page)
    driver = common.chromium(window_size="1000,600")
    figures: dict = {"url": url, "config": {"lowLatencyMode": True} | config}
    try:
        driver.get(f"http://127.0.0.1:{server.server_address[1]}/index.html")
        deadline = time.monotonic() + start_timeout
        while not driver.execute_script("return window.report && window.report.firstPlayed"):
            if time.monotonic() > deadline:
                report = driver.execute_script("return window.report") or {}
                raise SystemExit(f"hls.js did not start playing within {start_timeout:.0f} s: "
                                 f"fatal {report.get('fatal')}, errors {report.get('errors')}")
            time.sleep(0.25)
        time.sleep(warmup + seconds + 0.3)
        report = driver.execute_script("""const r = window.report, h = window.hls, v = document.getElementById('v');
            const q = v.getVideoPlaybackQuality();
            r.levels = h.levels.map(l => ({height: l.height, bitrate: l.bitrate, name: l.name || l.url[0] || ''}));
            r.decodedFrames = q.totalVideoFrames; r.droppedFrames = q.droppedVideoFrames;
            r.targetLatency = h.targetLatency; r.now = Date.now();
            const ranges = b => Array.from({length: b.length}, (_, i) => [+b.start(i).toFixed(3), +b.end(i).toFixed(3)]);
            const bc = h.bufferController, ms = bc && bc.mediaSource, sc = h.streamController;
            const d = h.levels[h.currentLevel] && h.levels[h.currentLevel].details, f = sc && sc.fragPrevious;
            r.end = {currentTime: +v.currentTime.toFixed(3), readyState: v.readyState, paused: v.paused,
              buffered: ranges(v.buffered), tracks: ms ? Array.from(ms.sourceBuffers, b => ranges(b.buffered)) : null,
              loader: sc && sc.state, nextLoadPosition: sc && sc.nextLoadPosition,
              fragPrevious: f ? {sn: f.sn, start: f.start, duration: f.duration} : null,
              playlist: d ? {startSN: d.startSN, endSN: d.endSN, edge: d.edge, parts: d.partList ? d.partList.length : 0,
                             loadedParts: d.partList ? d.partList.filter(p => p.loaded).length : 0} : null,
              queues: bc && bc.operationQueue && bc.operationQueue.queues ? Object.fromEntries(Object.entries(bc.operationQueue.queues)
                .filter(([k, q]) => q.length).map(([k, q]) => [k, {first: q.slice(0, 3).map(o => o.label), length: q.length}])) : null};
            r.logHead = window.hlsLogHead; r.log = window.hlsLog;
            return r;""")
        driver.save_screenshot(os.path.join(out, "hlsjs-latency.png"))
    finally:
        driver.quit()
        server.shutdown()
    with open(os.path.join(out, "report.json"), "w") as f:
        json.dump(report, f)
    begin = report["firstPlayed"] + warmup * 1000
    end = begin + seconds * 1000
    window = [s for s in report["samples"] if begin <= s[0] < end]
    latency = [s[1] for s in window if isinstance(s[1], (int, float)) and math.isfinite(s[1])]
    behind = [s[2] for s in window if isinstance(s[2], (int, float)) and math.isfinite(s[2])]
    levels: dict[int, int] = {}
    for s in window:
        levels[s[3]] = levels.get(s[3], 0) + 1
    played = max(levels, key=levels.get) if levels else -1
    figures.update({
        key: report[key] for key in ("version", "supported", "lowLatencyMode", "fatal", "errors", "partLoads",
                                     "segmentLoads", "playlistLoads", "blockingReloads", "skipRequests", "deltaUpdates",
                                     "deltaFailures", "details", "levels", "decodedFrames", "droppedFrames", "targetLatency",
                                     "end")
    })
    queues = report["end"].get("queues") or {}
    figures.update({
        # hls.js 1.6's own deadlock (its issue 7808): a `block-audio` operation stranded at the head
        # of the audio queue, the video queue held by the blocker that waits on it, the main loader
        # waiting in PARSED for a video append that never runs.
        "hlsjsQueueDeadlock": report["end"].get("loader") == "PARSED"
        and (queues.get("audio") or {}).get("first", [None])[0] == "block-audio"
        and (queues.get("video") or {}).get("first", [None])[0] == "async-blocker",
        "samples": len(window), "windowSeconds": seconds, "warmupSeconds": warmup,
        "latencySamples": len(latency), "behindSamples": len(behind),
        "latencyMedian": rank(latency, 50), "latencyP90": rank(latency, 90),
        "behindMedian": rank(behind, 50), "behindP90": rank(behind, 90),
        "stallsInWindow": sum(1 for t in report["waiting"] + report["stalled"] if begin <= t < end),
        "waitingEvents": len(report["waiting"]), "bufferStalledErrors": len(report["stalled"]),
        "levelPlayed": played,
        "levelPlayedHeight": report["levels"][played]["height"] if 0 <= played < len(report["levels"]) else None,
        "levelSwitches": len(report["levelSwitches"]),
        "longestStallInWindow": longest_stall(window),
        "bufferAheadMedian": rank([s[4] for s in window], 50),
        "playedInWindow": round(window[-1][7] - window[0][7], 3) if len(window) > 1 else 0,
        "sampledInWindow": round((window[-1][0] - window[0][0]) / 1000, 3) if len(window) > 1 else 0,
    })
    return figures


# --- the network namespace --------------------------------------------------------------------

class Namespace:
    """A network namespace joined to the host by a veth pair (a /30 in 10.214.0.0/16)."""

    def __init__(self, name: str, host_if: str, ns_if: str) -> None:
        subnet = random.randint(1, 254)
        self.name, self.host_if, self.ns_if = name, host_if, ns_if
        self.host_address, self.ns_address = f"10.214.{subnet}.1", f"10.214.{subnet}.2"
        self.created = False

    def create(self) -> None:
        if os.geteuid() != 0:
            raise SystemExit("--loss needs root (CAP_NET_ADMIN) for a network namespace and a veth pair")
        for tool in (IP, NFT):
            if not os.access(tool, os.X_OK):
                raise SystemExit(f"--loss needs {tool} (iproute2, nftables)")
        self.created = True
        for command in [
            ["netns", "add", self.name],
            ["link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if],
            ["link", "set", self.ns_if, "netns", self.name],
            ["addr", "add", f"{self.host_address}/30", "dev", self.host_if],
            # One TCP segment per packet: with the veth's default 64 KiB GSO packets, a drop would
            # lose up to 44 segments at once, not 1 % of what a wire carries.
            ["link", "set", self.host_if, "gso_max_segs", "1"],
            ["link", "set", self.host_if, "up"],
            ["netns", "exec", self.name, IP, "addr", "add", f"{self.ns_address}/30", "dev", self.ns_if],
            ["netns", "exec", self.name, IP, "link", "set", self.ns_if, "gso_max_segs", "1"],
            ["netns", "exec", self.name, IP, "link", "set", self.ns_if, "up"],
            ["netns", "exec", self.name, IP, "link", "set", "lo", "up"],
        ]:
            result = subprocess.run([IP] + command, capture_output=True, text=True)
            if result.returncode:
                raise SystemExit(f"ip {' '.join(command)}: {result.stderr.strip()}")

    def nft(self, *arguments: str) -> str:
        result = subprocess.run([IP, "netns", "exec", self.name, NFT] + list(arguments), capture_output=True, text=True)
        if result.returncode:
            raise SystemExit(f"nft {' '.join(arguments)}: {result.stderr.strip()}")
        return result.stdout

    def add_loss(self, percent: float) -> None:
        """Drops `percent` % of the packets crossing the veth, each way; the namespace's loopback
        (chromedriver and Chromium, the page server) is left alone."""
        threshold = str(round(percent * 100))
        self.nft("add", "table", "inet", "hlsjs_loss")
        for chain, hook, match in (("in", "input", "iifname"), ("out", "output", "oifname")):
            self.nft("add", "chain", "inet", "hlsjs_loss", chain, f"{{ type filter hook {hook} priority 0; policy accept; }}")
            self.nft("add", "rule", "inet", "hlsjs_loss", chain, match, self.ns_if, "counter")
            self.nft("add", "rule", "inet", "hlsjs_loss", chain, match, self.ns_if,
                     "numgen", "random", "mod", "10000", "<", threshold, "counter", "drop")

    def loss_counts(self) -> dict[str, tuple[int, int]]:
        """Per direction: (packets seen, packets dropped)."""
        text = self.nft("list", "table", "inet", "hlsjs_loss")
        counts, chain = {}, None
        for line in text.splitlines():
            match = re.search(r"chain (\w+)", line)
            if match:
                chain = match.group(1)
            match = re.search(r"counter packets (\d+)", line)
            if match and chain:
                seen, dropped = counts.get(chain, (None, 0))
                counts[chain] = (int(match.group(1)), 0) if seen is None else (seen, int(match.group(1)))
        return counts

    def remove_loss(self) -> None:
        self.nft("delete", "table", "inet", "hlsjs_loss")

    def remove(self) -> None:
        if not self.created:
            return
        subprocess.run([IP, "netns", "delete", self.name], capture_output=True)
        subprocess.run([IP, "link", "delete", self.host_if], capture_output=True)
        self.created = False


# --- the benchmark ----------------------------------------------------------------------------

def media_playlist_settings(base: str, channel: str) -> tuple[str, str, str]:
    """(first variant's URI, PART-TARGET, PART-HOLD-BACK) as the stream advertises them."""
    with urllib.request.urlopen(f"{base}/live/{channel}/index.m3u8", timeout=10) as reply:
        multivariant = reply.read().decode()
    uris = [line for line in multivariant.splitlines() if line and not line.startswith("#")]
    with urllib.request.urlopen(f"{base}/live/{channel}/{uris[0]}", timeout=10) as reply:
        media = reply.read().decode()
    target = re.search(r"#EXT-X-PART-INF:PART-TARGET=([\d.]+)", media)
    hold = re.search(r"PART-HOLD-BACK=([\d.]+)", media)
    return uris[0], target.group(1) if target else "?", hold.group(1) if hold else "?"


def wait_for(what: str, seconds: float, probe) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except OSError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"timed out after {seconds:.0f} s waiting for {what}")


def run_mode(args, server: common.Streamd, source: str, namespace: Namespace | None, loss: float) -> dict:
    channel = f"hlsjs-loss{str(loss).replace('.', '-')}-{int(time.time()) % 100000}"
    status, text = server.admin("POST", "/v1/channels", {"name": channel})
    if status != 201:
        raise SystemExit(f"creating channel {channel}: {status} {text}")
    key = json.loads(text)["streamKey"]
    if args.part_target is not None:
        status, text = server.admin("PUT", f"/v1/channels/{channel}/playback", {"partTarget": args.part_target})
        if status != 200:
            raise SystemExit(f"setting the part target of {channel}: {status} {text}")
    if args.passthrough_only:
        status, text = server.admin("PUT", f"/v1/channels/{channel}/ladder", common.PASSTHROUGH_ONLY)
        if status != 200:
            raise SystemExit(f"setting the ladder of {channel}: {status} {text}")
    out = os.path.join(common.WORK, "hlsjs-latency", f"loss-{loss:g}")
    os.makedirs(out, exist_ok=True)
    publisher = common.publish(source, f"rtmp://{server.host}:{server.rtmp}/live/{key}", os.path.join(out, "ffmpeg.log"))
    try:
        def ready() -> bool:
            with urllib.request.urlopen(f"{server.base}/live/{channel}/index.m3u8", timeout=5) as reply:
                return reply.status == 200
        wait_for("the multivariant playlist", 60, ready)
        variant, part_target, part_hold_back = media_playlist_settings(server.base, channel)
        if loss > 0:
            namespace.add_loss(loss)
        command = [sys.executable, os.path.abspath(__file__), "play", "--url", f"{server.base}/live/{channel}/index.m3u8",
                   "--seconds", str(args.seconds), "--warmup", str(args.warmup), "--hlsjs-dir", args.hlsjs_dir, "--out", out,
                   "--hlsjs-config", json.dumps(args.hlsjs_config)]
        if namespace:
            command = [IP, "netns", "exec", namespace.name] + command
        log(f"loss {loss:g} %: playing {channel} ({variant}: PART-TARGET {part_target}, PART-HOLD-BACK {part_hold_back})"
            f" for {args.warmup:g} + {args.seconds:g} s")
        player = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            stdout, stderr = player.communicate(timeout=args.warmup + args.seconds + 180)
        finally:
            common.stop(player)  # SIGTERM: the player quits Chromium before it exits
        if player.returncode:
            raise SystemExit(f"the player failed ({player.returncode}):\n{stdout[-2000:]}\n{stderr[-4000:]}")
        figures = json.loads(stdout.strip().splitlines()[-1])
        figures.update({"loss": loss, "partTarget": part_target, "partHoldBack": part_hold_back, "variant": variant,
                        "out": out})
        if loss > 0:
            figures["dropped"] = namespace.loss_counts()
            namespace.remove_loss()
        return figures
    finally:
        common.stop(publisher)
        if namespace and loss > 0:
            subprocess.run([IP, "netns", "exec", namespace.name, NFT, "delete", "table", "inet", "hlsjs_loss"],
                           capture_output=True)


def table(results: list[dict], args) -> None:
    log("")
    first = results[0]
    log(f"hls.js {first.get('version')} lowLatencyMode in headless Chromium; 1080p30 source "
        f"({'passthrough only' if args.passthrough_only else 'the default ladder'}); "
        f"PART-TARGET {first['partTarget']} s, PART-HOLD-BACK {first['partHoldBack']} s ({first['variant']}), "
        f"hls.js config {json.dumps(first['config'])}; "
        f"{args.seconds:g} s after a {args.warmup:g} s warm-up; samples every 250 ms")
    log(f"{'loss':>5}  {'level':>6}  {'target':>6}  {'hls.latency p50/p90':>20}  {'wall-PDT p50/p90':>17}  {'stalls':>6}  "
        f"{'parts':>5}  {'segs':>4}  {'blocking':>8}  {'delta':>5}  {'dropped fr':>10}  goal (p50 < goal)")
    def under(value: float | None, goal: float) -> str:
        return "no figure" if value is None else "yes" if value < goal else "NO"

    def seconds(p50: float | None, p90: float | None) -> str:
        return "-" if p50 is None else f"{p50:.2f} / {p90:.2f} s"

    for r in results:
        goal = GOAL[r["loss"] > 0]
        verdict = (f"< {goal:g} s: hls.latency {under(r['latencyMedian'], goal)}, wall-PDT {under(r['behindMedian'], goal)}"
                   + (", stalled" if r["stallsInWindow"] else ""))
        height = f"{r['levelPlayedHeight']}p" if r["levelPlayedHeight"] else str(r["levelPlayed"])
        stalls = f"{r['stallsInWindow']}/{r['waitingEvents'] + r['bufferStalledErrors']}"
        target = "-" if r["targetLatency"] is None else f"{r['targetLatency']:.2f} s"
        log(f"{r['loss']:>4g}%  {height:>6}  {target:>6}  {seconds(r['latencyMedian'], r['latencyP90']):>20}  "
            f"{seconds(r['behindMedian'], r['behindP90']):>17}  {stalls:>6}  {r['partLoads']:>5}  "
            f"{r['segmentLoads']:>4}  {r['blockingReloads']:>8}  {r['deltaUpdates']:>5}  "
            f"{r['droppedFrames']:>4}/{r['decodedFrames']:<5}  {verdict}")
    for r in results:
        if r.get("dropped"):
            shares = ", ".join(f"{way} {d}/{s} packets ({100 * d / max(s, 1):.2f} %)" for way, (s, d) in sorted(r["dropped"].items()))
            log(f"loss {r['loss']:g} %: nftables dropped {shares}")
        if r["errors"] or r["fatal"]:
            log(f"loss {r['loss']:g} %: hls.js errors {r['errors']}, fatal {r['fatal']}")
    log(f"target: hls.targetLatency at the end (PART-HOLD-BACK + 1 s per stall since the start, "
        f"at most a target duration); stalls: `waiting` events and BUFFER_STALLED_ERROR in the window / since the start; pages, samples and screenshots "
        f"under {os.path.join(common.WORK, 'hlsjs-latency')}")


def bench(args) -> None:
    common.which("ffmpeg")
    common.hls_module(args.hlsjs_dir)  # fetched here: the namespace has no route out
    losses = args.loss or [0.0, 1.0]
    namespace = None
    if any(loss > 0 for loss in losses):
        tag = os.environ.get("HLSJS_NETNS_TAG") or f"{os.getpid() % 0xFFFFF:x}"
        namespace = Namespace(f"streamd-hlsjs-{tag}", f"shh{tag}", f"shp{tag}")

    def terminate(signum, frame) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, terminate)
    server = None
    try:
        if namespace:
            namespace.create()
        length = max(150, int(args.warmup + args.seconds) + 60)  # start-up, warm-up, window, slack
        source = common.make_input(f"hlsjs-1080p-{length}s.flv", "1920x1080", "5M", length)
        server = common.Streamd(args.streamd, None, os.path.join(common.WORK, "hlsjs-streamd"),
                                host=namespace.host_address if namespace else "127.0.0.1")
        results = [run_mode(args, server, source, namespace, loss) for loss in losses]
        table(results, args)
        with open(os.path.join(common.WORK, "hlsjs-latency", "results.json"), "w") as f:
            json.dump(results, f, indent=1)
    finally:
        if server:
            server.stop()
        if namespace:
            namespace.remove()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60, help="seconds measured per run (default 60)")
    parser.add_argument("--warmup", type=float, default=8, help="seconds skipped after the first frame (default 8)")
    parser.add_argument("--hlsjs-dir", default=os.path.join(ROOT, ".build", "hlsjs"), help="where the gradio wheel is kept")
    parser.add_argument("--hlsjs-config", type=json.loads, default={}, metavar="JSON",
                        help='more hls.js configuration, e.g. \'{"maxLiveSyncPlaybackRate": 1.5}\' (default: its defaults)')
    sub = parser.add_subparsers(dest="command")
    player = sub.add_parser("play", help="only the browser: play URL, print one JSON line of figures")
    player.add_argument("--url", required=True)
    player.add_argument("--out", required=True, help="folder for the page, report.json and a screenshot")
    for p in (player,):
        p.add_argument("--seconds", type=float, default=argparse.SUPPRESS)
        p.add_argument("--warmup", type=float, default=argparse.SUPPRESS)
        p.add_argument("--hlsjs-dir", default=argparse.SUPPRESS)
        p.add_argument("--hlsjs-config", type=json.loads, default=argparse.SUPPRESS)
    parser.add_argument("--streamd", help="release streamd binary")
    parser.add_argument("--loss", type=float, action="append", help="percent dropped each way; repeatable (default 0 and 1)")
    parser.add_argument("--part-target", type=float, help="seconds; set on each channel's playback settings")
    parser.add_argument("--passthrough-only", action="store_true", help="only the source rendition (no transcoding)")
    args = parser.parse_args()
    if args.command == "play":
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(f"stopped by signal {signum}"))
        print(json.dumps(play(args.url, args.seconds, args.warmup, args.hlsjs_dir, args.out, args.hlsjs_config)), flush=True)
        return
    if not args.streamd:
        parser.error("--streamd is required")
    bench(args)


if __name__ == "__main__":
    main()
