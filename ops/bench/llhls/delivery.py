"""LL-HLS delivery: requests/s for a part (~20 KB) and a segment (~1 MB) with wrk at 64 connections,
streamd's gateway vs nginx serving copies of the same files (sendfile, similar headers), while the
streams are live; then 10,000 concurrent blocked playlist requests held on streamd: memory per
waiter and whether all are answered when the part arrives.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import subprocess
import time

import common
from common import log

PART_TARGET = 0.5


def wrk(url: str, seconds: int, connections: int) -> tuple[float, float, str]:
    """(requests/s, MB/s, problems) of one wrk run."""
    out = subprocess.run(["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", url],
                         capture_output=True, text=True).stdout
    rate = re.search(r"Requests/sec:\s*([\d.]+)", out)
    transfer = re.search(r"Transfer/sec:\s*([\d.]+)(\w+)", out)
    problems = " ".join(line.strip() for line in out.splitlines() if "Non-2xx" in line or "Socket errors" in line)
    megabytes = 0.0
    if transfer:
        megabytes = float(transfer.group(1)) * {"B": 1e-6, "KB": 1e-3, "MB": 1, "GB": 1e3}.get(transfer.group(2), 0)
    return (float(rate.group(1)) if rate else 0.0), megabytes, problems


def newest(server: common.Streamd, channel: str) -> tuple[str, str]:
    """The newest complete part and the newest complete segment listed for the channel's source."""
    client = common.Client(server.http)
    status, body = client.get(f"/live/{channel}/source/index.m3u8")
    if status != 200:
        raise SystemExit(f"/live/{channel}/source/index.m3u8: HTTP {status}")
    text = body.decode()
    parts = common.listed_parts(text)
    segments = [line for line in text.splitlines() if re.fullmatch(r"s\d+\.m4s", line)]
    if not parts or not segments:
        raise SystemExit(f"no part or segment listed yet:\n{text}")
    return parts[-1], segments[-1]


def wait_for_segments(server: common.Streamd, channel: str, count: int, seconds: float = 60) -> None:
    client = common.Client(server.http)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status, body = client.get(f"/live/{channel}/source/index.m3u8")
        if status == 200 and len(re.findall(r"^s\d+\.m4s$", body.decode(), re.M)) >= count:
            return
        time.sleep(0.5)
    raise SystemExit(f"channel {channel} has fewer than {count} segments after {seconds} s; see {server.logfile}")


async def open_waiter(port: int, limit: asyncio.Semaphore):
    async with limit:
        for attempt in range(5):
            try:
                return await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.2 * (attempt + 1))
        return None


async def wait_answer(reader: asyncio.StreamReader) -> tuple[int, float]:
    """Reads one HTTP response; (status, monotonic time it completed)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?i)content-length:\s*(\d+)", head)
    if length:
        await reader.readexactly(int(length.group(1)))
    return status, time.monotonic()


async def blocked_requests(server: common.Streamd, publisher, channel: str, count: int) -> list[str]:
    lines = []
    baseline = common.rss_kib(server.pid)
    limit = asyncio.Semaphore(200)
    started = time.monotonic()
    connections = await asyncio.gather(*(open_waiter(server.http, limit) for _ in range(count)))
    opened = [c for c in connections if c is not None]
    connected_rss = common.rss_kib(server.pid)
    lines.append(f"opened {len(opened)}/{count} connections in {time.monotonic() - started:.1f} s")
    # Hold the stream still (no new part) while the requests go out and wait.
    publisher.send_signal(signal.SIGSTOP)
    paused = time.monotonic()
    try:
        await asyncio.sleep(0.3)
        client = common.Client(server.http)
        _, body = client.get(f"/live/{channel}/source/index.m3u8")
        hint = common.preload_hint(body.decode())
        if hint is None:
            raise SystemExit("no preload hint in the playlist")
        request = (f"GET /live/{channel}/source/index.m3u8?_HLS_msn={hint[0]}&_HLS_part={hint[1]} HTTP/1.1\r\n"
                   f"Host: 127.0.0.1\r\n\r\n").encode()
        for _, writer in opened:
            writer.write(request)
        await asyncio.gather(*(writer.drain() for _, writer in opened))
        sent = time.monotonic()
        answers = [asyncio.ensure_future(wait_answer(reader)) for reader, _ in opened]
        await asyncio.sleep(1.5)
        early = sum(1 for a in answers if a.done())
        waiting_rss = common.rss_kib(server.pid)
    finally:
        publisher.send_signal(signal.SIGCONT)
    resumed = time.monotonic()
    done, _ = await asyncio.wait(answers, timeout=20)
    results = [a.result() for a in done if a.exception() is None]
    ok = [t for status, t in results if status == 200]
    other = len(results) - len(ok)
    lines.append(f"{len(opened)} requests for part {hint[0]}.{hint[1]} sent in {sent - paused - 0.3:.2f} s while the "
                 f"publisher was paused; {early} answered before it resumed")
    lines.append(f"streamd RSS: {baseline / 1024:.1f} MiB before, {connected_rss / 1024:.1f} MiB with {len(opened)} "
                 f"idle connections, {waiting_rss / 1024:.1f} MiB with them waiting")
    if opened:
        lines.append(f"memory per waiter: {(waiting_rss - baseline) * 1024 / len(opened):.0f} B including its "
                     f"connection, {(waiting_rss - connected_rss) * 1024 / len(opened):.0f} B for the blocked request")
    if ok:
        lines.append(f"answered 200: {len(ok)}/{len(opened)} (other status {other}, failed/unanswered "
                     f"{len(opened) - len(results)}); first {min(ok) - resumed:.3f} s after the publisher resumed, "
                     f"first to last {max(ok) - min(ok):.3f} s")
    else:
        lines.append(f"no 200 answers (other status {other}, failed/unanswered {len(opened) - len(results)})")
    for _, writer in opened:
        writer.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streamd", required=True, help="release streamd binary")
    parser.add_argument("--seconds", type=int, default=8, help="seconds per wrk run (default 8; parts stay ~10 s)")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--waiters", type=int, default=10_000)
    args = parser.parse_args()
    common.which("wrk")
    parts_input = common.make_input("parts-640x360-320k-200s.flv", "640x360", "320k", 200)
    segments_input = common.make_input("segments-1280x720-4M-200s.flv", "1280x720", "4M", 200)

    root = os.path.join(common.WORK, "nginx-delivery", "www")
    os.makedirs(root, exist_ok=True)
    port = common.free_port()
    nginx = common.Nginx("delivery", f"""worker_rlimit_nofile 16384;
http {{
  types {{ video/mp4 m4s mp4; application/vnd.apple.mpegurl m3u8; }}
  access_log off; sendfile on; tcp_nopush on; tcp_nodelay on; keepalive_requests 1000000; etag on;
  server {{ listen 127.0.0.1:{port} reuseport backlog=4096; root {root};
    add_header Cache-Control "max-age=31536000, immutable"; add_header Access-Control-Allow-Origin "*"; }}
}}
""", workers="auto")
    server = common.Streamd(args.streamd, PART_TARGET, os.path.join(common.WORK, "streamd-data"))
    publishers = []
    rows, waiter_lines = [], []
    try:
        keys = {name: server.channel(name, common.PASSTHROUGH_ONLY) for name in ("parts", "segments")}
        for name, source in (("parts", parts_input), ("segments", segments_input)):
            publishers.append(common.publish(source, f"rtmp://127.0.0.1:{server.rtmp}/live/{keys[name]}",
                                             os.path.join(common.WORK, f"publish-{name}.log")))
        wait_for_segments(server, "parts", 3)
        wait_for_segments(server, "segments", 3)
        for kind, channel in (("part", "parts"), ("segment", "segments")):
            part, segment = newest(server, channel)
            name = part if kind == "part" else segment
            path = f"/live/{channel}/source/{name}"
            status, data = common.Client(server.http).get(path)
            if status != 200:
                raise SystemExit(f"{path}: HTTP {status}")
            os.makedirs(os.path.dirname(root + path), exist_ok=True)
            with open(root + path, "wb") as f:
                f.write(data)
            streamd_rate, streamd_mb, streamd_problems = wrk(server.base + path, args.seconds, args.connections)
            after, _ = common.Client(server.http).get(path)
            nginx_rate, nginx_mb, nginx_problems = wrk(f"http://127.0.0.1:{port}{path}", args.seconds, args.connections)
            rows.append((f"{kind} {name}", len(data), streamd_rate, streamd_mb, nginx_rate, nginx_mb,
                         streamd_rate / nginx_rate if nginx_rate else float("nan"),
                         " ".join(p for p in (streamd_problems and f"streamd: {streamd_problems}",
                                              nginx_problems and f"nginx: {nginx_problems}",
                                              after != 200 and f"streamd answered {after} after the run") if p)))
        waiter_lines = asyncio.run(blocked_requests(server, publishers[0], "parts", args.waiters))
    finally:
        for publisher in publishers:
            common.stop(publisher)
        server.stop()
        nginx.stop()

    log(f"\ndelivery: wrk -t2 -c{args.connections} -d{args.seconds}s on loopback, streamd part target {PART_TARGET} s")
    log(f"{'file':<24}{'bytes':>10}{'streamd req/s':>15}{'MB/s':>9}{'nginx req/s':>13}{'MB/s':>9}{'ratio':>7}  notes")
    for row in rows:
        log(f"{row[0]:<24}{row[1]:>10}{row[2]:>15.0f}{row[3]:>9.1f}{row[4]:>13.0f}{row[5]:>9.1f}{row[6]:>7.2f}  {row[7]}")
    log(f"\n{args.waiters} concurrent blocked playlist requests (_HLS_msn/_HLS_part = the next part)")
    for line in waiter_lines:
        log("  " + line)


if __name__ == "__main__":
    main()
