#!/usr/bin/env python3
"""Backup ingest failover (issue 25): how long from losing the primary encoder until the backup's
frames are in the playlist, over many switches, and the longest stall hls.js sees meanwhile.

A release `streamd serve` on a scratch database (`--input-stall-ms 1000
--input-switch-back-seconds 2`), one channel whose ladder is one transcoded 360p rung (no
passthrough: the x264 rung is the slower path a viewer sees). Two ffmpeg encoders publish it with
the same x264 settings: the primary a test pattern, the backup (`?role=backup`) a white picture,
so a frame tells which encoder it came from. Each round waits until the primary plays, then
either kills it (`kill`: SIGKILL, the TCP connection closes) or freezes it (`stall`: SIGSTOP, the
connection stays open and silent, so the stall threshold decides), and follows the rung's
playlist with blocking reloads: every new part is decoded with the segment so far, and the switch
time is when the first part whose last frame is white is listed, minus when the primary was lost.
Then the primary is restarted (or continued) and the next round waits for the switch back.
hls.js (low-latency mode, headless Chromium) plays the channel for the whole run; its longest
stall (the playhead not moving while playing, from 250 ms samples) is reported.

Usage: failover_bench.py --streamd BIN --database-url URL [--kills 20] [--stalls 10]"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import WORK, Client, Streamd, listed_parts, log, percentile, preload_hint  # noqa: E402
from hlsjs_latency import longest_stall  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def encoder(url: str, white: bool) -> subprocess.Popen:
    source = "color=c=white:size=640x360:rate=30" if white else "testsrc2=size=640x360:rate=30"
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-f", "lavfi", "-i", source,
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
         "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "60", "-bf", "0", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "96k", "-f", "flv", url],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def last_luma(data: bytes) -> int | None:
    """The mean luma (0-255) of the last frame of an init segment plus fragments."""
    with tempfile.NamedTemporaryFile(suffix=".mp4", dir=WORK) as f:
        f.write(data)
        f.flush()
        run = subprocess.run(["ffmpeg", "-v", "quiet", "-i", f.name, "-vf", "scale=1:1,format=gray", "-f", "rawvideo", "-"],
                             capture_output=True)
    return run.stdout[-1] if run.stdout else None


def playing(server: Streamd) -> str | None:
    status, text = server.admin("GET", "/v1/streams")
    rows = json.loads(text) if status == 200 else []
    rows = rows.get("streams", []) if isinstance(rows, dict) else rows
    return rows[0].get("playing") if rows else None


def wait_for(what: str, check, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {seconds:.0f} s waiting for {what}")
        time.sleep(0.05)


class Follower:
    """Follows one media playlist with blocking reloads on a thread of its own, noting when each
    part was first listed; `parts()` then hands them out in order with the segment's bytes so far,
    however long the caller takes to decode them."""

    def __init__(self, server: Streamd, path: str) -> None:
        self.port, self.path = server.http, path
        self.folder = path.rsplit("/", 1)[0]
        self.listed: dict[str, float] = {}
        self.order: list[str] = []
        self.init_uri = ""
        self.lock = threading.Lock()
        self.stopped = False
        status, body = Client(self.port).get(path)
        self.hint = preload_hint(body.decode())
        if status != 200 or self.hint is None:
            raise SystemExit(f"{path}: {status}")
        self.note(body.decode(), time.time())
        self.seen = len(self.order)
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def note(self, text: str, now: float) -> None:
        with self.lock:
            for line in text.splitlines():
                if line.startswith("#EXT-X-MAP:"):
                    self.init_uri = line.split('URI="', 1)[1].split('"', 1)[0]
            for uri in listed_parts(text):
                if uri not in self.listed:
                    self.listed[uri] = now
                    self.order.append(uri)

    def watch(self) -> None:
        client = Client(self.port)
        while not self.stopped and self.hint:
            msn, part = self.hint
            status, body = client.get(f"{self.path}?_HLS_msn={msn}&_HLS_part={part}")
            now = time.time()
            if status != 200:
                time.sleep(0.05)
                continue
            text = body.decode()
            self.note(text, now)
            self.hint = preload_hint(text) or (msn, part + 1)

    def parts(self, deadline: float):
        """(when listed, init + the segment so far) for each part listed after the start."""
        client = Client(self.port)
        init = client.get(f"{self.folder}/{self.init_uri}")[1]
        segment, segment_msn = b"", None
        while time.time() < deadline:
            with self.lock:
                uri = self.order[self.seen] if self.seen < len(self.order) else None
            if uri is None:
                time.sleep(0.02)
                continue
            self.seen += 1
            msn = uri.split(".", 1)[0]
            status, data = client.get(f"{self.folder}/{uri}")
            if status != 200:
                raise SystemExit(f"part {uri}: {status}")
            if msn != segment_msn:
                segment, segment_msn = b"", msn
                # The segment's earlier parts, listed before the start, decode its later ones.
                number = int(msn[1:])
                index = 0
                while f"s{number}.p{index}.m4s" != uri:
                    segment += client.get(f"{self.folder}/s{number}.p{index}.m4s")[1]
                    index += 1
            segment += data
            yield self.listed[uri], init + segment

    def stop(self) -> None:
        self.stopped = True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streamd", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--stalls", type=int, default=10)
    parser.add_argument("--hlsjs-dir", default=os.path.join(ROOT, ".build", "hlsjs"))
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    server = Streamd(args.streamd, None, os.path.join(WORK, "failover-node"),
                     extra=["--database-url", args.database_url, "--input-stall-ms", "1000", "--input-switch-back-seconds", "2"])
    name = f"failover{int(time.time()) % 100000}"
    key = server.channel(name, None)
    status, text = server.admin("GET", f"/v1/channels/{name}/ladder")
    ladder = json.loads(text)
    ladder["rungs"] = [rung for rung in ladder["rungs"] if rung["height"] == 360]
    ladder["allowsPassthrough"] = False
    status, text = server.admin("PUT", f"/v1/channels/{name}/ladder", ladder)
    if status != 200:
        raise SystemExit(f"setting the ladder: {status} {text}")
    url = f"rtmp://127.0.0.1:{server.rtmp}/live/{key}"
    primary = encoder(url, white=False)
    backup = None
    player = None
    results: dict[str, list[float]] = {"kill": [], "stall": []}
    losses: list[tuple[str, float]] = []
    try:
        wait_for("the primary", lambda: playing(server) == "primary")
        backup = encoder(url + "?role=backup", white=True)
        time.sleep(3)
        rounds = ["kill"] * args.kills + ["stall"] * args.stalls
        total = len(rounds) * 11 + 20
        out = os.path.join(WORK, "failover-hlsjs")
        player = subprocess.Popen(
            ["python3", os.path.join(ROOT, "ops/bench/llhls/hlsjs_latency.py"), "--seconds", str(total), "--warmup", "2",
             "--hlsjs-dir", args.hlsjs_dir, "play", "--url", f"{server.base}/live/{name}/index.m3u8", "--out", out],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(6)
        for index, mode in enumerate(rounds):
            wait_for("the primary playing", lambda: playing(server) == "primary", 60)
            time.sleep(2)
            follower = Follower(server, f"/live/{name}/360p/index.m3u8")
            lost = time.time()
            primary.send_signal(signal.SIGKILL if mode == "kill" else signal.SIGSTOP)
            switched = None
            for listed, data in follower.parts(lost + 15):
                luma = last_luma(data)
                if luma is not None and luma > 200:
                    switched = listed - lost
                    break
            follower.stop()
            if switched is None:
                raise SystemExit(f"round {index + 1} ({mode}): no backup frame in the playlist within 15 s")
            results[mode].append(switched)
            losses.append((mode, lost))
            log(f"round {index + 1:>2} ({mode}): backup frames listed {switched * 1000:.0f} ms after the primary was lost")
            if mode == "kill":
                primary.wait()
                primary = encoder(url, white=False)
            else:
                primary.send_signal(signal.SIGCONT)
        if player:
            line = ""
            for output in player.stdout or []:
                if output.startswith("{"):
                    line = output
            player.wait()
            figures = json.loads(line) if line else {}
            log(f"hls.js: longest stall {figures.get('longestStallInWindow')} s, stalls {figures.get('stallsInWindow')}, "
                f"fatal {figures.get('fatal')}, part target {figures.get('details', {}).get('partTarget')} s, "
                f"latency p50 {figures.get('latencyMedian')} s, p90 {figures.get('latencyP90')} s")
            # Each round's longest freeze of the playhead, in the 6 s after the primary was lost.
            report = json.load(open(os.path.join(out, "report.json")))
            for mode in ("kill", "stall"):
                worst = 0.0
                for kind, lost in losses:
                    if kind != mode:
                        continue
                    window = [sample for sample in report["samples"] if lost * 1000 <= sample[0] <= lost * 1000 + 6000]
                    worst = max(worst, longest_stall(window))
                log(f"hls.js around the {mode} switches: longest stall {worst:.2f} s")
            player = None
        for mode, values in results.items():
            if values:
                log(f"{mode}: {len(values)} switches, p50 {percentile(values, 50) * 1000:.0f} ms, "
                    f"worst {max(values) * 1000:.0f} ms")
    finally:
        for process in (primary, backup, player):
            if process and process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
        server.stop()


if __name__ == "__main__":
    main()
