"""ops/abuse: hostile-client scenarios against a real streamd, with real sockets and real clients.

Each scenario starts a fresh `streamd serve` (its own database on one throwaway PostgreSQL
cluster, its own data folder), drives the abuse from child processes (ops/abuse.d/attackers.py)
while the parent measures, prints the bounds it checks with the figures and PASS/FAIL, and stops
the server. The exit status is 1 when any check failed.

Scenarios (default: all, in this order):
  rtmp-play-flood  50 RTMP sockets: handshake, then `connect` + `play` at full speed, never reading;
                   one ffmpeg publishes meanwhile
  idle-hold        streamd under a soft open-file limit of 1024; 6,000 idle HTTP and 2,000 idle RTMP
                   connections from 127.0.0.2-254, held (and replaced when closed)
  log-growth       from one address: 10,000 POST /v1/viewers, 10,000 bad-key RTMP publishes,
                   10,000 chat posts by a banned viewer; rows added to `events`
  public-routes    2,000 concurrent connections asking for random /vod/UUID/index.m3u8 and chat
                   history while the admin lists channels
  oversized-amf    an 8 MiB AMF0 `connect` of nulls
  slowloris        HTTP request heads dribbled a byte every 3 s
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import log, ms, percentile  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MIB = 1024 * 1024


class Result:
    def __init__(self, name: str) -> None:
        self.name = name
        self.checks: list[tuple[str, str, str]] = []  # (bound, measured, verdict)
        self.notes: list[str] = []

    def check(self, bound: str, measured: str, passed: bool | None) -> None:
        verdict = "n/a" if passed is None else ("PASS" if passed else "FAIL")
        self.checks.append((bound, measured, verdict))
        log(f"  [{verdict}] {bound}: {measured}")

    def note(self, text: str) -> None:
        self.notes.append(text)
        log(f"  {text}")

    @property
    def failed(self) -> bool:
        return any(v == "FAIL" for _, _, v in self.checks)


class Attacker:
    """A child process running one mode of attackers.py; its progress goes to our stderr."""

    def __init__(self, mode: str, spec: dict, directory: str, tag: str) -> None:
        self.path = os.path.join(directory, f"attacker-{tag}.json")
        self.process = subprocess.Popen([sys.executable, os.path.join(HERE, "attackers.py"), mode, json.dumps(spec)],
                                        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)

    def result(self, timeout: float) -> dict:
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
            raise SystemExit(f"an attacker did not finish within {timeout:.0f} s")
        if self.process.returncode != 0:
            raise SystemExit(f"an attacker failed with status {self.process.returncode}")
        result = json.loads(out)
        with open(self.path, "w") as f:
            json.dump(result, f)
        return result

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class Context:
    def __init__(self, args: argparse.Namespace, binary: str, cluster: harness.Cluster, out: str) -> None:
        self.args, self.binary, self.cluster, self.out = args, binary, cluster, out
        self.stamp = time.strftime("%Y%m%d%H%M%S")
        self.cleanup: list = []
        self.servers: list[harness.Streamd] = []
        self.input: str | None = None

    def seconds(self, default: float) -> float:
        return float(self.args.seconds) if self.args.seconds else default

    def scaled(self, value: int) -> int:
        return max(1, int(round(value * self.args.scale)))

    def directory(self, scenario: str) -> str:
        path = os.path.join(self.out, scenario)
        os.makedirs(path, exist_ok=True)
        return path

    def server(self, scenario: str, **options) -> tuple[harness.Streamd, str]:
        database = f"abuse_{scenario.replace('-', '_')}_{self.stamp}"
        url = self.cluster.create_database(database)
        directory = self.directory(scenario)
        server = harness.Streamd(self.binary, url, os.path.join(directory, "data"), self.args.port_base,
                                 os.path.join(directory, "streamd.log"), part_target=self.args.part_target, **options)
        self.cleanup.append(server.stop)
        self.servers.append(server)
        log(f"  streamd pid {server.pid} on HTTP {server.http}, RTMP {server.rtmp}, SRT {server.srt}; "
            f"database {database}; open files {harness.nofile_limits(server.pid)}")
        return server, database

    def live_channel(self, server: harness.Streamd, scenario: str, name: str) -> tuple[harness.PartTracker, object]:
        """A channel with one ffmpeg publishing a looped pre-encoded file, and a part tracker on it."""
        if self.input is None:
            self.input = harness.make_input(os.path.join(HERE, "out", "inputs"))
        key = server.create_channel(name, harness.PASSTHROUGH_ONLY)
        publisher = harness.publish_file(self.input, harness.rtmp_url(server, key),
                                         os.path.join(self.directory(scenario), f"ffmpeg-{name}.log"))
        self.cleanup.append(lambda: harness.stop_process(publisher))
        if not harness.wait_for_playlist(server.http, name, 60):
            if not server.alive():
                raise SystemExit(f"{server.crash_summary()} when ffmpeg started publishing to {name}; see {server.logfile}")
            raise SystemExit(f"channel {name} has no parts after 60 s; see {server.logfile}")
        tracker = harness.PartTracker(server.http, name)
        tracker.start()
        self.cleanup.append(tracker.stop)
        if not tracker.wait_for_parts(4, 30):
            raise SystemExit(f"the part tracker saw no new parts on {name} within 30 s")
        return tracker, publisher

    def run_cleanup(self) -> None:
        while self.cleanup:
            action = self.cleanup.pop()
            try:
                action()
            except Exception as error:  # noqa: BLE001 - cleanup goes on
                log(f"  cleanup: {error}")


def sources(count: int) -> list[str]:
    return harness.SOURCES[:max(1, min(count, len(harness.SOURCES)))]


def lifetime_figures(group: dict) -> str:
    lifetimes = group["lifetimes"]
    ages = group["still_open_ages"]
    return (f"{group['established']} established, {len(lifetimes)} closed by the server (lifetime p50 "
            f"{percentile(lifetimes, 50):.1f} s, max {max(lifetimes) if lifetimes else float('nan'):.1f} s), "
            f"{len(ages)} still open at the end (oldest {max(ages) if ages else 0:.1f} s), "
            f"peak open {group['peak_open']}, closes {group['closes']}, connect errors {group['connect_errors']}")


def closed_within(group: dict, bound: float, run_seconds: float) -> tuple[str, bool | None]:
    lifetimes, ages = group["lifetimes"], group["still_open_ages"]
    over = sum(1 for x in lifetimes if x > bound) + sum(1 for x in ages if x > bound)
    longest = max(lifetimes + ages) if lifetimes or ages else 0.0
    measured = (f"longest-lived {longest:.1f} s; {over} over {bound:.0f} s "
                f"({len(lifetimes)} closed by the server, {len(ages)} open at the end)")
    if run_seconds < bound + 2 and over == 0 and ages:
        return measured + f"; the run ({run_seconds:.0f} s) is too short to see the bound", None
    if group["established"] == 0:
        return measured + "; no connection was ever established", False
    return measured, over == 0


def rss_growth(sampler: harness.Sampler, baseline: dict, since: float, until: float) -> tuple[float, dict]:
    window = sampler.window(since, until)
    peak = max(window, key=lambda s: s["rss_kib"]) if window else baseline
    return (peak["rss_kib"] - baseline["rss_kib"]) / 1024, peak


class CPU:
    """streamd's CPU seconds over a window, to set beside the clients' own (two cores are shared)."""

    def __init__(self, server: harness.Streamd) -> None:
        self.server = server
        self.began, self.start = time.monotonic(), harness.cpu_seconds(server.pid)

    def note(self, result: Result, outcomes: list[dict]) -> None:
        wall = time.monotonic() - self.began
        used = harness.cpu_seconds(self.server.pid) - self.start
        clients = sum(o.get("cpu_seconds", 0.0) for o in outcomes)
        result.note(f"CPU over {wall:.0f} s on {os.cpu_count()} cores: streamd {used:.1f} s ({used / wall * 100:.0f} %), "
                    f"hostile clients {clients:.1f} s ({clients / wall * 100:.0f} %); load {open('/proc/loadavg').read().split()[:3]}")


def server_alive(result: Result, server: harness.Streamd) -> None:
    alive = server.alive()
    result.check("streamd keeps running", server.crash_summary(), alive)


def part_check(result: Result, tracker: harness.PartTracker, since: float, until: float, bound: float) -> None:
    gaps = tracker.gaps(since, until)
    measured = (f"{gaps['parts']} parts listed; longest gap {gaps['max_gap'] * 1000:.0f} ms, "
                f"longest lateness (gap minus the part's duration) {gaps['max_excess'] * 1000:.0f} ms"
                + (f" at {gaps['worst_part']}" if gaps["worst_part"] else "")
                + f"; {len(tracker.errors)} playlist errors")
    passed = gaps["parts"] > 0 and gaps["max_excess"] <= bound and gaps["silent_tail"] <= bound + 2
    if gaps["silent_tail"] > bound + 2:
        measured += f"; NO part for the last {gaps['silent_tail']:.1f} s"
    result.check(f"LL-HLS parts keep coming (lateness <= {bound * 1000:.0f} ms)", measured, passed)
    if tracker.errors:
        result.note(f"playlist errors (first): {tracker.errors[:3]}")


def healthz_check(result: Result, probe: harness.Probe, since: float, until: float, bound: float,
                  statistic: str = "max") -> None:
    s = probe.summary(since, until)
    passed = s["count"] > 0 and s["ok"] == s["count"] and s[statistic] < bound
    result.check(f"/healthz answers, {statistic} < {bound * 1000:.0f} ms", probe.describe(since, until), passed)
    slowest = sorted((row for row in probe.samples if since <= row[0] <= until), key=lambda row: -row[1])[:3]
    if slowest and slowest[0][1] >= bound:
        result.note("/healthz slowest: " + ", ".join(f"{ms(row[1])} at {row[0] - since:.1f} s" for row in slowest))
    if probe.failures:
        result.note(f"/healthz failures (first): {probe.failures[:3]}")


# --- scenarios ---------------------------------------------------------------------------------------

def rtmp_play_flood(ctx: Context) -> Result:
    result = Result("rtmp-play-flood")
    a = ctx.args
    seconds = ctx.seconds(120)
    sockets = ctx.scaled(a.flood_sockets)
    server, _ = ctx.server(result.name)
    tracker, _ = ctx.live_channel(server, result.name, "flood")
    sampler = harness.Sampler(server.pid, 0.5)
    sampler.start()
    health = harness.Probe(server.http, "/healthz", 1.0)
    health.start()
    time.sleep(3)
    baseline = sampler.before(time.monotonic())
    per_address = -(-sockets // a.flood_sources)
    log(f"  {sockets} sockets from {a.flood_sources} addresses ({per_address} each) for {seconds:.0f} s; "
        f"baseline RSS {baseline['rss_kib'] / 1024:.1f} MiB")
    attacker = Attacker("hold", {"seconds": seconds, "groups": [{
        "name": "play-flood", "kind": "play-flood", "port": server.rtmp, "count": sockets,
        "sources": sources(a.flood_sources), "reopen": True, "reopen_delay": 0.2}]}, ctx.directory(result.name), "flood")
    ctx.cleanup.append(attacker.kill)
    began = time.monotonic()
    cpu = CPU(server)
    outcome = attacker.result(seconds + 120)
    ended = time.monotonic()
    cpu.note(result, [outcome])
    time.sleep(5)
    group = outcome["groups"]["play-flood"]
    growth, peak = rss_growth(sampler, baseline, began, ended + 5)
    after = sampler.before(time.monotonic())
    result.check(f"streamd RSS grows < {a.rss_bound} MB", f"{growth:+.1f} MiB (baseline {baseline['rss_kib'] / 1024:.1f}, "
                 f"peak {peak['rss_kib'] / 1024:.1f}, 5 s after {after['rss_kib'] / 1024:.1f} MiB)", growth < a.rss_bound)
    measured, passed = closed_within(group, a.close_bound, seconds)
    result.check(f"every abusive socket closed by the server within {a.close_bound:.0f} s", measured, passed)
    part_check(result, tracker, began, ended, a.gap_bound)
    server_alive(result, server)
    result.note(f"flood: {lifetime_figures(group)}; {group['bytes_sent'] / MIB:.1f} MiB sent "
                f"({group['bytes_sent'] / MIB / seconds:.1f} MiB/s) written into the sockets")
    result.note(f"streamd during the flood: peak fds {max(s['fds'] for s in sampler.window(began, ended))}, "
                f"threads {peak['threads']}, CPU {harness.cpu_seconds(server.pid):.1f} s total; {health.describe(began, ended)}")
    return result


def idle_hold(ctx: Context) -> Result:
    result = Result("idle-hold")
    a = ctx.args
    seconds = ctx.seconds(120)
    http_count, rtmp_count = ctx.scaled(a.idle_http), ctx.scaled(a.idle_rtmp)
    server, _ = ctx.server(result.name, nofile_soft=1024)
    limits = harness.nofile_limits(server.pid)
    result.note(f"streamd started with a soft open-file limit of 1024; /proc/PID/limits now: {limits}")
    tracker, _ = ctx.live_channel(server, result.name, "idle")
    sampler = harness.Sampler(server.pid, 0.5)
    sampler.start()
    health = harness.Probe(server.http, "/healthz", 0.25, timeout=5)
    health.start()
    counter = iter(range(1_000_000))
    creator = harness.Probe(server.http, "/v1/channels", 10.0, method="POST", admin=True, timeout=30,
                            body_fn=lambda: json.dumps({"name": f"idle-made-{next(counter)}"}).encode())
    time.sleep(2)
    baseline = sampler.before(time.monotonic())
    creator.start()
    rtmp_silent = rtmp_count // 2
    groups = [
        {"name": "http-idle", "kind": "http-idle", "port": server.http, "count": http_count, "sources": harness.SOURCES},
        {"name": "rtmp-silent", "kind": "rtmp-silent", "port": server.rtmp, "count": rtmp_silent, "sources": harness.SOURCES},
        {"name": "rtmp-handshake", "kind": "rtmp-handshake", "port": server.rtmp, "count": rtmp_count - rtmp_silent,
         "sources": harness.SOURCES},
    ]
    log(f"  holding {http_count} idle HTTP and {rtmp_count} idle RTMP connections (half silent, half after the "
        f"handshake) from {len(harness.SOURCES)} addresses for {seconds:.0f} s")
    attacker = Attacker("hold", {"seconds": seconds, "groups": groups}, ctx.directory(result.name), "idle")
    ctx.cleanup.append(attacker.kill)
    began = time.monotonic()
    cpu = CPU(server)
    outcome = attacker.result(seconds + 180)
    ended = time.monotonic()
    cpu.note(result, [outcome])
    creator.stop()
    window = sampler.window(began, ended)
    http = outcome["groups"]["http-idle"]
    measured, passed = closed_within(http, a.idle_bound, seconds)
    result.check(f"idle HTTP connections closed by the server within {a.idle_bound:.0f} s", measured, passed)
    # The bound is for the hold; the attacker's own teardown (all its sockets closed in
    # the same instant) is reported beside it, not hidden.
    held = began + seconds
    healthz_check(result, health, began, held, a.healthz_bound / 1000)
    result.note(f"/healthz while the attacker closed its {http_count + rtmp_count} sockets at once "
                f"({ended - held:.1f} s after the hold): {health.describe(held, ended + 1)}")
    part_check(result, tracker, began, ended, a.gap_bound)
    made = creator.summary(began, ended + 30)
    result.check("POST /v1/channels (admin) works", f"{made['ok']}/{made['count']} created (201), "
                 f"p50 {ms(made['p50'])}, max {ms(made['max'])}, statuses {made['statuses']}",
                 made["count"] > 0 and made["ok"] == made["count"])
    if creator.failures:
        result.note(f"POST /v1/channels failures (first): {creator.failures[:3]}")
    server_alive(result, server)
    for name in ("http-idle", "rtmp-silent", "rtmp-handshake"):
        result.note(f"{name}: {lifetime_figures(outcome['groups'][name])}")
    if window:
        result.note(f"streamd: peak fds {max(s['fds'] for s in window)}, RSS {baseline['rss_kib'] / 1024:.1f} -> peak "
                    f"{max(s['rss_kib'] for s in window) / 1024:.1f} MiB, threads {max(s['threads'] for s in window)}")
    return result


def log_growth(ctx: Context) -> Result:
    result = Result("log-growth")
    a = ctx.args
    seconds = ctx.seconds(60)
    count = ctx.scaled(a.log_count)
    server, database = ctx.server(result.name)
    channel = "loggrowth"
    server.create_channel(channel)
    spammer = harness.register_viewer(server.http, harness.unique_name("spammer"))
    # Post once before the ban (a real spammer talks first), then ban.
    chat = harness.ChatClient(server.http, channel, spammer["token"])
    chat.send({"type": "send", "text": "hello before the ban", "nonce": "0"})
    chat.read(2)
    chat.close()
    status, text = server.admin("POST", f"/v1/moderation/{channel}/actions",
                                {"action": "ban", "userId": spammer["userId"], "reason": "abuse harness"})
    if status >= 300:
        raise SystemExit(f"banning the spammer: {status} {text}")
    time.sleep(1)
    before_position = ctx.cluster.max_position(database)
    before = ctx.cluster.count_events(database)
    health = harness.Probe(server.http, "/healthz", 0.5)
    health.start()
    lister = harness.Probe(server.http, "/v1/channels", 1.0, admin=True)
    lister.start()
    attacker_address = a.log_source
    log(f"  from {attacker_address}, within {seconds:.0f} s each: {count} POST /v1/viewers, {count} bad-key RTMP "
        f"publishes, {count} chat posts by banned viewer {spammer['userId']}; events before: {before}")
    directory = ctx.directory(result.name)
    children = {
        "viewers": Attacker("http", {"port": server.http, "kinds": ["viewers"], "count": count, "seconds": seconds,
                                     "concurrency": 16, "sources": [attacker_address]}, directory, "viewers"),
        "badkey": Attacker("badkey", {"port": server.rtmp, "count": count, "seconds": seconds, "concurrency": 24,
                                      "source": attacker_address}, directory, "badkey"),
        "chat": Attacker("chat", {"port": server.http, "channel": channel, "token": spammer["token"], "count": count,
                                  "seconds": seconds, "concurrency": 4, "source": attacker_address}, directory, "chat"),
    }
    for child in children.values():
        ctx.cleanup.append(child.kill)
    began = time.monotonic()
    cpu = CPU(server)
    outcomes = {name: child.result(seconds + 120) for name, child in children.items()}
    ended = time.monotonic()
    cpu.note(result, list(outcomes.values()))
    time.sleep(3)
    live_after = ctx.cluster.count_events(database)
    health.stop()
    lister.stop()
    server_alive(result, server)
    healthz_check(result, health, began, ended, a.healthz_bound / 1000, statistic="p99")
    listed = lister.summary(began, ended)
    result.note(f"admin GET /v1/channels meanwhile: {lister.describe(began, ended)}")
    code = server.stop()
    final = ctx.cluster.count_events(database)
    added = final - before
    result.check(f"at most {a.log_rows} rows added to events (counted after streamd stopped, so summaries are in)",
                 f"{added} rows ({live_after - before} while running, {final - live_after} more at shutdown)",
                 added <= a.log_rows)
    result.note(f"streamd exit status {code}")
    rows = ctx.cluster.events_by_type(database, before_position)
    result.note("rows added by type: " + ", ".join(f"{kind} {n}" for kind, n in rows))
    viewers = outcomes["viewers"]
    latencies = viewers["latencies"]["viewers"]
    result.note(f"POST /v1/viewers: {viewers['issued']} sent in {viewers['ended'] - viewers['started']:.1f} s, statuses "
                f"{viewers['statuses']['viewers']}, p50 {ms(percentile(latencies, 50))}, p99 {ms(percentile(latencies, 99))}, "
                f"errors {viewers['errors']}")
    badkey = outcomes["badkey"]
    result.note(f"bad-key RTMP: {badkey['issued']} attempts in {badkey['ended'] - badkey['started']:.1f} s: "
                f"{badkey['outcomes']}; time to close p50 {ms(percentile(badkey['durations'], 50))}, "
                f"max {ms(max(badkey['durations']) if badkey['durations'] else float('nan'))}")
    chat_out = outcomes["chat"]
    result.note(f"banned chat posts: {chat_out['sent']} sent over {chat_out['connects']} sockets in "
                f"{chat_out['ended'] - chat_out['started']:.1f} s; replies {chat_out['replies']}; closes "
                f"{chat_out['closes']}; connect errors {chat_out['connect_errors']}")
    if chat_out["replies"].get("ack", 0):
        result.check("a banned viewer's posts are refused", f"{chat_out['replies']['ack']} posts ACKED", False)
    if listed["count"] == 0:
        result.note("the admin probe got no answer at all")
    return result


def public_routes(ctx: Context) -> Result:
    result = Result("public-routes")
    a = ctx.args
    seconds = ctx.seconds(60)
    concurrency = ctx.scaled(a.public_concurrency)
    server, _ = ctx.server(result.name)
    channels = ["public-a", "public-b"]
    for name in channels:
        server.create_channel(name)
    talker = harness.ChatClient(server.http, channels[0], harness.ADMIN_TOKEN)
    for i in range(40):
        talker.send({"type": "send", "text": f"history line {i}", "nonce": str(i)})
    talker.read(2)
    talker.close()
    lister = harness.Probe(server.http, "/v1/channels", a.admin_interval, admin=True)
    lister.start()
    sampler = harness.Sampler(server.pid, 1.0)
    sampler.start()
    time.sleep(5)
    quiet = time.monotonic()
    log(f"  {concurrency} connections from {len(harness.SOURCES)} addresses asking for /vod/UUID/index.m3u8 and "
        f"/v1/chat/NAME/history for {seconds:.0f} s; admin GET /v1/channels every {a.admin_interval} s")
    processes = max(1, min(a.public_processes, concurrency))
    directory = ctx.directory(result.name)
    children = [Attacker("http", {"port": server.http, "kinds": ["vod", "history"], "channels": channels,
                                  "count": 10**9, "seconds": seconds, "paced": False,
                                  "concurrency": concurrency // processes + (1 if i < concurrency % processes else 0),
                                  "sources": harness.SOURCES[i::processes], "timeout": 30}, directory, f"public-{i}")
                for i in range(processes)]
    for child in children:
        ctx.cleanup.append(child.kill)
    began = time.monotonic()
    cpu = CPU(server)
    outcomes = [child.result(seconds + 120) for child in children]
    ended = time.monotonic()
    cpu.note(result, outcomes)
    lister.stop()
    before = lister.summary(quiet - 5, quiet)
    during = lister.summary(began + 2, ended)
    result.note(f"admin GET /v1/channels before the flood: p50 {ms(before['p50'])}, p99 {ms(before['p99'])} "
                f"({before['count']} requests)")
    result.check(f"admin GET /v1/channels p99 < {a.admin_p99:.0f} ms during the flood",
                 f"p50 {ms(during['p50'])}, p99 {ms(during['p99'])}, max {ms(during['max'])}, "
                 f"{during['ok']}/{during['count']} ok, statuses {during['statuses']}",
                 during["count"] > 0 and during["ok"] == during["count"] and during["p99"] * 1000 < a.admin_p99)
    if lister.failures:
        result.note(f"admin failures (first): {lister.failures[:3]}")
    server_alive(result, server)
    for kind in ("vod", "history"):
        statuses: dict[str, int] = {}
        latencies: list[float] = []
        for outcome in outcomes:
            for status, n in outcome["statuses"][kind].items():
                statuses[status] = statuses.get(status, 0) + n
            latencies += outcome["latencies"][kind]
        total = sum(statuses.values())
        result.note(f"public {kind}: {total} answered ({total / max(ended - began, 0.001):.0f}/s), statuses {statuses}, "
                    f"p50 {ms(percentile(latencies, 50))}, p99 {ms(percentile(latencies, 99))}")
    errors: dict[str, int] = {}
    for outcome in outcomes:
        for error, n in outcome["errors"].items():
            errors[error] = errors.get(error, 0) + n
    window = sampler.window(began, ended)
    result.note(f"client errors {errors}; connects {sum(o['connects'] for o in outcomes)}; streamd peak RSS "
                f"{max(s['rss_kib'] for s in window) / 1024:.1f} MiB, peak fds {max(s['fds'] for s in window)}"
                if window else f"client errors {errors}")
    return result


def oversized_amf(ctx: Context) -> Result:
    import socket
    result = Result("oversized-amf")
    a = ctx.args
    server, _ = ctx.server(result.name)
    sampler = harness.Sampler(server.pid, 0.2)
    sampler.start()
    time.sleep(2)
    baseline = sampler.before(time.monotonic())
    size = int(a.amf_mib * MIB)
    prefix = harness.amf_string("connect") + harness.amf_number(1)
    payload = prefix + harness.AMF_NULL * (size - len(prefix))
    chunk_size = a.amf_chunk
    message = (harness.rtmp_set_chunk_size(chunk_size) if chunk_size != 128 else b"") + harness.rtmp_chunks(
        payload, 20, chunk_size=chunk_size)
    connections = ctx.scaled(a.amf_connections)
    log(f"  {connections} connection(s), each one AMF0 command message of {size} bytes ({a.amf_mib} MiB: 'connect', 1, "
        f"then nulls) in {chunk_size}-byte chunks ({len(message)} bytes on the wire); baseline RSS "
        f"{baseline['rss_kib'] / 1024:.1f} MiB")
    outcomes: list[dict] = []

    def one(index: int) -> None:
        record = {"sent": 0, "send_error": None, "closed_after": None}
        sock = socket.create_connection(("127.0.0.1", server.rtmp), timeout=a.close_amf,
                                        source_address=(harness.SOURCES[index % len(harness.SOURCES)], 0))
        started = time.monotonic()
        try:
            data = harness.rtmp_handshake() + message
            view = memoryview(data)
            while record["sent"] < len(data):
                record["sent"] += sock.send(view[record["sent"]:record["sent"] + 65536])
        except OSError as error:
            record["send_error"] = f"{type(error).__name__} after {record['sent']} bytes"
        record["send_seconds"] = time.monotonic() - started
        sent_at = time.monotonic()
        try:
            sock.settimeout(a.close_amf)
            while sock.recv(65536):
                pass
            record["closed_after"] = time.monotonic() - sent_at
        except socket.timeout:
            record["closed_after"] = None
        except OSError as error:
            record["closed_after"] = time.monotonic() - sent_at
            record["recv_error"] = type(error).__name__
        sock.close()
        outcomes.append(record)

    began = time.monotonic()
    cpu = CPU(server)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(a.close_amf + 120)
    ended = time.monotonic()
    time.sleep(3)
    growth, peak = rss_growth(sampler, baseline, began, ended + 3)
    after = sampler.before(time.monotonic())
    result.check(f"streamd RSS grows < {a.rss_bound} MB", f"{growth:+.1f} MiB (baseline {baseline['rss_kib'] / 1024:.1f}, "
                 f"peak {peak['rss_kib'] / 1024:.1f}, 3 s after {after['rss_kib'] / 1024:.1f} MiB)", growth < a.rss_bound)
    closed = [o for o in outcomes if o["closed_after"] is not None]
    result.check(f"the socket is closed by the server within {a.close_amf:.0f} s of the message",
                 f"{len(closed)}/{len(outcomes)} closed; " + "; ".join(
                     f"sent {o['sent']} B in {o['send_seconds']:.2f} s"
                     + (f" ({o['send_error']})" if o["send_error"] else "")
                     + (f", closed {o['closed_after']:.2f} s later" if o["closed_after"] is not None else ", STILL OPEN")
                     for o in outcomes[:4]), len(closed) == len(outcomes) and len(outcomes) == connections)
    server_alive(result, server)
    status, _, seconds = harness.http_request(server.http, "GET", "/healthz", timeout=5)
    result.check("/healthz answers afterwards", f"HTTP {status} in {ms(seconds)}", status == 200)
    return result


def slowloris(ctx: Context) -> Result:
    result = Result("slowloris")
    a = ctx.args
    seconds = ctx.seconds(60)
    count = ctx.scaled(a.slowloris_connections)
    server, _ = ctx.server(result.name)
    health = harness.Probe(server.http, "/healthz", 0.5, timeout=5)
    health.start()
    sampler = harness.Sampler(server.pid, 1.0)
    sampler.start()
    time.sleep(1)
    log(f"  {count} connections from {len(harness.SOURCES)} addresses, each sending an HTTP head one byte every "
        f"{a.dribble:.0f} s, replaced when cut, for {seconds:.0f} s")
    attacker = Attacker("hold", {"seconds": seconds, "groups": [{
        "name": "slowloris", "kind": "slowloris", "port": server.http, "count": count, "sources": harness.SOURCES,
        "dribble": a.dribble, "reopen": True}]}, ctx.directory(result.name), "slowloris")
    ctx.cleanup.append(attacker.kill)
    began = time.monotonic()
    cpu = CPU(server)
    outcome = attacker.result(seconds + 120)
    ended = time.monotonic()
    cpu.note(result, [outcome])
    group = outcome["groups"]["slowloris"]
    measured, passed = closed_within(group, a.cut_bound, seconds)
    result.check(f"dribbled heads are cut within {a.cut_bound:.0f} s", measured, passed)
    healthz_check(result, health, began, ended, a.healthz_bound / 1000, statistic="p99")
    server_alive(result, server)
    result.note(f"slowloris: {lifetime_figures(group)}; {group['bytes_sent']} bytes dribbled")
    window = sampler.window(began, ended)
    if window:
        result.note(f"streamd: peak fds {max(s['fds'] for s in window)}, peak RSS {max(s['rss_kib'] for s in window) / 1024:.1f} MiB")
    return result


SCENARIOS = {
    "rtmp-play-flood": rtmp_play_flood,
    "idle-hold": idle_hold,
    "log-growth": log_growth,
    "public-routes": public_routes,
    "oversized-amf": oversized_amf,
    "slowloris": slowloris,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="ops/abuse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="default: all")
    parser.add_argument("--seconds", type=float, help="duration of every scenario (default: each its own, 60-120 s)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every count (sockets, connections, requests)")
    parser.add_argument("--port-base", type=int, default=21200, help="streamd's HTTP port; RTMP +1, SRT +2 (default 21200)")
    parser.add_argument("--out", default=os.environ.get("OUT") or os.path.join(HERE, "out", time.strftime("%Y%m%d-%H%M%S")))
    parser.add_argument("--pg-fast", action="store_true", help="PostgreSQL with fsync off (default: durable)")
    parser.add_argument("--part-target", type=float, default=0.5, help="streamd --part-target (default 0.5 s)")
    parser.add_argument("--gap-bound", type=float, default=0.5, help="a part may arrive this late (s, default 0.5)")
    parser.add_argument("--rss-bound", type=float, default=64, help="RSS growth bound in MB (default 64)")
    parser.add_argument("--healthz-bound", type=float, default=100, help="/healthz bound in ms (default 100)")
    group = parser.add_argument_group("rtmp-play-flood")
    group.add_argument("--flood-sockets", type=int, default=50)
    group.add_argument("--flood-sources", type=int, default=2, help="source addresses they come from (default 2: 25 each)")
    group.add_argument("--close-bound", type=float, default=45, help="each socket closed within (s, default 45)")
    group = parser.add_argument_group("idle-hold")
    group.add_argument("--idle-http", type=int, default=6000)
    group.add_argument("--idle-rtmp", type=int, default=2000)
    group.add_argument("--idle-bound", type=float, default=60, help="idle HTTP closed within (s, default 60)")
    group = parser.add_argument_group("log-growth")
    group.add_argument("--log-count", type=int, default=10000, help="of each kind (default 10,000)")
    group.add_argument("--log-rows", type=int, default=100, help="rows the log may grow by (default 100)")
    group.add_argument("--log-source", default="127.0.0.9", help="the one address it all comes from")
    group = parser.add_argument_group("public-routes")
    group.add_argument("--public-concurrency", type=int, default=2000)
    group.add_argument("--public-processes", type=int, default=2, help="client processes sharing the connections")
    group.add_argument("--admin-interval", type=float, default=0.1)
    group.add_argument("--admin-p99", type=float, default=200, help="ms (default 200)")
    group = parser.add_argument_group("oversized-amf")
    group.add_argument("--amf-mib", type=float, default=8)
    group.add_argument("--amf-chunk", type=int, default=128, help="chunk size the message is sent in (default 128)")
    group.add_argument("--amf-connections", type=int, default=1)
    group.add_argument("--close-amf", type=float, default=10, help="closed within (s, default 10)")
    group = parser.add_argument_group("slowloris")
    group.add_argument("--slowloris-connections", type=int, default=1000)
    group.add_argument("--dribble", type=float, default=3, help="seconds between bytes (default 3)")
    group.add_argument("--cut-bound", type=float, default=30, help="cut within (s, default 30)")
    args = parser.parse_args()
    names = args.scenarios or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}")
    harness.raise_nofile()
    binary = harness.find_streamd()
    os.makedirs(args.out, exist_ok=True)
    log(f"ops/abuse: {', '.join(names)}; streamd {binary}; output {args.out}; machine {os.cpu_count()} cores, "
        f"load {open('/proc/loadavg').read().split()[:3]}")
    cluster = harness.Cluster(range(21300, 21400), fast=args.pg_fast)
    log(f"throwaway PostgreSQL on 127.0.0.1:{cluster.port} ({'fsync off' if args.pg_fast else 'durable'})")
    results: list[Result] = []
    ctx = Context(args, binary, cluster, args.out)

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        for name in names:
            log(f"== {name}")
            try:
                results.append(SCENARIOS[name](ctx))
            except (SystemExit, Exception) as error:  # noqa: BLE001 - a broken scenario is a FAIL, the rest still run
                failed = Result(name)
                failed.check("the scenario runs", f"{type(error).__name__}: {error}", False)
                for server in ctx.servers:
                    if not server.alive():
                        failed.check("streamd keeps running", server.crash_summary(), False)
                results.append(failed)
            finally:
                ctx.run_cleanup()
                ctx.servers.clear()
    except KeyboardInterrupt:
        log("interrupted")
        ctx.run_cleanup()
    finally:
        cluster.stop()
    print()
    print(f"{'scenario':<17} {'verdict':<7} check")
    for result in results:
        for bound, measured, verdict in result.checks:
            print(f"{result.name:<17} {verdict:<7} {bound}: {measured.splitlines()[0] if measured else ''}")
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump([{"scenario": r.name, "checks": r.checks, "notes": r.notes} for r in results], f, indent=1)
    failed = [r.name for r in results if r.failed]
    print(f"\n{len(results) - len(failed)}/{len(results)} scenarios passed" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    print(f"logs and raw figures: {args.out}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
