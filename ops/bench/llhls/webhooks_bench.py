#!/usr/bin/env python3
"""Webhook delivery (issue 25): a release `streamd serve` on a scratch database, 100 events/s
appended through the API (50 channels/s: ChannelCreated and StreamKeyIssued each), first with no
subscription, then with one to both types at a local receiver. Latency: receipt minus the event's
recorded time (the payload's `timestamp`, same clock), p50 and p99; CPU: the streamd process's
user+system time over each phase, so the second minus the first is what delivering costs.

Usage: webhooks_bench.py --streamd BIN --database-url URL [--seconds 30]"""

from __future__ import annotations

import argparse
import datetime
import http.server
import json
import os
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import WORK, Streamd, free_port, log, percentile  # noqa: E402

latencies: list[float] = []


class Receiver(http.server.BaseHTTPRequestHandler):
    # Keep-alive, as a real receiver (nginx, any framework) answers: one connection for many deliveries.
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        now = time.time()
        stamp = json.loads(body)["timestamp"]
        recorded = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
        latencies.append((now - recorded) * 1000)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load(server: Streamd, seconds: float, prefix: str) -> tuple[float, int]:
    """50 channels a second for `seconds`; returns the streamd CPU used (% of one core) and the count."""
    before, start = cpu_seconds(server.pid), time.monotonic()
    made = 0
    while time.monotonic() - start < seconds:
        due = start + made / 50
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
        status, text = server.admin("POST", "/v1/channels", {"name": f"{prefix}{made}"})
        if status != 201:
            raise SystemExit(f"creating a channel: {status} {text}")
        made += 1
    elapsed = time.monotonic() - start
    return (cpu_seconds(server.pid) - before) / elapsed * 100, made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streamd", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    port = free_port()
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    server = Streamd(args.streamd, None, os.path.join(WORK, "webhooks-node"), extra=["--database-url", args.database_url])
    tag = uuid.uuid4().hex[:6]
    try:
        idle_cpu, made = load(server, args.seconds, f"a{tag}-")
        log(f"without a subscription: {made} channels ({2 * made} events), streamd {idle_cpu:.1f} % of a core")
        status, text = server.admin("POST", "/v1/webhooks", {"url": f"http://127.0.0.1:{port}/", "events": ["ChannelCreated", "StreamKeyIssued"]})
        if status != 201:
            raise SystemExit(f"subscribing: {status} {text}")
        time.sleep(2)
        busy_cpu, made = load(server, args.seconds, f"b{tag}-")
        time.sleep(2)
        log(f"with one subscription: {made} channels ({2 * made} events), streamd {busy_cpu:.1f} % of a core; "
            f"{len(latencies)} delivered")
        log(f"append to receipt: p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, "
            f"max {max(latencies):.1f} ms; the dispatcher added {busy_cpu - idle_cpu:+.1f} % of a core")
    finally:
        server.stop()
        receiver.shutdown()


if __name__ == "__main__":
    main()
