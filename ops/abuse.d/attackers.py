"""The hostile clients of ops/abuse, each run as a child process (`python3 attackers.py MODE
SPEC_JSON`) so their CPU does not share a GIL with the parent's measurements. Each prints progress
to stderr every few seconds and one JSON result on stdout at the end. Times are CLOCK_MONOTONIC
(`time.monotonic()`), which every process on the machine shares.

Modes:
  hold    many sockets held open by an epoll loop, per group: `http-idle` (connect, send nothing),
          `rtmp-silent` (connect, send nothing), `rtmp-handshake` (C0+C1+C2, then nothing),
          `slowloris` (an HTTP head one byte every `dribble` s, never finished), `play-flood`
          (handshake, then RTMP `connect` + `play` commands at full speed, never reading). A socket
          the server closes is recorded with its lifetime and, with `reopen`, replaced.
  http    HTTP/1.1 keep-alive request loops (asyncio), paced to `count` requests over `seconds`
          or as fast as `concurrency` connections go.
  badkey  RTMP publishes with wrong stream keys, handshake to `publish`, pipelined.
  chat    chat posts over WebSocket by one (banned) viewer; reconnects when the server closes.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import heapq
import json
import os
import random
import select
import socket
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)


def progress(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')} {sys.argv[1]}] {text}", file=sys.stderr, flush=True)


# --- hold ----------------------------------------------------------------------------------------

class Group:
    def __init__(self, spec: dict) -> None:
        self.name = spec["name"]
        self.kind = spec["kind"]
        self.port = spec["port"]
        self.count = spec["count"]
        self.sources = spec.get("sources") or ["127.0.0.1"]
        self.reopen = spec.get("reopen", True)
        self.reopen_delay = spec.get("reopen_delay", 1.0)
        self.open_rate = spec.get("open_rate", 2000.0)
        self.dribble = spec.get("dribble", 3.0)
        self.connect_timeout = spec.get("connect_timeout", 10.0)
        self.slots: list[float] = [0.0] * self.count  # heap of times a new socket may be opened
        self.source_index = 0
        self.open_now = 0
        self.peak_open = 0
        self.attempts = 0
        self.established = 0
        self.connect_errors: collections.Counter = collections.Counter()
        self.closes: collections.Counter = collections.Counter()
        self.lifetimes: list[float] = []      # established -> closed by the server
        self.bytes_sent = 0
        self.budget = 0.0
        if self.kind == "play-flood":
            commands = harness.rtmp_connect(self.port) + harness.rtmp_command(
                "play", 2, harness.AMF_NULL, harness.amf_string("flood"), stream_id=1, csid=8)
            self.flood = commands * max(1, 65536 // len(commands))

    def next_source(self) -> str:
        source = self.sources[self.source_index % len(self.sources)]
        self.source_index += 1
        return source


SLOW_HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: slowloris\r\nX-Slow: " + b"a" * 100000


class Conn:
    __slots__ = ("sock", "group", "opened", "established", "pending", "offset", "next_drip")

    def __init__(self, sock: socket.socket, group: Group) -> None:
        self.sock, self.group = sock, group
        self.opened = time.monotonic()
        self.established = 0.0
        self.pending = b""
        self.offset = 0
        self.next_drip = 0.0


def hold(spec: dict) -> dict:
    harness.raise_nofile()
    seconds = spec["seconds"]
    groups = [Group(g) for g in spec["groups"]]
    epoll = select.epoll()
    conns: dict[int, Conn] = {}
    started = time.monotonic()
    deadline = started + seconds
    last_tick = started
    last_report = started

    def open_one(group: Group, now: float) -> None:
        group.attempts += 1
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((group.next_source(), 0))
            code = sock.connect_ex(("127.0.0.1", group.port))
        except OSError as error:
            sock.close()
            group.connect_errors[errno.errorcode.get(error.errno, str(error.errno))] += 1
            heapq.heappush(group.slots, now + group.reopen_delay)
            return
        if code not in (0, errno.EINPROGRESS):
            sock.close()
            group.connect_errors[errno.errorcode.get(code, str(code))] += 1
            heapq.heappush(group.slots, now + group.reopen_delay)
            return
        conn = Conn(sock, group)
        conns[sock.fileno()] = conn
        epoll.register(sock.fileno(), select.EPOLLOUT | select.EPOLLRDHUP)
        group.open_now += 1
        group.peak_open = max(group.peak_open, group.open_now)

    def finish(conn: Conn, reason: str, now: float, by_server: bool = True) -> None:
        fd = conn.sock.fileno()
        try:
            epoll.unregister(fd)
        except (OSError, ValueError):
            pass
        conns.pop(fd, None)
        conn.sock.close()
        group = conn.group
        group.open_now -= 1
        if conn.established:
            if by_server:
                group.closes[reason] += 1
                group.lifetimes.append(now - conn.established)
        else:
            group.connect_errors[reason] += 1
        if group.reopen and now < deadline:
            heapq.heappush(group.slots, now + (group.reopen_delay if conn.established else max(group.reopen_delay, 0.5)))

    def on_established(conn: Conn, now: float) -> None:
        conn.established = now
        group = conn.group
        group.established += 1
        if group.kind == "http-idle" or group.kind == "rtmp-silent":
            epoll.modify(conn.sock.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        elif group.kind == "rtmp-handshake":
            conn.pending = harness.rtmp_handshake()
            send_pending(conn, now)
            if conn.sock.fileno() in conns:
                epoll.modify(conn.sock.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        elif group.kind == "slowloris":
            conn.next_drip = now + random.uniform(0, group.dribble)
            epoll.modify(conn.sock.fileno(), select.EPOLLIN | select.EPOLLRDHUP)
        elif group.kind == "play-flood":
            conn.pending = harness.rtmp_handshake()
            epoll.modify(conn.sock.fileno(), select.EPOLLOUT | select.EPOLLRDHUP)  # never EPOLLIN: never read
            flood(conn, now)

    def send_pending(conn: Conn, now: float) -> bool:
        while conn.pending:
            try:
                sent = conn.sock.send(conn.pending)
            except BlockingIOError:
                return True
            except OSError as error:
                finish(conn, errno.errorcode.get(error.errno, "send-error").lower(), now)
                return False
            conn.group.bytes_sent += sent
            conn.pending = conn.pending[sent:]
        return True

    def flood(conn: Conn, now: float) -> None:
        group = conn.group
        for _ in range(64):  # bounded per wake-up so one socket cannot starve the others
            if not conn.pending:
                conn.pending = group.flood
            if not send_pending(conn, now):
                return
            if conn.pending:
                return

    def drain(conn: Conn, now: float) -> None:
        try:
            while True:
                data = conn.sock.recv(65536)
                if not data:
                    finish(conn, "fin", now)
                    return
        except BlockingIOError:
            return
        except OSError as error:
            finish(conn, errno.errorcode.get(error.errno, "recv-error").lower(), now)

    while True:
        now = time.monotonic()
        if now >= deadline:
            break
        # Open sockets whose slots are due, within each group's rate.
        elapsed = now - last_tick
        last_tick = now
        for group in groups:
            group.budget = min(group.budget + elapsed * group.open_rate, group.open_rate)
            while group.slots and group.slots[0] <= now and group.budget >= 1 and now < deadline:
                heapq.heappop(group.slots)
                group.budget -= 1
                open_one(group, now)
        timeout = 0.05
        for fd, events in epoll.poll(timeout, 4096):
            conn = conns.get(fd)
            if conn is None:
                continue
            now = time.monotonic()
            if not conn.established:
                code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if code:
                    finish(conn, errno.errorcode.get(code, str(code)), now)
                    continue
                if events & select.EPOLLOUT:
                    on_established(conn, now)
                    if fd not in conns:
                        continue
                    if conn.group.kind != "play-flood":
                        continue
                    events &= ~select.EPOLLOUT
            kind = conn.group.kind
            if kind == "play-flood":
                if events & (select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR):
                    code = conn.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    finish(conn, errno.errorcode.get(code, "rst").lower() if code else
                           ("hup" if events & select.EPOLLHUP else "fin"), now)
                elif events & select.EPOLLOUT:
                    flood(conn, now)
            else:
                if events & (select.EPOLLIN | select.EPOLLRDHUP | select.EPOLLHUP | select.EPOLLERR):
                    drain(conn, now)
                    if fd in conns and events & (select.EPOLLHUP | select.EPOLLERR):
                        finish(conn, "hup", now)
        # Housekeeping: connect timeouts and slowloris drips.
        now = time.monotonic()
        if now - last_report >= 0.25:
            for conn in list(conns.values()):
                if not conn.established:
                    if now - conn.opened > conn.group.connect_timeout:
                        finish(conn, "connect-timeout", now)
                elif conn.group.kind == "slowloris" and now >= conn.next_drip:
                    conn.next_drip = now + conn.group.dribble
                    byte = SLOW_HEAD[conn.offset:conn.offset + 1]
                    conn.offset += 1
                    try:
                        conn.sock.send(byte)
                        conn.group.bytes_sent += 1
                    except BlockingIOError:
                        pass
                    except OSError as error:
                        finish(conn, errno.errorcode.get(error.errno, "send-error").lower(), now)
            if int(now - started) // 5 != int(last_report - started) // 5:
                progress("; ".join(f"{g.name}: open {g.open_now}, closed by server {sum(g.closes.values())}, "
                                   f"connect errors {sum(g.connect_errors.values())}" for g in groups))
            last_report = now

    now = time.monotonic()
    result = {"started": started, "ended": now, "groups": {}}
    for group in groups:
        ages = [now - c.established for c in conns.values() if c.group is group and c.established]
        result["groups"][group.name] = {
            "kind": group.kind, "attempts": group.attempts, "established": group.established,
            "peak_open": group.peak_open, "open_at_end": group.open_now, "still_open_ages": ages,
            "connect_errors": dict(group.connect_errors), "closes": dict(group.closes),
            "lifetimes": group.lifetimes, "bytes_sent": group.bytes_sent,
        }
    for conn in list(conns.values()):
        conn.sock.close()
    return result


# --- asyncio helpers -------------------------------------------------------------------------------

class Pacer:
    """Hands out request numbers 0..count-1, each no earlier than start + i / rate (no pacing when
    rate is 0), until `count` or the deadline."""

    def __init__(self, count: int, seconds: float, paced: bool) -> None:
        self.count, self.next = count, 0
        self.start = time.monotonic()
        self.deadline = self.start + seconds
        self.rate = count / seconds if paced and seconds > 0 else 0.0

    async def ticket(self) -> int | None:
        if self.next >= self.count or time.monotonic() >= self.deadline:
            return None
        number = self.next
        self.next += 1
        if self.rate:
            delay = self.start + number / self.rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        return number if time.monotonic() < self.deadline else None


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Reads one HTTP/1.1 response; (status, whether the server will close the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if b":" in line:
            key, _, value = line.partition(b":")
            headers[key.strip().lower()] = value.strip().lower()
    if b"content-length" in headers:
        await reader.readexactly(int(headers[b"content-length"]))
    elif headers.get(b"transfer-encoding") == b"chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status, headers.get(b"connection") == b"close"


def build_request(kind: str, spec: dict, number: int) -> bytes:
    host = f"Host: 127.0.0.1:{spec['port']}\r\n"
    if kind == "vod":
        return f"GET /vod/{uuid.uuid4()}/index.m3u8 HTTP/1.1\r\n{host}\r\n".encode()
    if kind == "history":
        channel = random.choice(spec["channels"])
        return f"GET /v1/chat/{channel}/history HTTP/1.1\r\n{host}\r\n".encode()
    if kind == "viewers":
        body = json.dumps({"name": f"flood{number}x{uuid.uuid4().hex[:6]}"}).encode()
        return (f"POST /v1/viewers HTTP/1.1\r\n{host}Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                .encode() + body)
    raise ValueError(kind)


async def http_flood(spec: dict) -> dict:
    harness.raise_nofile()
    kinds = spec["kinds"]
    pacer = Pacer(spec["count"], spec["seconds"], spec.get("paced", True))
    sources = spec.get("sources") or ["127.0.0.1"]
    statuses: dict[str, collections.Counter] = {k: collections.Counter() for k in kinds}
    latencies: dict[str, list[float]] = {k: [] for k in kinds}
    errors: collections.Counter = collections.Counter()
    connects = 0

    async def worker(index: int) -> None:
        nonlocal connects
        reader = writer = None
        source = sources[index % len(sources)]
        while True:
            number = await pacer.ticket()
            if number is None:
                break
            kind = kinds[number % len(kinds)]
            for attempt in range(2):
                try:
                    if writer is None:
                        connects += 1
                        reader, writer = await asyncio.wait_for(
                            asyncio.open_connection("127.0.0.1", spec["port"], local_addr=(source, 0), limit=1 << 20), 10)
                    started = time.monotonic()
                    writer.write(build_request(kind, spec, number))
                    status, close = await asyncio.wait_for(read_response(reader), spec.get("timeout", 30))
                    latencies[kind].append(time.monotonic() - started)
                    statuses[kind][status] += 1
                    if close:
                        writer.close()
                        reader = writer = None
                    break
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, asyncio.LimitOverrunError,
                        ValueError, IndexError) as error:
                    errors[type(error).__name__ + (f"({error.errno})" if isinstance(error, OSError) and error.errno else "")] += 1
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    if attempt == 1:
                        statuses[kind][-1] += 1
                    await asyncio.sleep(0.05)
        if writer is not None:
            writer.close()

    async def report() -> None:
        while True:
            await asyncio.sleep(5)
            done = sum(sum(c.values()) for c in statuses.values())
            progress(f"{done} answered of {pacer.next} issued, {sum(errors.values())} errors, {connects} connects")

    reporter = asyncio.ensure_future(report())
    await asyncio.gather(*(worker(i) for i in range(spec["concurrency"])))
    reporter.cancel()
    ended = time.monotonic()
    return {"started": pacer.start, "ended": ended, "issued": pacer.next, "connects": connects,
            "statuses": {k: {str(s): n for s, n in c.items()} for k, c in statuses.items()},
            "latencies": latencies, "errors": dict(errors)}


async def badkey_flood(spec: dict) -> dict:
    harness.raise_nofile()
    pacer = Pacer(spec["count"], spec["seconds"], spec.get("paced", True))
    outcomes: collections.Counter = collections.Counter()
    durations: list[float] = []
    port = spec["port"]
    source = spec.get("source", "127.0.0.1")

    def request() -> bytes:
        key = "sk_" + uuid.uuid4().hex
        return (harness.rtmp_handshake() + harness.rtmp_connect(port)
                + harness.rtmp_command("createStream", 2, harness.AMF_NULL)
                + harness.rtmp_command("publish", 3, harness.AMF_NULL, harness.amf_string(key), harness.amf_string("live"),
                                       stream_id=1, csid=8))

    async def attempt() -> None:
        started = time.monotonic()
        writer = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), 10)
            writer.write(request())
            received = b""
            try:
                async with asyncio.timeout(spec.get("wait", 10)):
                    while True:
                        data = await reader.read(65536)
                        if not data:
                            break
                        received += data
                        if b"Publish.Start" in received:
                            break
            except TimeoutError:
                outcomes["still open after %ss" % spec.get("wait", 10)] += 1
                return
            if b"Publish.Start" in received:
                outcomes["ACCEPTED (publish started)"] += 1
            elif b"Connect.Rejected" in received:
                outcomes["connect rejected with a message, then closed"] += 1
            elif b"NetStream.Publish" in received or b"_error" in received:
                outcomes["publish refused with a message, then closed"] += 1
            elif len(received) == 0:
                outcomes["closed before any answer"] += 1
            elif len(received) < 3073:
                outcomes["closed during the handshake"] += 1
            else:
                outcomes["closed after the handshake, no refusal message read"] += 1
        except ConnectionResetError:
            outcomes["reset"] += 1
        except (OSError, asyncio.TimeoutError) as error:
            outcomes[f"connect error {type(error).__name__}"] += 1
        finally:
            durations.append(time.monotonic() - started)
            if writer is not None:
                writer.close()

    async def worker() -> None:
        while await pacer.ticket() is not None:
            await attempt()

    async def report() -> None:
        while True:
            await asyncio.sleep(5)
            progress(f"{sum(outcomes.values())} done of {pacer.next} issued: {dict(outcomes)}")

    reporter = asyncio.ensure_future(report())
    await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
    reporter.cancel()
    return {"started": pacer.start, "ended": time.monotonic(), "issued": pacer.next, "outcomes": dict(outcomes),
            "durations": durations}


async def chat_flood(spec: dict) -> dict:
    pacer = Pacer(spec["count"], spec["seconds"], spec.get("paced", True))
    port, channel, token = spec["port"], spec["channel"], spec["token"]
    sent = 0
    replies: collections.Counter = collections.Counter()
    closes: collections.Counter = collections.Counter()
    connect_errors: collections.Counter = collections.Counter()
    connects = 0

    async def reader_task(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = bytearray()
        while True:
            data = await reader.read(65536)
            if not data:
                closes["eof"] += 1
                return
            buffer += data
            while (frame := harness.ws_parse(buffer)) is not None:
                opcode, payload = frame
                if opcode == 8:
                    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                    closes[f"close {code}"] += 1
                    return
                if opcode == 9:
                    writer.write(harness.ws_frame(payload, opcode=10))
                elif opcode == 1:
                    try:
                        message = json.loads(payload)
                    except ValueError:
                        continue
                    kind = message.get("type")
                    replies[f"{kind} {message.get('code', '')}".strip()] += 1

    async def worker() -> None:
        nonlocal sent, connects
        pending: int | None = None
        while True:
            try:
                connects += 1
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port, local_addr=(spec.get("source", "127.0.0.1"), 0)), 10)
                head, _ = harness.ws_request(port, f"/v1/chat/{channel}?token={token}")
                writer.write(head)
                answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                if b" 101 " not in answer.split(b"\r\n")[0] + b" ":
                    connect_errors[answer.split(b"\r\n")[0].decode(errors="replace")] += 1
                    writer.close()
                    await asyncio.sleep(0.2)
                    continue
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError) as error:
                connect_errors[type(error).__name__] += 1
                await asyncio.sleep(0.2)
                if time.monotonic() > pacer.deadline:
                    return
                continue
            listener = asyncio.ensure_future(reader_task(reader, writer))
            try:
                while not listener.done():
                    number = pending if pending is not None else await pacer.ticket()
                    if number is None:
                        return
                    pending = number
                    writer.write(harness.ws_frame(json.dumps({"type": "send", "text": f"spam {number}",
                                                              "nonce": str(number)}).encode()))
                    await writer.drain()
                    if listener.done():
                        break  # closed meanwhile: this post may not have been read; send it again
                    sent += 1
                    pending = None
            except OSError:
                pass
            finally:
                if not listener.done():
                    await asyncio.sleep(0.2)  # let the last replies in
                    listener.cancel()
                writer.close()

    async def report() -> None:
        while True:
            await asyncio.sleep(5)
            progress(f"{sent} posts sent, {connects} sockets, replies {dict(replies)}, closes {dict(closes)}")

    reporter = asyncio.ensure_future(report())
    await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
    reporter.cancel()
    return {"started": pacer.start, "ended": time.monotonic(), "sent": sent, "connects": connects,
            "replies": dict(replies), "closes": dict(closes), "connect_errors": dict(connect_errors)}


def main() -> None:
    mode, spec = sys.argv[1], json.loads(sys.argv[2])
    if mode == "hold":
        result = hold(spec)
    elif mode == "http":
        result = asyncio.run(http_flood(spec))
    elif mode == "badkey":
        result = asyncio.run(badkey_flood(spec))
    elif mode == "chat":
        result = asyncio.run(chat_flood(spec))
    else:
        raise SystemExit(f"unknown mode {mode}")
    import resource
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
