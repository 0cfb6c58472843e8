#!/usr/bin/env python3
"""What a proxying node costs (issue 24): two `streamd serve` nodes on one PostgreSQL, a live
publish to node A.

1. Latency: the same blocking reload for the next part (the playlist's preload hint) sent to A
   and, through its proxy, to B at the same moment; for each part, B's answer time minus A's is
   the extra hop; p50, p90 and the worst over --samples parts.
2. Delivery: wrk (64 connections, --seconds) on the newest complete part, from A and through B;
   requests/s side by side.

Usage: cluster_proxy.py --streamd BIN --database-url URL [--samples N] [--seconds S]"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
import urllib.request
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import WORK, Streamd, log, make_input, percentile, publish, stop  # noqa: E402
from delivery import wrk  # noqa: E402

HINT = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s(\d+)\.p(\d+)\.m4s"')


def fetch(url: str) -> tuple[int, bytes, float]:
    with urllib.request.urlopen(url, timeout=30) as reply:
        body = reply.read()
        return reply.status, body, time.monotonic()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streamd", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seconds", type=int, default=8, help="seconds per wrk run (parts stay about 10 s)")
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    extra = ["--database-url", args.database_url, "--node-lease-seconds", "15"]
    a = Streamd(args.streamd, None, os.path.join(WORK, "node-a"), extra=extra)
    b = Streamd(args.streamd, None, os.path.join(WORK, "node-b"), extra=extra)
    channel = "proxy" + uuid.uuid4().hex[:6]
    source = make_input("cluster-720p.flv", "1280x720", "3000k", 240)
    key = a.channel(channel, None)
    ffmpeg = publish(source, f"rtmp://127.0.0.1:{a.rtmp}/live/{key}", os.path.join(WORK, "cluster-ffmpeg.log"))
    try:
        rendition = None
        deadline = time.monotonic() + 60
        while rendition is None:
            if time.monotonic() > deadline:
                raise SystemExit("the channel did not go live on node A within 60 s")
            try:
                status, body, _ = fetch(f"{b.base}/live/{channel}/index.m3u8")
                if status == 200:
                    rendition = next(line.split("/")[0] for line in body.decode().splitlines() if line.endswith("index.m3u8"))
            except OSError:
                time.sleep(0.5)
        log(f"live on node A, proxied by node B; rendition {rendition}")
        deltas: list[float] = []
        while len(deltas) < args.samples:
            _, body, _ = fetch(f"{a.base}/live/{channel}/{rendition}/index.m3u8")
            hint = HINT.search(body.decode())
            if not hint:
                time.sleep(0.1)
                continue
            query = f"/live/{channel}/{rendition}/index.m3u8?_HLS_msn={hint.group(1)}&_HLS_part={hint.group(2)}"
            results: dict[str, float] = {}

            def get(name: str, base: str) -> None:
                try:
                    results[name] = fetch(base + query)[2]
                except OSError:
                    pass

            threads = [threading.Thread(target=get, args=(name, base)) for name, base in (("a", a.base), ("b", b.base))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if "a" in results and "b" in results:
                deltas.append((results["b"] - results["a"]) * 1000)
        log(f"{len(deltas)} parts: B after A by p50 {percentile(deltas, 50):.1f} ms, p90 {percentile(deltas, 90):.1f} ms, "
            f"max {max(deltas):.1f} ms (min {min(deltas):.1f} ms)")

        def newest_part() -> str:
            # A part of the newest complete segment: it stays listed (and served) for a few segments.
            _, body, _ = fetch(f"{a.base}/live/{channel}/{rendition}/index.m3u8")
            parts = re.findall(r'#EXT-X-PART:[^\n]*URI="([^"]+)"', body.decode())
            return f"/live/{channel}/{rendition}/{parts[-2]}"

        part = newest_part()
        direct = wrk(a.base + part, args.seconds, 64)
        part = newest_part()
        proxied = wrk(b.base + part, args.seconds, 64)
        log(f"a part: {direct[0]:.0f} requests/s from A ({direct[1]:.1f} MB/s) {direct[2]}, "
            f"{proxied[0]:.0f} through B ({proxied[1]:.1f} MB/s) {proxied[2]}: {proxied[0] / max(direct[0], 1):.2f} of A's")
    finally:
        stop(ffmpeg)
        b.stop()
        a.stop()


if __name__ == "__main__":
    main()
