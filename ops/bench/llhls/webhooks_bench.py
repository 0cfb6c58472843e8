#!/usr/bin/env python3
"""Webhook delivery (issue 25): a release `streamd serve` on a scratch database, 100 events/s
appended through the API (50 channels/s: ChannelCreated and StreamKeyIssued each), in rounds of a
phase with no subscription and a phase with one to both types at a local receiver (the order
swapped every other round). Latency: receipt minus the event's recorded time (the payload's
`timestamp`, same clock), p50 and p99. CPU: the streamd process's user+system time over each
phase, so with minus without is what delivering costs, per round, then mean and median; and the
CPU of the dispatcher's own thread (`NIO-HOOK-`).

Usage: webhooks_bench.py --streamd BIN --database-url URL [--seconds 20] [--rounds 4]"""

from __future__ import annotations

import argparse
import datetime
import http.client
import http.server
import json
import os
import statistics
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


def thread_cpu(pid: int, prefix: str) -> tuple[float, float]:
    """User and system CPU seconds of the threads of `pid` whose names start with `prefix`."""
    user = system = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            stat = open(f"/proc/{pid}/task/{task}/stat").read()
        except OSError:
            continue
        name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat.rsplit(")", 1)[1].split()
        if name.startswith(prefix):
            user, system = user + int(fields[11]), system + int(fields[12])
    return user / os.sysconf("SC_CLK_TCK"), system / os.sysconf("SC_CLK_TCK")


def load(server: Streamd, seconds: float, prefix: str) -> tuple[float, int]:
    """50 channels a second for `seconds` over one keep-alive connection (a new connection per
    request made streamd's own share noisier than the figure sought); returns the streamd CPU used
    (% of one core) and the count."""
    connection = http.client.HTTPConnection(server.base.split("//", 1)[1], timeout=30)
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    before, start = cpu_seconds(server.pid), time.monotonic()
    made = 0
    while time.monotonic() - start < seconds:
        due = start + made / 50
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
        connection.request("POST", "/v1/channels", json.dumps({"name": f"{prefix}{made}"}), headers)
        reply = connection.getresponse()
        text = reply.read().decode()
        if reply.status != 201:
            raise SystemExit(f"creating a channel: {reply.status} {text}")
        made += 1
    connection.close()
    elapsed = time.monotonic() - start
    return (cpu_seconds(server.pid) - before) / elapsed * 100, made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streamd", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    os.makedirs(WORK, exist_ok=True)
    port = free_port()
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", port), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    server = Streamd(args.streamd, None, os.path.join(WORK, "webhooks-node"), extra=["--database-url", args.database_url])
    tag = uuid.uuid4().hex[:6]
    added: list[float] = []
    own: list[float] = []
    kernel: list[float] = []
    try:
        # Alternated rounds, the order swapped every other round (without-with, with-without, …):
        # streamd's CPU for the same load creeps up as the database grows, which would otherwise
        # land on the second phase of every round.
        subscribed = None

        def subscribe() -> str:
            status, text = server.admin("POST", "/v1/webhooks", {"url": f"http://127.0.0.1:{port}/", "events": ["ChannelCreated", "StreamKeyIssued"]})
            if status != 201:
                raise SystemExit(f"subscribing: {status} {text}")
            time.sleep(2)
            return json.loads(text)["id"]

        def unsubscribe(hook: str) -> None:
            status, text = server.admin("DELETE", f"/v1/webhooks/{hook}")
            if status != 204:
                raise SystemExit(f"unsubscribing: {status} {text}")
            time.sleep(2)

        for round in range(1, args.rounds + 1):
            cpu = {}
            for phase in (["without", "with"] if round % 2 else ["with", "without"]):
                if phase == "with" and subscribed is None:
                    subscribed = subscribe()
                if phase == "without" and subscribed is not None:
                    unsubscribe(subscribed)
                    subscribed = None
                before, (user_before, system_before), started = len(latencies), thread_cpu(server.pid, "NIO-HOOK-"), time.monotonic()
                cpu[phase], made = load(server, args.seconds, f"{'b' if phase == 'with' else 'a'}{round}{tag}-")
                loaded = time.monotonic() - started
                time.sleep(2)
                if phase == "with":
                    # Over the load and the 2 s after it (the last deliveries, then idle looks at
                    # the log), per second of load: a little more than the rate's own share.
                    user, system = thread_cpu(server.pid, "NIO-HOOK-")
                    own.append((user + system - user_before - system_before) / loaded * 100)
                    kernel.append((system - system_before) / loaded * 100)
                delivered = (f"; {len(latencies) - before} delivered, its own thread {own[-1]:.2f} % of a core "
                             f"({kernel[-1]:.2f} in the kernel)") if phase == "with" else ""
                log(f"round {round} {phase} a subscription: {made} channels ({2 * made} events), streamd {cpu[phase]:.1f} % of a core{delivered}")
            added.append(cpu["with"] - cpu["without"])
            log(f"round {round}: the dispatcher added {added[-1]:+.1f} % of a core")
        spread = f" ± {statistics.stdev(added) / len(added) ** 0.5:.2f} (standard error)" if len(added) > 1 else ""
        log(f"append to receipt: p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, "
            f"max {max(latencies):.1f} ms over {len(latencies)} deliveries; the dispatcher added "
            f"{statistics.mean(added):+.2f}{spread} % of a core on average, median {statistics.median(added):+.2f} "
            f"({', '.join(f'{a:+.1f}' for a in added)}); the dispatcher's own thread {statistics.mean(own):.2f} % of a core "
            f"({', '.join(f'{o:.2f}' for o in own)}), {statistics.mean(kernel):.2f} of it in the kernel")
    finally:
        server.stop()
        receiver.shutdown()


if __name__ == "__main__":
    main()
