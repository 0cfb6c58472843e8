"""Shared pieces of ops/abuse and ops/soak: a throwaway PostgreSQL cluster, a `streamd serve`
process on fixed ports, /proc sampling, probes (/healthz, admin routes), an LL-HLS part tracker
with blocking playlist reloads, ffmpeg publishers, and the wire formats the hostile clients
speak (RTMP handshake, chunks and AMF0; WebSocket frames). Python 3.11 standard library only.

Every figure is measured with real sockets against a real streamd; nothing here mocks the server.
"""

from __future__ import annotations

import base64
import glob
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ADMIN_TOKEN = "abuse-admin-token-" + "x" * 16

#: Source addresses for clients that must not all come from one address (per-address caps).
SOURCES = [f"127.0.0.{i}" for i in range(2, 255)]


def log(*parts: object) -> None:
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(round(p / 100 * len(ordered) + 0.5))))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return "n/a" if seconds != seconds else f"{seconds * 1000:.0f} ms"


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def udp_port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def raise_nofile() -> int:
    """Raises this process's soft open-file limit to its hard limit; returns the new soft limit."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# --- /proc ------------------------------------------------------------------------------------

def proc_stats(pid: int) -> dict | None:
    """RSS and peak RSS (KiB), open descriptors and threads of a live process; None once it is gone."""
    try:
        fields = {}
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM", "Threads"):
                    fields[key] = int(value.split()[0])
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        return {"rss_kib": fields.get("VmRSS", 0), "hwm_kib": fields.get("VmHWM", 0),
                "threads": fields.get("Threads", 0), "fds": fds}
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def cpu_seconds(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (FileNotFoundError, ProcessLookupError):
        return float("nan")


def nofile_limits(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    parts = line.split()
                    return f"soft {parts[3]}, hard {parts[4]}"
    except OSError:
        pass
    return "unknown"


# --- PostgreSQL -------------------------------------------------------------------------------

class Cluster:
    """A throwaway PostgreSQL cluster (initdb in /tmp, trust auth, 127.0.0.1 only) on a port in
    `ports`, durable unless `fast` (fsync, synchronous_commit and full_page_writes off). Removed by
    `stop()`. As root it belongs to, and runs as, the postgres user (as in ops/test)."""

    def __init__(self, ports: range, fast: bool = False) -> None:
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                            key=lambda p: [int(x) for x in re.findall(r"\d+", p)])
        if not candidates:
            raise SystemExit("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin); run ops/install")
        self.bindir = candidates[-1]
        self.scratch = tempfile.mkdtemp(prefix="streamd-abuse-pg.")
        os.chmod(self.scratch, 0o755)
        self.as_postgres = []
        if os.geteuid() == 0:
            shutil.chown(self.scratch, "postgres", "postgres")
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        self.data = os.path.join(self.scratch, "data")
        self.fast = fast
        self._run("initdb", "-D", self.data, "-U", "postgres", "--auth=trust", "--no-locale", "-E", "UTF8")
        options = "-c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c max_connections=300"
        if fast:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        for port in random.sample(list(ports), min(len(ports), 8)):
            if not port_free(port):
                continue
            result = subprocess.run(self.as_postgres + [f"{self.bindir}/pg_ctl", "-D", self.data, "-l",
                                                        f"{self.data}/server.log", "-w", "-o", f"-p {port} {options}", "start"],
                                    capture_output=True, text=True)
            if result.returncode == 0:
                self.port = port
                return
        tail = open(f"{self.data}/server.log").read()[-2000:] if os.path.exists(f"{self.data}/server.log") else ""
        raise SystemExit(f"the throwaway PostgreSQL did not start:\n{tail}")

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(self.as_postgres + [f"{self.bindir}/{tool}", *args], capture_output=True, text=True)
        if result.returncode != 0:
            raise SystemExit(f"{tool} failed: {result.stdout}{result.stderr}")

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres", timeout: float = 30) -> str:
        result = subprocess.run(["psql", "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
                                 "-U", "postgres", "-d", database, "-c", sql],
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"psql: {result.stderr.strip()}")
        return result.stdout.strip()

    def create_database(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def connections(self, database: str) -> tuple[int, int]:
        """(every row of pg_stat_activity, client backends connected to `database`), read from the
        maintenance database so the reading connection is not in the second figure."""
        text = self.psql("SELECT count(*), count(*) FILTER (WHERE datname = '%s' AND backend_type = 'client backend') "
                         "FROM pg_stat_activity" % database, timeout=20)
        total, mine = text.split("|")
        return int(total), int(mine)

    def count_events(self, database: str) -> int:
        return int(self.psql("SELECT count(*) FROM events", database))

    def events_by_type(self, database: str, after_position: int = 0) -> list[tuple[str, int]]:
        text = self.psql(f"SELECT event_type, count(*) FROM events WHERE position > {after_position} GROUP BY event_type ORDER BY 2 DESC",
                         database)
        rows = []
        for line in text.splitlines():
            if "|" in line:
                kind, count = line.rsplit("|", 1)
                rows.append((kind, int(count)))
        return rows

    def max_position(self, database: str) -> int:
        return int(self.psql("SELECT coalesce(max(position), 0) FROM events", database))

    def stop(self) -> None:
        subprocess.run(self.as_postgres + [f"{self.bindir}/pg_ctl", "-D", self.data, "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(self.scratch, ignore_errors=True)


# --- streamd ----------------------------------------------------------------------------------

def find_streamd() -> str:
    binary = os.environ.get("STREAMD_BIN") or os.path.join(ROOT, ".build-release", "release", "streamd")
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"no streamd binary at {binary}: build it (swift build -c release --scratch-path .build-release "
                         f"--product streamd) or set STREAMD_BIN")
    return binary


class Streamd:
    """`streamd serve` on 127.0.0.1 with fixed ports (HTTP, RTMP, SRT = base, base+1, base+2), a
    database URL, a data folder of its own and a known admin token. `nofile_soft` starts it under
    that soft open-file limit (as `ulimit -n N` would)."""

    def __init__(self, binary: str, database_url: str, data_dir: str, port_base: int, logfile: str,
                 part_target: float = 0.5, recording: bool = False, nofile_soft: int | None = None,
                 env: dict | None = None) -> None:
        self.http, self.rtmp, self.srt = port_base, port_base + 1, port_base + 2
        for port in (self.http, self.rtmp):
            if not port_free(port):
                raise SystemExit(f"port {port} is in use; pick other ports with --port-base")
        if not udp_port_free(self.srt):
            raise SystemExit(f"UDP port {self.srt} is in use; pick other ports with --port-base")
        self.base = f"http://127.0.0.1:{self.http}"
        self.logfile = logfile
        os.makedirs(data_dir, exist_ok=True)
        os.chmod(data_dir, 0o755)

        def limits() -> None:
            if nofile_soft is not None:
                import resource
                _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile_soft, hard))

        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [binary, "serve", "--data-dir", data_dir, "--database-url", database_url, "--host", "127.0.0.1",
             "--http-port", str(self.http), "--rtmp-port", str(self.rtmp), "--srt-port", str(self.srt),
             "--admin-token", ADMIN_TOKEN, "--part-target", str(part_target), "--recording", "true" if recording else "false"],
            env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, stdout=open(logfile, "ab"),
            stderr=subprocess.STDOUT, preexec_fn=limits)
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"streamd exited with {self.process.returncode} at start; see {logfile}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"streamd did not answer /healthz within 120 s; see {logfile}")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.logfile, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - 20000))
                return "\n".join(f.read().decode(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def crash_summary(self) -> str:
        """The exit status and, when the log has a Swift backtrace or fatal error, its key lines."""
        code = self.process.poll()
        if code is None:
            return "running"
        lines = []
        try:
            with open(self.logfile, errors="replace") as f:
                text = f.read().splitlines()
        except OSError:
            text = []
        for index, line in enumerate(text):
            if "Program crashed" in line or "Fatal error" in line or "precondition" in line.lower():
                lines.append(line.strip())
            if line.rstrip().endswith("crashed:"):
                lines += [frame.strip() for frame in text[index + 2:index + 6] if frame.strip()]
        return f"streamd EXITED with status {code}" + ("; " + " | ".join(lines[:6]) if lines else "")

    def admin(self, method: str, path: str, body: object | None = None, timeout: float = 30) -> tuple[int, str]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def create_channel(self, name: str, ladder: dict | None = None) -> str:
        """Creates (or re-keys) a channel; sets `ladder` when given; returns its stream key."""
        status, text = self.admin("POST", "/v1/channels", {"name": name})
        if status == 409:
            status, text = self.admin("POST", f"/v1/channels/{name}/key")
        if status not in (200, 201):
            raise SystemExit(f"creating channel {name}: {status} {text}")
        key = json.loads(text)["streamKey"]
        if ladder is not None:
            status, text = self.admin("PUT", f"/v1/channels/{name}/ladder", ladder)
            if status != 200:
                raise SystemExit(f"setting the ladder of {name}: {status} {text}")
        return key

    def stop(self, wait: float = 60) -> int | None:
        """SIGTERM, then SIGKILL after `wait`; the exit status (negative: killed by that signal)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(wait)
            except subprocess.TimeoutExpired:
                log(f"streamd did not stop within {wait:.0f} s of SIGTERM; killing it")
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def ladder(*rungs: dict) -> dict:
    return {"rungs": list(rungs), "audio": {"bitrate": 128000, "sampleRate": 48000, "channels": 2},
            "preset": "ultrafast", "keyframeInterval": 2, "maxPassthroughKeyframeInterval": 4, "allowsPassthrough": True}


def rung(name: str, height: int, bitrate: int, frame_rate: int = 30) -> dict:
    return {"name": name, "height": height, "frameRate": frame_rate, "bitrate": bitrate, "profile": "main", "priority": 0}


#: A rung taller than any input is skipped (streamd never upscales): only the source is packaged.
PASSTHROUGH_ONLY = ladder(rung("2160p", 2160, 20_000_000))
#: The source passed through plus one small encoded rung, to keep a transcoder in the loop.
PASSTHROUGH_AND_240P = ladder(rung("240p", 240, 300_000, 15))


# --- HTTP probes ------------------------------------------------------------------------------

def http_request(port: int, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                 timeout: float = 10, source: str | None = None) -> tuple[int, bytes, float]:
    """One request on a fresh connection: (status or -1 on error, body or error text, seconds)."""
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                            source_address=(source, 0) if source else None)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        reply = connection.getresponse()
        data = reply.read()
        return reply.status, data, time.monotonic() - started
    except (OSError, http.client.HTTPException) as error:
        return -1, f"{type(error).__name__}: {error}".encode(), time.monotonic() - started
    finally:
        connection.close()


class Probe(threading.Thread):
    """Requests one route every `interval` s on a fresh connection (so accept is measured too) and
    records (monotonic time, seconds, status)."""

    def __init__(self, port: int, path: str, interval: float, method: str = "GET", admin: bool = False,
                 body_fn=None, timeout: float = 10) -> None:
        super().__init__(daemon=True)
        self.port, self.path, self.interval, self.method = port, path, interval, method
        self.headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"} if admin else {}
        self.body_fn, self.timeout = body_fn, timeout
        self.samples: list[tuple[float, float, int]] = []
        self.failures: list[str] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            started = time.monotonic()
            body = self.body_fn() if self.body_fn else None
            status, data, seconds = http_request(self.port, self.method, self.path, body=body, headers=self.headers,
                                                 timeout=self.timeout)
            self.samples.append((started, seconds, status))
            if status < 200 or status >= 300:
                if len(self.failures) < 20:
                    self.failures.append(f"{status} {data[:160]!r}")
            self.halt.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def stop(self) -> None:
        self.halt.set()
        self.join(self.timeout + 5)

    def summary(self, since: float = 0, until: float = float("inf")) -> dict:
        rows = [s for s in self.samples if since <= s[0] <= until]
        latencies = [s[1] for s in rows]
        ok = [s for s in rows if 200 <= s[2] < 300]
        return {"count": len(rows), "ok": len(ok), "p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
                "max": max(latencies) if latencies else float("nan"),
                "statuses": sorted({s[2] for s in rows})}

    def describe(self, since: float = 0, until: float = float("inf")) -> str:
        s = self.summary(since, until)
        return (f"{self.method} {self.path}: {s['ok']}/{s['count']} ok, p50 {ms(s['p50'])}, p99 {ms(s['p99'])}, "
                f"max {ms(s['max'])}, statuses {s['statuses']}")


class Sampler(threading.Thread):
    """/proc figures of a process every `interval` s: (monotonic time, stats dict)."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, dict]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            stats = proc_stats(self.pid)
            if stats is None:
                return
            self.samples.append((time.monotonic(), stats))
            self.halt.wait(self.interval)

    def stop(self) -> None:
        self.halt.set()
        self.join(5)

    def window(self, since: float, until: float = float("inf")) -> list[dict]:
        return [s for t, s in self.samples if since <= t <= until]

    def before(self, moment: float) -> dict | None:
        rows = [s for t, s in self.samples if t <= moment]
        return rows[-1] if rows else None


# --- LL-HLS -----------------------------------------------------------------------------------

PART_LINE_RE = re.compile(r'#EXT-X-PART:DURATION=([\d.]+),URI="([^"]+)"')
HINT_RE = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s(\d+)\.p(\d+)\.m4s"')


class KeepAlive:
    """One keep-alive HTTP/1.1 connection that reconnects once per request on failure."""

    def __init__(self, port: int, timeout: float = 15, source: str | None = None) -> None:
        self.port, self.timeout, self.source = port, timeout, source
        self.connection: http.client.HTTPConnection | None = None
        self.reconnects = 0

    def _open(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout,
                                          source_address=(self.source, 0) if self.source else None)

    def get(self, path: str) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.connection is None:
                self.connection = self._open()
            try:
                self.connection.request("GET", path)
                reply = self.connection.getresponse()
                return reply.status, reply.read()
            except (http.client.HTTPException, OSError):
                self.close()
                self.reconnects += 1
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class PartTracker(threading.Thread):
    """Follows a live rendition's playlist with blocking reloads (`_HLS_msn`/`_HLS_part` of the
    preload hint) and records when each part is first listed: (monotonic time, part name, duration)."""

    def __init__(self, port: int, channel: str, rendition: str = "source", fetch_parts: bool = False) -> None:
        super().__init__(daemon=True)
        self.port, self.path = port, f"/live/{channel}/{rendition}/index.m3u8"
        self.base = f"/live/{channel}/{rendition}/"
        self.fetch_parts = fetch_parts
        self.arrivals: list[tuple[float, str, float]] = []
        self.seen: set[str] = set()
        self.errors: list[str] = []
        self.requests = 0
        self.halt = threading.Event()

    def run(self) -> None:
        client = KeepAlive(self.port, timeout=15)
        parts_client = KeepAlive(self.port, timeout=15)
        query = ""
        while not self.halt.is_set():
            try:
                status, body = client.get(self.path + query)
            except OSError as error:
                self._error(f"{type(error).__name__}: {error}")
                self.halt.wait(0.2)
                query = ""
                continue
            now = time.monotonic()
            self.requests += 1
            if status != 200:
                self._error(f"HTTP {status}")
                self.halt.wait(0.2)
                query = ""
                continue
            text = body.decode(errors="replace")
            for duration, uri in PART_LINE_RE.findall(text):
                if uri not in self.seen:
                    self.seen.add(uri)
                    if self.seen_initial:  # parts listed in the first answer came before we looked
                        self.arrivals.append((now, uri, float(duration)))
                    if self.fetch_parts:
                        try:
                            parts_client.get(self.base + uri)
                        except OSError:
                            pass
            self.seen_initial = True
            hint = HINT_RE.search(text)
            query = f"?_HLS_msn={hint.group(1)}&_HLS_part={hint.group(2)}" if hint else ""
            if not hint:
                self.halt.wait(0.1)
        client.close()
        parts_client.close()

    seen_initial = False

    def _error(self, text: str) -> None:
        if len(self.errors) < 50:
            self.errors.append(f"{time.monotonic():.1f} {text}")

    def stop(self) -> None:
        self.halt.set()
        self.join(20)

    def gaps(self, since: float = 0, until: float = float("inf")) -> dict:
        """Longest time between consecutive part arrivals in the window, and the longest excess of
        such a gap over the newer part's own duration (a part lasting 0.5 s arriving 0.5 s after the
        last is on time; 1.2 s after it is 0.7 s late)."""
        rows = [a for a in self.arrivals if since <= a[0] <= until]
        worst_gap, worst_excess, at = 0.0, 0.0, None
        for previous, current in zip(rows, rows[1:]):
            gap = current[0] - previous[0]
            worst_gap = max(worst_gap, gap)
            excess = gap - current[2]
            if excess > worst_excess:
                worst_excess, at = excess, current[1]
        last_arrival = rows[-1][0] if rows else None
        return {"parts": len(rows), "max_gap": worst_gap, "max_excess": worst_excess, "worst_part": at,
                "silent_tail": (min(until, time.monotonic()) - last_arrival) if last_arrival else float("inf")}

    def wait_for_parts(self, count: int, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if len(self.arrivals) >= count:
                return True
            time.sleep(0.2)
        return False


def wait_for_playlist(port: int, channel: str, seconds: float = 60, rendition: str = "source") -> bool:
    client = KeepAlive(port)
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            try:
                status, body = client.get(f"/live/{channel}/{rendition}/index.m3u8")
                if status == 200 and PART_LINE_RE.search(body.decode(errors="replace")):
                    return True
            except OSError:
                pass
            time.sleep(0.5)
        return False
    finally:
        client.close()


# --- ffmpeg -----------------------------------------------------------------------------------

def make_input(directory: str, seconds: int = 60) -> str:
    """A pre-encoded FLV (640x360 30 fps H.264 500 kbit/s CBR, 2 s GOP, no B-frames + AAC) that
    publishers loop with `-c copy`, so the harness spends no encoder CPU while it measures."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"input-640x360-500k-{seconds}s.flv")
    if os.path.exists(path) and os.path.getsize(path) > 0:
        return path
    log(f"making {path}")
    subprocess.run([
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=sample_rate=48000",
        "-t", str(seconds), "-c:v", "libx264", "-preset", "veryfast", "-bf", "0", "-b:v", "500k", "-maxrate", "500k",
        "-bufsize", "500k", "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "96k", "-f", "flv", path + ".tmp",
    ], check=True)
    os.replace(path + ".tmp", path)
    return path


def publish_file(source: str, url: str, logfile: str) -> subprocess.Popen:
    """ffmpeg looping a pre-encoded file in real time without re-encoding (RTMP)."""
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "warning", "-re", "-stream_loop", "-1", "-i", source, "-c", "copy",
         "-f", "flv", url],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(logfile, "ab"))


def publish_testsrc(url: str, logfile: str, protocol: str = "rtmp", seconds: float | None = None) -> subprocess.Popen:
    """ffmpeg encoding a live test pattern (testsrc2 640x360 30 fps + sine, x264 veryfast, 2 s GOP)
    and publishing it over RTMP (FLV) or SRT (MPEG-TS)."""
    command = ["ffmpeg", "-hide_banner", "-loglevel", "warning", "-re",
               "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-f", "lavfi", "-i", "sine=sample_rate=48000"]
    if seconds:
        command += ["-t", f"{seconds:.1f}"]
    command += ["-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-b:v", "600k", "-g", "60",
                "-keyint_min", "60", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k"]
    command += ["-f", "flv", url] if protocol == "rtmp" else ["-f", "mpegts", url]
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(logfile, "ab"))


def stop_process(process: subprocess.Popen | None, sig: int = signal.SIGTERM, wait: float = 10) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(wait)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def rtmp_url(server: Streamd, key: str) -> str:
    return f"rtmp://127.0.0.1:{server.rtmp}/live/{key}"


def srt_url(server: Streamd, key: str) -> str:
    return f"srt://127.0.0.1:{server.srt}?streamid=#!::r=live/{key},m=publish&latency=120000"


# --- RTMP wire format -------------------------------------------------------------------------

def amf_number(value: float) -> bytes:
    return b"\x00" + struct.pack(">d", value)


def amf_string(value: str) -> bytes:
    data = value.encode()
    return b"\x02" + struct.pack(">H", len(data)) + data


AMF_NULL = b"\x05"


def amf_object(items: dict) -> bytes:
    out = b"\x03"
    for key, value in items.items():
        name = key.encode()
        out += struct.pack(">H", len(name)) + name
        if isinstance(value, str):
            out += amf_string(value)
        elif isinstance(value, bool):
            out += b"\x01" + (b"\x01" if value else b"\x00")
        else:
            out += amf_number(float(value))
    return out + b"\x00\x00\x09"


def rtmp_handshake(c2: bool = True) -> bytes:
    """C0 + C1 (plain: time, zero, random) and, since streamd does not check C2, a random C2 right
    behind, so a client can finish the handshake without reading S0/S1/S2."""
    c1 = struct.pack(">II", int(time.time()) & 0xFFFFFFFF, 0) + os.urandom(1528)
    return b"\x03" + c1 + (os.urandom(1536) if c2 else b"")


def rtmp_chunks(payload: bytes, type_id: int, stream_id: int = 0, csid: int = 3, chunk_size: int = 128,
                timestamp: int = 0) -> bytes:
    """One RTMP message as chunks: a type-0 header, then type-3 continuation headers."""
    header = bytes([csid & 0x3F]) + struct.pack(">I", timestamp)[1:] + struct.pack(">I", len(payload))[1:] \
        + bytes([type_id]) + struct.pack("<I", stream_id)
    parts = [header, payload[:chunk_size]]
    continuation = bytes([0xC0 | (csid & 0x3F)])
    for offset in range(chunk_size, len(payload), chunk_size):
        parts.append(continuation)
        parts.append(payload[offset:offset + chunk_size])
    return b"".join(parts)


def rtmp_command(name: str, transaction: float, *arguments: bytes, stream_id: int = 0, csid: int = 3) -> bytes:
    payload = amf_string(name) + amf_number(transaction) + b"".join(arguments)
    return rtmp_chunks(payload, 20, stream_id=stream_id, csid=csid)


def rtmp_connect(port: int, app: str = "live", transaction: float = 1) -> bytes:
    return rtmp_command("connect", transaction, amf_object({
        "app": app, "type": "nonprivate", "flashVer": "FMLE/3.0 (compatible; abuse)",
        "tcUrl": f"rtmp://127.0.0.1:{port}/{app}"}))


def rtmp_set_chunk_size(size: int) -> bytes:
    return rtmp_chunks(struct.pack(">I", size), 1, csid=2)


# --- WebSocket --------------------------------------------------------------------------------

def ws_request(port: int, path: str) -> tuple[bytes, str]:
    key = base64.b64encode(os.urandom(16)).decode()
    head = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    return head, key


def ws_frame(payload: bytes, opcode: int = 1) -> bytes:
    """A masked client frame."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack(">BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack(">BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack(">BBQ", 0x80 | opcode, 0x80 | 127, length)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return header + mask + masked


def ws_parse(buffer: bytearray) -> tuple[int, bytes] | None:
    """Takes one server frame off the front of `buffer`: (opcode, payload), or None if incomplete."""
    if len(buffer) < 2:
        return None
    opcode = buffer[0] & 0x0F
    length = buffer[1] & 0x7F
    offset = 2
    if length == 126:
        if len(buffer) < 4:
            return None
        length = struct.unpack_from(">H", buffer, 2)[0]
        offset = 4
    elif length == 127:
        if len(buffer) < 10:
            return None
        length = struct.unpack_from(">Q", buffer, 2)[0]
        offset = 10
    if buffer[1] & 0x80:
        offset += 4  # a server must not mask, but skip the key if it does
    if len(buffer) < offset + length:
        return None
    payload = bytes(buffer[offset:offset + length])
    del buffer[:offset + length]
    return opcode, payload


class ChatClient:
    """A blocking chat socket: connect with a viewer token, post, read frames."""

    def __init__(self, port: int, channel: str, token: str | None, timeout: float = 10, source: str | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        # The admin token is refused in the URL: it goes in an auth frame, viewer tokens in the query.
        admin = token == ADMIN_TOKEN
        path = f"/v1/chat/{channel}" + (f"?token={token}" if token and not admin else "")
        head, _ = ws_request(port, path)
        self.sock.sendall(head)
        self.buffer = bytearray()
        while b"\r\n\r\n" not in self.buffer:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed during the WebSocket handshake")
            self.buffer += data
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        self.buffer = bytearray(rest)
        status = head.split(b" ", 2)[1]
        if status != b"101":
            raise ConnectionError(f"WebSocket upgrade answered {head.splitlines()[0].decode(errors='replace')}")
        if admin:
            self.send({"type": "auth", "token": token})

    def send(self, message: dict) -> None:
        self.sock.sendall(ws_frame(json.dumps(message).encode()))

    def read(self, timeout: float) -> list[dict]:
        """Frames that arrive within `timeout` s (stops at the first quiet moment after one). Pings
        are answered (the server closes a socket that leaves its pings unanswered)."""
        deadline = time.monotonic() + timeout
        messages = []
        while True:
            frame = ws_parse(self.buffer)
            if frame is not None:
                opcode, payload = frame
                if opcode == 8:
                    code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else 1005
                    messages.append({"type": "close", "code": code})
                    return messages
                if opcode == 9:
                    self.sock.sendall(ws_frame(payload, opcode=10))
                elif opcode == 1:
                    try:
                        messages.append(json.loads(payload))
                    except ValueError:
                        pass
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return messages
            self.sock.settimeout(min(0.05, remaining) if messages else remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return messages
            if not data:
                messages.append({"type": "eof"})
                return messages
            self.buffer += data

    def close(self) -> None:
        try:
            self.sock.sendall(ws_frame(struct.pack(">H", 1000), opcode=8))
        except OSError:
            pass
        self.sock.close()


def register_viewer(port: int, name: str, source: str | None = None) -> dict:
    status, body, _ = http_request(port, "POST", "/v1/viewers", body=json.dumps({"name": name}).encode(),
                                   headers={"Content-Type": "application/json"}, source=source)
    if status != 201:
        raise RuntimeError(f"POST /v1/viewers: {status} {body[:200]!r}")
    return json.loads(body)


def unique_name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"
