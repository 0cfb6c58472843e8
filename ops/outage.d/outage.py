#!/usr/bin/env python3
"""ops/outage: the embedded PostgreSQL taken away under a live stream (issue "nothing lost when
PostgreSQL goes away"). Two phases against one `streamd serve` on its embedded default:

  kill:    kill -9 of the postmaster 15 s into a 110 s publish, its port held by another process for
           HOLD seconds (default 60) so the supervisor cannot restart it sooner. A player follows
           the live playlist with blocking reloads throughout. Afterwards: one StreamEnded, one
           RecordingFinalized, one SegmentPublished entry per segment file of each rendition, no event id
           twice, DatabaseOutage, `streamd events verify`, and the recording played to its end as VOD.
  sigterm: the postmaster killed again (port held) during a second publish, SIGTERM 5 s later:
           streamd exits within 10 s, the spool is on disk, and the next start replays it: every
           spooled event id is in the log exactly once.

Usage: ops/outage [--hold S] [--port-base N] [--out DIR]; STREAMD_BIN=path skips the build.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "abuse.d"))
from harness import (ADMIN_TOKEN, PartTracker, find_streamd, http_request, log, port_free,  # noqa: E402
                     publish_testsrc, stop_process)


class Server:
    """`streamd serve` on its embedded default in `data`."""

    def __init__(self, binary: str, data: str, base: int, logfile: str) -> None:
        self.binary, self.data, self.http, self.rtmp, self.srt = binary, data, base, base + 1, base + 2
        self.logfile = logfile
        os.makedirs(data, exist_ok=True)
        os.chmod(os.path.dirname(data), 0o755)
        os.chmod(data, 0o755)
        self.process = subprocess.Popen(
            [binary, "serve", "--data-dir", data, "--host", "127.0.0.1", "--http-port", str(self.http),
             "--rtmp-port", str(self.rtmp), "--srt-port", str(self.srt), "--admin-token", ADMIN_TOKEN, "--recording", "true"],
            stdin=subprocess.DEVNULL, stdout=open(logfile, "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"streamd exited with {self.process.returncode} at start; see {logfile}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http}/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"streamd did not answer /healthz within 180 s; see {logfile}")
            time.sleep(0.3)

    def admin(self, method: str, path: str, body: object | None = None) -> tuple[int, str]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.http}{path}", method=method,
                                         data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    @property
    def pg_port(self) -> int:
        return int(open(os.path.join(self.data, "postgres.port")).read().strip())

    def postmaster(self) -> int | None:
        try:
            pid = int(open(os.path.join(self.data, "postgres", "postmaster.pid")).readline().strip())
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def psql(self, sql: str) -> str:
        password = open(os.path.join(self.data, "postgres.password")).read().strip()
        result = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres",
                                 "-d", "streamd", "-c", sql], capture_output=True, text=True, timeout=30,
                                env={**os.environ, "PGPASSWORD": password})
        if result.returncode != 0:
            raise RuntimeError(result.stderr.strip())
        return result.stdout.strip()

    def try_psql(self, sql: str) -> str | None:
        try:
            return self.psql(sql)
        except (RuntimeError, subprocess.TimeoutExpired):
            return None


class PortHolder:
    """Listens on the database's port and never answers (SO_REUSEADDR, as PostgreSQL binds)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 5
        while True:
            try:
                self.sock.bind(("127.0.0.1", port))
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        self.sock.listen(64)

    def release(self) -> None:
        self.sock.close()


def kill_database(server: Server) -> PortHolder:
    pid = server.postmaster()
    if pid is None:
        raise SystemExit("no postmaster to kill")
    port = server.pg_port
    os.kill(pid, 9)
    return PortHolder(port)


def video_rendition(server: Server, channel: str) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, body, _ = http_request(server.http, "GET", f"/live/{channel}/index.m3u8")
            if status == 200:
                for line in body.decode().splitlines():
                    if line and not line.startswith("#") and "audio" not in line:
                        return line.split("/")[0]
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("no live master playlist within 60 s")


def wait_until(predicate, seconds: float, step: float = 0.5) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


def spooled_ids(spool: str) -> set[str]:
    """Every event id in the spool's segment files (framing: SPL1, length, CRC-32, JSON)."""
    ids = set()
    for name in sorted(os.listdir(spool)) if os.path.isdir(spool) else []:
        if not name.endswith(".spool"):
            continue
        data = open(os.path.join(spool, name), "rb").read()
        offset = 0
        while offset + 12 <= len(data) and data[offset:offset + 4] == b"SPL1":
            length = int.from_bytes(data[offset + 4:offset + 8], "little")
            record = json.loads(data[offset + 12:offset + 12 + length])
            ids.update(event["id"].lower() for event in record["events"])
            offset += 12 + length
    return ids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hold", type=float, default=60, help="seconds the database stays away (default 60)")
    parser.add_argument("--port-base", type=int, default=21400, help="streamd on N, N+1, N+2 (default 21400)")
    parser.add_argument("--out", default=os.environ.get("OUT") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "out", time.strftime("%Y%m%d-%H%M%S")))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    os.chmod(args.out, 0o755)
    for port in (args.port_base, args.port_base + 1):
        if not port_free(port):
            raise SystemExit(f"port {port} is in use; choose --port-base")
    binary = find_streamd()
    data = os.path.join(args.out, "data")
    results: list[tuple[str, str, str, bool]] = []

    def check(what: str, measured: str, anchor: str, ok: bool) -> None:
        results.append((what, measured, anchor, ok))
        log(f"{'ok  ' if ok else 'FAIL'} {what}: {measured}")

    log(f"phase kill: a {args.hold:.0f} s outage 15 s into a 110 s publish; output in {args.out}")
    server = Server(binary, data, args.port_base, os.path.join(args.out, "streamd.log"))
    status, text = server.admin("POST", "/v1/channels", {"name": "outage"})
    key = json.loads(text)["streamKey"]
    publisher = publish_testsrc(f"rtmp://127.0.0.1:{server.rtmp}/live/{key}", os.path.join(args.out, "ffmpeg-1.log"),
                                seconds=110)
    rendition = video_rendition(server, "outage")
    tracker = PartTracker(server.http, "outage", rendition)
    tracker.start()
    time.sleep(15)
    session = server.psql("SELECT data->>'sessionID' FROM events WHERE event_type = 'StreamStarted' ORDER BY position DESC LIMIT 1")
    killed_at = time.monotonic()
    holder = kill_database(server)
    time.sleep(args.hold)
    holder.release()
    back_at = time.monotonic()
    publisher.wait(120)
    time.sleep(5)
    tracker.stop()
    gaps = tracker.gaps(since=killed_at - 1, until=back_at + 10)
    check("the stream plays throughout the outage (parts listed, worst lateness)",
          f"{gaps['parts']} parts during the {args.hold:.0f} s outage, worst {gaps['max_excess'] * 1000:.0f} ms late "
          f"(longest gap {gaps['max_gap'] * 1000:.0f} ms)", "no part more than 1 s late",
          gaps["parts"] > args.hold and gaps["max_excess"] < 1.0)

    def finished() -> bool:
        text = server.try_psql(f"SELECT count(*) FROM events WHERE stream_id = 'session-{session}' AND event_type = 'RecordingFinalized'")
        outage = server.try_psql("SELECT count(*) FROM events WHERE event_type = 'DatabaseOutage'")
        return text == "1" and outage not in (None, "0")
    wait_until(finished, 90)
    counts = dict(line.split("|") for line in server.psql(
        f"SELECT event_type, count(*) FROM events WHERE stream_id = 'session-{session}' GROUP BY 1").splitlines())
    check("StreamEnded and RecordingFinalized of the session", f"{counts.get('StreamEnded', '0')} and "
          f"{counts.get('RecordingFinalized', '0')}", "1 and 1",
          counts.get("StreamEnded") == "1" and counts.get("RecordingFinalized") == "1")
    media = os.path.join(data, "media", session)
    per_rendition = []
    all_match = True
    for name in sorted(os.listdir(media)):
        files = len([f for f in os.listdir(os.path.join(media, name)) if f.startswith("s") and f.endswith(".m4s")])
        # Schema 2: one event per segment of the ladder, an entry per rendition (schema 1: the event itself).
        entries = (f"FROM events e, LATERAL jsonb_array_elements(CASE WHEN e.data ? 'renditions' THEN e.data->'renditions' "
                   f"ELSE jsonb_build_array(e.data) END) r WHERE e.stream_id = 'session-{session}' "
                   f"AND e.event_type = 'SegmentPublished' AND r->>'rendition' = '{name}'")
        events = int(server.psql(f"SELECT count(*) {entries}"))
        distinct = int(server.psql(f"SELECT count(DISTINCT e.data->>'mediaSequence') {entries}"))
        per_rendition.append(f"{name} {events} entries / {files} files")
        all_match &= events == files == distinct
    check("one SegmentPublished entry per segment file", ", ".join(per_rendition), "equal", all_match)
    twice = server.psql("SELECT count(*) - count(DISTINCT event_id) FROM events")
    check("event ids in the log twice", twice, "0", twice == "0")
    outage = json.loads(server.psql("SELECT data::text FROM events WHERE event_type = 'DatabaseOutage' ORDER BY position DESC LIMIT 1"))
    check("DatabaseOutage", f"{outage['spooledEvents']} events spooled and replayed, {outage['duplicates']} duplicates, "
          f"{outage['refused']} refused; cause: {outage['cause'][:90]}", "recorded, nothing refused", outage["refused"] == 0)
    verify = subprocess.run([binary, "events", "verify", "--data-dir", data], capture_output=True, text=True, timeout=300)
    check("streamd events verify", (verify.stdout + verify.stderr).strip().splitlines()[-1][:120] if (verify.stdout + verify.stderr).strip() else "",
          "exit 0", verify.returncode == 0)
    vod = f"http://127.0.0.1:{server.http}/vod/{session}/index.m3u8"
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", vod],
                           capture_output=True, text=True, timeout=120)
    play = subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", vod, "-f", "null", "-"],
                          capture_output=True, text=True, timeout=300)
    duration = float(probe.stdout.strip() or 0)
    check("the recording plays to its end as VOD", f"{duration:.1f} s, ffmpeg exit {play.returncode} {play.stderr.strip()[:80]}",
          "~110 s, exit 0", play.returncode == 0 and duration > 100)

    log("phase sigterm: the database killed during a second publish, SIGTERM 5 s later")
    publisher = publish_testsrc(f"rtmp://127.0.0.1:{server.rtmp}/live/{key}", os.path.join(args.out, "ffmpeg-2.log"), seconds=60)
    video_rendition(server, "outage")
    time.sleep(10)
    before = int(server.psql("SELECT count(*) FROM events"))
    holder = kill_database(server)
    time.sleep(5)
    signalled = time.monotonic()
    server.process.terminate()
    try:
        server.process.wait(30)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    exit_seconds = time.monotonic() - signalled
    stop_process(publisher)
    check("SIGTERM during the outage: exit", f"{exit_seconds:.1f} s, status {server.process.returncode}", "< 10 s",
          exit_seconds < 10)
    ids = spooled_ids(os.path.join(data, "spool"))
    check("the spool on disk after the exit", f"{len(ids)} events", "> 0", len(ids) > 0)
    holder.release()
    server = Server(binary, data, args.port_base, os.path.join(args.out, "streamd-2.log"))
    wait_until(lambda: not any(n.endswith(".spool") for n in os.listdir(os.path.join(data, "spool"))), 60)
    logged = set(server.psql("SELECT lower(event_id::text) FROM events").split())
    missing = ids - logged
    twice = server.psql("SELECT count(*) - count(DISTINCT event_id) FROM events")
    check("the next start replays the spool", f"{len(ids) - len(missing)} of {len(ids)} spooled ids in the log, "
          f"{twice} twice; log grew {before} → {len(logged)}", "all, none twice", not missing and twice == "0")
    ended = server.psql("SELECT count(*) FROM events WHERE event_type = 'StreamEnded'")
    check("both sessions ended in the log", ended, "2", ended == "2")
    server.process.terminate()
    server.process.wait(30)

    print("\n| ops/outage | measured | anchor | |")
    print("|---|---|---|---|")
    for what, measured, anchor, ok in results:
        print(f"| {what} | {measured} | {anchor} | {'pass' if ok else '**FAIL**'} |")
    return 0 if all(ok for *_, ok in results) else 1


if __name__ == "__main__":
    sys.exit(main())
