"""ops/soak: a long run of ordinary churn against one streamd, watching for slow leaks.

For MINUTES (default 30) it keeps, at once:
  - publishers: ffmpeg encoding a test pattern (testsrc2 640x360 30 fps + sine, x264 veryfast) and
    publishing over RTMP (FLV) and SRT (MPEG-TS), a few channels at once, each in cycles of 20-60 s
    ended in turn by a crash and immediate reconnect (SIGKILL, within the grace window), a clean
    stop, a kick (DELETE /v1/streams/ID) or a key rotation (POST /v1/channels/NAME/key, which kicks
    the publisher of the old key);
  - viewers coming and going on LL-HLS: multivariant playlist, a rendition, its init segment, then
    blocking playlist reloads (_HLS_msn/_HLS_part of the preload hint) and every new part, for
    10-60 s; some leave with a blocked request in flight;
  - chat sockets coming and going: connect with a viewer token, post, read, disconnect (cleanly or
    by dropping the socket), new identities now and then, and one listener that stays.

Every --interval s (default 10) it samples streamd's RSS, open descriptors, threads and PostgreSQL
connections (pg_stat_activity), with what was live, a /healthz time and disk fsync times, into
samples.csv. At the end it prints the curves and fails (exit 1) when any of RSS, descriptors,
threads or PostgreSQL connections keeps growing after warm-up: the least-squares slope over the last
20 minutes (the last two thirds of a run shorter than 30 minutes) above 2 % of the window's mean per
10 minutes.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "abuse.d"))
import harness  # noqa: E402
from harness import log  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
METRICS = [("rss_mib", "RSS MiB"), ("fds", "open fds"), ("threads", "threads"), ("pg_connections", "pg_stat_activity")]


class Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: dict[str, int] = {}

    def add(self, key: str, n: int = 1) -> None:
        with self.lock:
            self.values[key] = self.values.get(key, 0) + n

    def get(self, key: str) -> int:
        with self.lock:
            return self.values.get(key, 0)

    def snapshot(self) -> dict[str, int]:
        with self.lock:
            return dict(self.values)


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.halt = threading.Event()
        self.counters = Counters()
        self.active = Counters()  # gauges: viewers, chat sockets, publishers
        self.out = args.out
        os.makedirs(self.out, exist_ok=True)
        self.threads: list[threading.Thread] = []
        self.publishers: dict[str, subprocess.Popen | None] = {}
        self.keys: dict[str, str] = {}
        self.key_lock = threading.Lock()
        self.fsync: list[tuple[float, float]] = []

    # --- set-up ---------------------------------------------------------------------------------

    def start(self) -> None:
        a = self.args
        self.cluster = harness.Cluster(range(21110, 21199), fast=a.pg_fast)
        self.database = f"soak_{time.strftime('%Y%m%d%H%M%S')}"
        url = self.cluster.create_database(self.database)
        log(f"throwaway PostgreSQL on 127.0.0.1:{self.cluster.port} ({'fsync off' if a.pg_fast else 'durable'}), "
            f"database {self.database}")
        self.server = harness.Streamd(a.binary, url, os.path.join(self.out, "data"), a.port_base,
                                      os.path.join(self.out, "streamd.log"), part_target=a.part_target,
                                      recording=not a.no_recording, env={"STREAMD_LOG_LEVEL": a.log_level})
        log(f"streamd pid {self.server.pid} on HTTP {self.server.http}, RTMP {self.server.rtmp}, SRT {self.server.srt}")
        self.channels: list[tuple[str, str]] = []
        for i in range(a.rtmp):
            self.channels.append((f"soak-rtmp-{i + 1}", "rtmp"))
        for i in range(a.srt):
            self.channels.append((f"soak-srt-{i + 1}", "srt"))
        for index, (name, _) in enumerate(self.channels):
            ladder = harness.PASSTHROUGH_AND_240P if index < a.transcoded else harness.PASSTHROUGH_ONLY
            self.keys[name] = self.server.create_channel(name, ladder)
        described = [f"{n} ({p}{' + 240p rung' if i < a.transcoded else ''})" for i, (n, p) in enumerate(self.channels)]
        log("channels: " + ", ".join(described))

    # --- publishers -----------------------------------------------------------------------------

    def publisher_loop(self, name: str, protocol: str) -> None:
        a = self.args
        rng = random.Random(hash(name))
        logfile = os.path.join(self.out, f"ffmpeg-{name}.log")
        self.halt.wait(rng.uniform(0, 5))
        while not self.halt.is_set():
            with self.key_lock:
                key = self.keys[name]
            url = harness.rtmp_url(self.server, key) if protocol == "rtmp" else harness.srt_url(self.server, key)
            process = harness.publish_testsrc(url, logfile, protocol)
            self.publishers[name] = process
            self.counters.add(f"publish {protocol}")
            until = time.monotonic() + rng.uniform(a.on_min, a.on_max)
            while time.monotonic() < until and process.poll() is None and not self.halt.wait(0.5):
                pass
            if self.halt.is_set():
                break
            if process.poll() is not None:
                # Refused or dropped (an encoder retries, and so does this loop); its log says why.
                self.counters.add(f"publisher exited by itself ({protocol})")
                self.halt.wait(2)
                continue
            action = rng.choices(["restart", "stop", "kick", "rotate"], weights=[3, 2, 3, 2])[0]
            if action == "restart":
                # An encoder crash: the socket drops; the next connection comes within the grace window.
                process.kill()
                process.wait()
                self.counters.add("end: crash + reconnect")
                continue
            if action == "stop":
                harness.stop_process(process, signal.SIGTERM, 10)
                self.counters.add("end: clean stop")
            elif action == "kick":
                status, text = self.server.admin("GET", "/v1/streams", timeout=10)
                ids = [s["id"] for s in json.loads(text).get("streams", [])
                       if s.get("channelName") == name] if status == 200 else []
                if ids:
                    for stream_id in ids:
                        status, _ = self.server.admin("DELETE", f"/v1/streams/{stream_id}?reason=soak", timeout=10)
                        self.counters.add("end: kick" if status == 204 else f"kick answered {status}")
                else:
                    self.counters.add("kick: no live session listed")
                self.wait_exit(process, "kick")
            else:
                status, text = self.server.admin("POST", f"/v1/channels/{name}/key?reason=soak", timeout=10)
                if status in (200, 201):
                    with self.key_lock:
                        self.keys[name] = json.loads(text)["streamKey"]
                    self.counters.add("end: key rotation")
                else:
                    self.counters.add(f"rotation answered {status}")
                self.wait_exit(process, "rotation")
            self.halt.wait(rng.uniform(a.off_min, a.off_max))
        harness.stop_process(self.publishers.get(name), signal.SIGTERM, 10)

    def wait_exit(self, process: subprocess.Popen, why: str) -> None:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            self.counters.add(f"publisher still running 15 s after the {why}")
            process.kill()
            process.wait()

    # --- viewers --------------------------------------------------------------------------------

    def viewer_loop(self, index: int) -> None:
        a = self.args
        rng = random.Random(index * 7919)
        self.halt.wait(rng.uniform(0, 5))
        while not self.halt.is_set():
            channel = rng.choice(self.channels)[0]
            client = harness.KeepAlive(self.server.http, timeout=15)
            self.active.add("viewers")
            try:
                self.watch(client, channel, rng.uniform(a.watch_min, a.watch_max), rng)
            except OSError as error:
                self.counters.add(f"viewer error {type(error).__name__}")
            finally:
                self.active.add("viewers", -1)
                client.close()
            self.halt.wait(rng.uniform(0, 3))

    def watch(self, client: harness.KeepAlive, channel: str, seconds: float, rng: random.Random) -> None:
        status, body = client.get(f"/live/{channel}/index.m3u8")
        if status != 200:
            self.counters.add("viewer: channel not live")
            self.halt.wait(2)
            return
        variants = [line for line in body.decode().splitlines() if line and not line.startswith("#")]
        if not variants:
            return
        rendition = rng.choice(variants).rsplit("/", 1)[0]
        base = f"/live/{channel}/{rendition}/"
        status, body = client.get(base + "index.m3u8")
        if status != 200:
            self.counters.add("viewer: rendition playlist not found")
            return
        text = body.decode()
        self.counters.add("viewer sessions")
        init = [line.split('URI="')[1].split('"')[0] for line in text.splitlines() if line.startswith("#EXT-X-MAP")]
        if init:
            client.get(base + init[0])
        seen = {uri for _, uri in harness.PART_LINE_RE.findall(text)}
        deadline = time.monotonic() + seconds
        abandon = rng.random() < 0.2
        while time.monotonic() < deadline and not self.halt.is_set():
            hint = harness.HINT_RE.search(text)
            if not hint:
                self.halt.wait(0.5)
                status, body = client.get(base + "index.m3u8")
            else:
                status, body = client.get(base + f"index.m3u8?_HLS_msn={hint.group(1)}&_HLS_part={hint.group(2)}")
            self.counters.add("playlist requests")
            if status != 200:
                self.counters.add(f"viewer: playlist {status} (stream ended)")
                return
            text = body.decode()
            for _, uri in harness.PART_LINE_RE.findall(text):
                if uri not in seen:
                    seen.add(uri)
                    status, data = client.get(base + uri)
                    self.counters.add("parts fetched" if status == 200 else f"part {status}")
                    self.counters.add("bytes fetched", len(data))
        if abandon:
            self.abandon(base, text)

    def abandon(self, base: str, text: str) -> None:
        """Leaves with a blocked request in flight: asks for a part two segments ahead, then drops the socket."""
        hint = harness.HINT_RE.search(text)
        if not hint:
            return
        try:
            with socket.create_connection(("127.0.0.1", self.server.http), timeout=5) as sock:
                sock.sendall(f"GET {base}index.m3u8?_HLS_msn={int(hint.group(1)) + 2}&_HLS_part=0 HTTP/1.1\r\n"
                             f"Host: 127.0.0.1\r\n\r\n".encode())
                time.sleep(1)
            self.counters.add("viewers left with a blocked request")
        except OSError:
            pass

    # --- chat -----------------------------------------------------------------------------------

    def chat_loop(self, index: int) -> None:
        rng = random.Random(index * 104729)
        self.halt.wait(rng.uniform(0, 5))
        identity = None
        cycles = 0
        while not self.halt.is_set():
            try:
                if identity is None or cycles % 10 == 0:
                    identity = harness.register_viewer(self.server.http, harness.unique_name(f"soak{index}-"))
                    self.counters.add("chat identities")
                cycles += 1
                channel = rng.choice(self.channels)[0]
                chat = harness.ChatClient(self.server.http, channel, identity["token"])
                self.active.add("chat sockets")
                try:
                    chat.read(1)
                    for _ in range(rng.randint(1, 3)):
                        chat.send({"type": "send", "text": f"soak {index} {cycles} {rng.random():.6f}",
                                   "nonce": str(cycles)})
                        self.counters.add("chat posts")
                        for message in chat.read(2):
                            kind = message.get("type")
                            if kind == "ack":
                                self.counters.add("chat acks")
                            elif kind == "error":
                                self.counters.add(f"chat error {message.get('code')}")
                            elif kind in ("close", "eof"):
                                self.counters.add(f"chat closed by server {message.get('code', '')}".strip())
                        self.halt.wait(rng.uniform(0.8, 2.0))
                    if rng.random() < 0.5:
                        chat.close()
                    else:
                        chat.sock.close()  # the client just goes away
                finally:
                    self.active.add("chat sockets", -1)
            except (OSError, RuntimeError, ConnectionError) as error:
                self.counters.add(f"chat error {type(error).__name__}")
                self.halt.wait(1)
            self.halt.wait(rng.uniform(0, 2))

    def chat_listener(self) -> None:
        while not self.halt.is_set():
            try:
                chat = harness.ChatClient(self.server.http, self.channels[0][0], None)
                self.active.add("chat sockets")
                try:
                    while not self.halt.is_set():
                        for message in chat.read(5):
                            if message.get("type") == "message":
                                self.counters.add("chat messages seen by the listener")
                            elif message.get("type") in ("close", "eof"):
                                raise ConnectionError(f"{message['type']} {message.get('code', '')}".strip())
                finally:
                    self.active.add("chat sockets", -1)
                    chat.sock.close()
            except (OSError, ConnectionError) as error:
                self.counters.add(f"listener reconnects ({error})")
                self.halt.wait(1)

    # --- measurement ----------------------------------------------------------------------------

    def fsync_probe(self) -> None:
        """An 8 KiB write + fdatasync every second beside the output files: the disk's flush stalls."""
        path = os.path.join(self.out, "fsync-probe")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        block = os.urandom(8192)
        try:
            while not self.halt.is_set():
                os.pwrite(fd, block, 0)
                started = time.monotonic()
                os.fdatasync(fd)
                self.fsync.append((started, time.monotonic() - started))
                self.halt.wait(1)
        finally:
            os.close(fd)
            os.unlink(path)

    def sample(self, writer: csv.writer, started: float, previous: float | None) -> dict:
        now = self.sampled_at = time.monotonic()
        stats = harness.proc_stats(self.server.pid)
        if stats is None:
            raise RuntimeError("streamd is gone")
        began = time.monotonic()
        try:
            pg_total, pg_streamd = self.cluster.connections(self.database)
        except (RuntimeError, subprocess.TimeoutExpired):
            pg_total = pg_streamd = -1
        psql_ms = (time.monotonic() - began) * 1000
        status, text = self.server.admin("GET", "/v1/streams", timeout=10)
        live = len(json.loads(text).get("streams", [])) if status == 200 else -1
        health, _, health_seconds = harness.http_request(self.server.http, "GET", "/healthz", timeout=10)
        flushes = [d for t, d in self.fsync if previous is None or t >= previous]
        row = {
            "elapsed_s": round(now - started, 1), "time": time.strftime("%H:%M:%S"),
            "interval_s": round(now - previous, 2) if previous else 0.0,  # start to start
            "rss_mib": round(stats["rss_kib"] / 1024, 1), "fds": stats["fds"], "threads": stats["threads"],
            "pg_connections": pg_total, "pg_streamd": pg_streamd, "live_streams": live,
            "viewers": self.active.get("viewers"), "chat_sockets": self.active.get("chat sockets"),
            "healthz_ms": round(health_seconds * 1000, 1) if health == 200 else -1, "psql_ms": round(psql_ms, 1),
            "fsync_max_ms": round(max(flushes) * 1000, 1) if flushes else 0.0,
            "cpu_s": round(harness.cpu_seconds(self.server.pid), 1),
        }
        writer.writerow(row)
        return row

    def run(self) -> int:
        a = self.args
        for name, protocol in self.channels:
            self.threads.append(threading.Thread(target=self.publisher_loop, args=(name, protocol), daemon=True))
        for i in range(a.viewers):
            self.threads.append(threading.Thread(target=self.viewer_loop, args=(i,), daemon=True))
        for i in range(a.chatters):
            self.threads.append(threading.Thread(target=self.chat_loop, args=(i,), daemon=True))
        self.threads.append(threading.Thread(target=self.chat_listener, daemon=True))
        self.threads.append(threading.Thread(target=self.fsync_probe, daemon=True))
        for thread in self.threads:
            thread.start()
        rows: list[dict] = []
        started = time.monotonic()
        deadline = started + a.minutes * 60
        crashed = None
        csv_path = os.path.join(self.out, "samples.csv")
        with open(csv_path, "w", newline="") as f:
            fields = ["elapsed_s", "time", "interval_s", "rss_mib", "fds", "threads", "pg_connections", "pg_streamd",
                      "live_streams", "viewers", "chat_sockets", "healthz_ms", "psql_ms", "fsync_max_ms", "cpu_s"]
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            previous = None
            next_at = started
            while True:
                if not self.server.alive():
                    crashed = f"after {time.monotonic() - started:.0f} s: {self.server.crash_summary()}"
                    break
                try:
                    row = self.sample(writer, started, previous)
                except RuntimeError as error:
                    crashed = f"{error}"
                    break
                f.flush()
                previous = self.sampled_at
                rows.append(row)
                if len(rows) % 6 == 1:
                    log(f"t={row['elapsed_s'] / 60:5.1f} min  RSS {row['rss_mib']} MiB  fds {row['fds']}  threads "
                        f"{row['threads']}  pg {row['pg_connections']} ({row['pg_streamd']} streamd)  live {row['live_streams']}  "
                        f"viewers {row['viewers']}  chat {row['chat_sockets']}")
                next_at += a.interval
                if next_at >= deadline + 0.5:
                    break
                self.halt.wait(max(0.0, next_at - time.monotonic()))
        self.halt.set()
        for thread in self.threads:
            thread.join(20)
        code = self.server.stop()
        log(f"streamd stopped with status {code}; samples in {csv_path}")
        return self.report(rows, crashed, code)

    # --- report ---------------------------------------------------------------------------------

    def report(self, rows: list[dict], crashed: str | None, code: int | None) -> int:
        a = self.args
        lines: list[str] = []

        def say(text: str = "") -> None:
            lines.append(text)
            print(text, flush=True)

        say()
        say(f"soak: {a.minutes:g} min requested, {rows[-1]['elapsed_s'] / 60 if rows else 0:.1f} min sampled "
            f"every {a.interval:g} s ({len(rows)} samples); {len(self.channels)} channels "
            f"({a.rtmp} RTMP, {a.srt} SRT), {a.viewers} viewer loops, {a.chatters} chat loops")
        failures: list[str] = []
        if crashed:
            failures.append(crashed)
            say(f"FAIL: {crashed}")
            say(self.server.log_tail(20))
        if len(rows) >= 4:
            say()
            say(table(rows))
            say()
            for key, label in METRICS + [("pg_streamd", "pg (streamd's)")]:
                say(f"{label:>18} {sparkline([r[key] for r in rows])}  {min(r[key] for r in rows)}..{max(r[key] for r in rows)}")
            say()
            total = rows[-1]["elapsed_s"]
            window_s = 20 * 60 if total >= 30 * 60 else total * 2 / 3
            window = [r for r in rows if r["elapsed_s"] >= total - window_s]
            say(f"growth after warm-up: least-squares slope over the last {window_s / 60:.1f} min ({len(window)} samples), "
                f"bound 2 % of the mean per 10 min")
            for key, label in METRICS:
                xs = [r["elapsed_s"] for r in window]
                ys = [float(r[key]) for r in window]
                slope = least_squares(xs, ys)
                mean = sum(ys) / len(ys)
                relative = slope * 600 / mean * 100 if mean else 0.0
                verdict = "FAIL" if relative > 2.0 else "PASS"
                if verdict == "FAIL":
                    failures.append(f"{label} grows {relative:.1f} % of its mean per 10 min")
                say(f"  [{verdict}] {label:<17} mean {mean:9.1f}  slope {slope * 600:+9.2f} per 10 min = {relative:+6.2f} %")
            if window_s < 10 * 60:
                say(f"  (a {window_s / 60:.1f}-minute window of {len(window)} samples is mostly warm-up and noise: "
                    f"a run this short says little about leaks; the rule is meant for 30 minutes or more)")
        else:
            failures.append("too few samples")
            say("FAIL: too few samples to judge growth")
        say()
        intervals = [r["interval_s"] for r in rows[1:]]
        flushes = [d for _, d in self.fsync]
        healthz = [r["healthz_ms"] for r in rows if r["healthz_ms"] >= 0]
        say("stalls: sample interval max "
            f"{max(intervals) if intervals else 0:.2f} s (target {a.interval:g} s); psql sample max "
            f"{max(r['psql_ms'] for r in rows) if rows else 0:.0f} ms; /healthz max {max(healthz) if healthz else 0:.0f} ms, "
            f"{sum(1 for r in rows if r['healthz_ms'] < 0)} failed; fdatasync of 8 KiB every 1 s: {len(flushes)} flushes, "
            f"p50 {harness.percentile(flushes, 50) * 1000:.0f} ms, max {max(flushes) * 1000 if flushes else 0:.0f} ms, "
            f"{sum(1 for d in flushes if d > 0.1)} over 100 ms")
        say("activity: " + ", ".join(f"{k} {v}" for k, v in sorted(self.counters.snapshot().items())))
        say(f"streamd exit status at the end: {code}")
        say()
        if failures:
            say("SOAK FAILED: " + "; ".join(failures))
        else:
            say("SOAK PASSED: no metric kept growing after warm-up")
        with open(os.path.join(self.out, "report.txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        return 1 if failures else 0

    def stop(self) -> None:
        self.halt.set()
        for name, process in self.publishers.items():
            harness.stop_process(process)
        if hasattr(self, "server"):
            self.server.stop()
        if hasattr(self, "cluster"):
            self.cluster.stop()


def least_squares(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    denominator = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / denominator if denominator else 0.0


def sparkline(values: list[float], width: int = 60) -> str:
    if not values:
        return ""
    if len(values) > width:  # average into `width` buckets
        step = len(values) / width
        values = [sum(values[int(i * step):int((i + 1) * step)]) / max(1, int((i + 1) * step) - int(i * step))
                  for i in range(width)]
    low, high = min(values), max(values)
    bars = "▁▂▃▄▅▆▇█"
    if high == low:
        return bars[3] * len(values)
    return "".join(bars[min(7, int((v - low) / (high - low) * 8))] for v in values)


def table(rows: list[dict], max_rows: int = 20) -> str:
    step = max(1, -(-len(rows) // max_rows))
    picked = rows[::step]
    if picked[-1] is not rows[-1]:
        picked.append(rows[-1])
    header = (f"{'min':>5} {'RSS MiB':>8} {'fds':>5} {'thr':>4} {'pg':>4} {'pg sd':>5} {'live':>4} {'view':>4} "
              f"{'chat':>4} {'healthz':>8} {'interval':>8} {'fsync max':>9}")
    out = [header]
    for r in picked:
        out.append(f"{r['elapsed_s'] / 60:5.1f} {r['rss_mib']:8.1f} {r['fds']:5d} {r['threads']:4d} {r['pg_connections']:4d} "
                   f"{r['pg_streamd']:5d} {r['live_streams']:4d} {r['viewers']:4d} {r['chat_sockets']:4d} "
                   f"{r['healthz_ms']:6.1f}ms {r['interval_s']:7.2f}s {r['fsync_max_ms']:7.0f}ms")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(prog="ops/soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("minutes", nargs="?", type=float, default=30)
    parser.add_argument("--out", default=os.environ.get("OUT") or os.path.join(HERE, "out", time.strftime("%Y%m%d-%H%M%S")))
    parser.add_argument("--interval", type=float, default=10, help="seconds between samples (default 10)")
    parser.add_argument("--rtmp", type=int, default=2, help="RTMP publishers (default 2)")
    parser.add_argument("--srt", type=int, default=1, help="SRT publishers (default 1)")
    parser.add_argument("--transcoded", type=int, default=1, help="channels that also encode a 240p rung (default 1)")
    parser.add_argument("--viewers", type=int, default=6, help="LL-HLS viewer loops (default 6)")
    parser.add_argument("--chatters", type=int, default=3, help="chat socket loops (default 3)")
    parser.add_argument("--on-min", type=float, default=20, help="a publish lasts at least (s)")
    parser.add_argument("--on-max", type=float, default=60, help="a publish lasts at most (s)")
    parser.add_argument("--off-min", type=float, default=2, help="pause after an end, at least (s)")
    parser.add_argument("--off-max", type=float, default=8, help="pause after an end, at most (s)")
    parser.add_argument("--watch-min", type=float, default=10, help="a viewer stays at least (s)")
    parser.add_argument("--watch-max", type=float, default=60, help="a viewer stays at most (s)")
    parser.add_argument("--port-base", type=int, default=21100, help="streamd's HTTP port; RTMP +1, SRT +2 (default 21100)")
    parser.add_argument("--part-target", type=float, default=0.5)
    parser.add_argument("--no-recording", action="store_true", help="streamd --recording false (default: recordings on)")
    parser.add_argument("--pg-fast", action="store_true", help="PostgreSQL with fsync off (default: durable)")
    parser.add_argument("--log-level", default="info", help="STREAMD_LOG_LEVEL (default info)")
    args = parser.parse_args()
    args.binary = harness.find_streamd()
    harness.raise_nofile()
    log(f"ops/soak: {args.minutes:g} min; streamd {args.binary}; output {args.out}; machine {os.cpu_count()} cores, "
        f"load {open('/proc/loadavg').read().split()[:3]}")
    soak = Soak(args)

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    code = 1
    try:
        soak.start()
        code = soak.run()
    except KeyboardInterrupt:
        log("interrupted")
    finally:
        soak.stop()
    sys.exit(code)


if __name__ == "__main__":
    main()
