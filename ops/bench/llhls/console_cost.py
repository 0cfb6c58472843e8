"""What the console costs a node (issue "the operator's console"): streamd's CPU while it carries
one live 1080p ladder, side by side without and with 20 open dashboards (the Server-Sent Events
feed of /v1/dashboard/live/events) and /metrics scraped every second. Alternates the two
conditions in rounds so drift (the disk, the publisher) hits both alike.

CPU is streamd's own (utime + stime from /proc/PID/stat) over each window, in percent of one core
and of the machine. Python 3.11 standard library only."""

from __future__ import annotations

import argparse
import http.client
import os
import shutil
import threading
import time

import common
from common import log


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Dashboards:
    """`count` SSE readers of the live feed and a /metrics scraper, until stopped."""

    def __init__(self, server: common.Streamd, count: int) -> None:
        self.server, self.count = server, count
        self.stopping = threading.Event()
        self.events = 0
        self.scrapes = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.reader, daemon=True) for _ in range(count)]
        self.threads.append(threading.Thread(target=self.scraper, daemon=True))

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(10)

    def reader(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.server.http, timeout=2)
        connection.request("GET", "/v1/dashboard/live/events", headers={"Authorization": f"Bearer {self.server.token}"})
        reply = connection.getresponse()
        while not self.stopping.is_set():
            try:
                line = reply.fp.readline()
            except TimeoutError:
                continue
            if line.startswith(b"event: live"):
                with self.lock:
                    self.events += 1
        connection.close()

    def scraper(self) -> None:
        while not self.stopping.is_set():
            started = time.monotonic()
            connection = http.client.HTTPConnection("127.0.0.1", self.server.http, timeout=5)
            connection.request("GET", "/metrics")
            connection.getresponse().read()
            connection.close()
            with self.lock:
                self.scrapes += 1
            self.stopping.wait(max(0.0, 1.0 - (time.monotonic() - started)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--binary", required=True)
    parser.add_argument("--window", type=float, default=30, help="seconds per measured window")
    parser.add_argument("--rounds", type=int, default=3, help="windows per condition, alternating")
    parser.add_argument("--dashboards", type=int, default=20)
    args = parser.parse_args()

    source = common.make_input("console-1080p.flv", "1920x1080", "5000k", 240)
    data_dir = os.path.join(common.WORK, "console-data")
    shutil.rmtree(data_dir, ignore_errors=True)
    server = common.Streamd(args.binary, 0.5, data_dir)
    publisher = None
    try:
        key = server.channel("cost", common.ladder(
            common.rung("720p", 720, 2_500_000), common.rung("480p", 480, 1_200_000), common.rung("360p", 360, 700_000)))
        publisher = common.publish(source, f"rtmp://127.0.0.1:{server.rtmp}/live/{key}", os.path.join(common.WORK, "console-publish.log"))
        log("publishing 1080p (passthrough + 720p, 480p, 360p encoded); warming up 20 s")
        time.sleep(20)
        cores = os.cpu_count() or 1
        results: dict[str, list[float]] = {"without": [], "with": []}
        delivered = []
        for round_index in range(args.rounds):
            for condition in ("without", "with"):
                dashboards = Dashboards(server, args.dashboards) if condition == "with" else None
                if dashboards:
                    dashboards.start()
                    time.sleep(2)
                before, started = cpu_seconds(server.pid), time.monotonic()
                time.sleep(args.window)
                used = cpu_seconds(server.pid) - before
                elapsed = time.monotonic() - started
                if dashboards:
                    dashboards.stop()
                    delivered.append((dashboards.events, dashboards.scrapes))
                percent = used / elapsed * 100
                results[condition].append(percent)
                log(f"round {round_index + 1} {condition:>7}: streamd {percent:6.1f} % of one core"
                    + (f" ({dashboards.events} feed events to {args.dashboards} dashboards, {dashboards.scrapes} scrapes)" if dashboards else ""))
        without = sum(results["without"]) / len(results["without"])
        with_ = sum(results["with"]) / len(results["with"])
        log("")
        log(f"streamd CPU, mean of {args.rounds} windows of {args.window:.0f} s each, {cores} cores:")
        log(f"  without the console: {without:6.1f} % of one core ({without / cores:5.1f} % of the machine)")
        log(f"  with {args.dashboards} dashboards + /metrics each 1 s: {with_:6.1f} % of one core ({with_ / cores:5.1f} % of the machine)")
        log(f"  difference: {with_ - without:+.1f} % of one core = {(with_ - without) / cores:+.2f} % of the machine"
            f" = {(with_ - without) / without * 100:+.1f} % of streamd's own CPU (bound: 3 %)")
    finally:
        common.stop(publisher)
        server.stop()


if __name__ == "__main__":
    main()
