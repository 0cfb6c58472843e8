"""Shared pieces of the LL-HLS benchmarks: inputs, a `streamd serve` process, nginx, an RTMP proxy
that timestamps the publish start, LL-HLS playlist and CMAF box reading, percentiles; and the
hls.js page in headless Chromium that the benchmarks and the suite's browser scripts share.
Python 3.11 standard library only, but for `chromium()`, which needs selenium."""

from __future__ import annotations

import functools
import glob
import http.client
import http.server
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
import sys
import urllib.request
import zipfile

WORK = os.environ.get("BENCH_DIR", "/tmp/streamd-bench-llhls")
NGINX = "/usr/sbin/nginx"
RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"


def log(*parts: object) -> None:
    print(*parts, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(round(p / 100 * len(ordered) + 0.5))))
    return ordered[rank - 1]


def make_input(name: str, size: str, bitrate: str, seconds: int, preset: str = "ultrafast") -> str:
    """A pre-encoded FLV: H.264 CBR, 30 fps, 2 s GOP (no scene cuts, no B-frames), AAC 128k."""
    os.makedirs(WORK, exist_ok=True)
    path = os.path.join(WORK, name)
    if os.path.getsize(path) if os.path.exists(path) else 0:
        return path
    log(f"making {path} ({size} 30 fps H.264 {preset} CBR {bitrate}, 2 s GOP + AAC, {seconds} s)")
    subprocess.run([
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30", "-f", "lavfi", "-i", "sine=sample_rate=48000",
        "-t", str(seconds), "-c:v", "libx264", "-preset", preset, "-bf", "0",
        "-b:v", bitrate, "-minrate", bitrate, "-maxrate", bitrate, "-bufsize", bitrate, "-x264-params", "nal-hrd=cbr",
        "-g", "60", "-keyint_min", "60", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k", "-f", "flv", path + ".tmp",
    ], check=True)
    os.replace(path + ".tmp", path)
    return path


def publish(source: str, url: str, logfile: str) -> subprocess.Popen:
    """ffmpeg pushing a file in real time without re-encoding."""
    return subprocess.Popen(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-re", "-i", source, "-c", "copy", "-f", "flv", url],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(logfile, "wb"),
    )


def stop(process: subprocess.Popen | None, sig: int = signal.SIGTERM, wait: float = 20) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(wait)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Streamd:
    """`streamd serve` on free ports with its embedded PostgreSQL in a data folder under WORK
    (traversable by the postgres user), recording off. `part_target` None keeps the server's
    default; `host` is the address it listens on (and that `base` names)."""

    token = "bench-admin-token-of-32-characters"

    def __init__(self, binary: str, part_target: float | None, data_dir: str, host: str = "127.0.0.1",
                 extra: list[str] | None = None) -> None:
        self.http, self.rtmp, self.srt = free_port(), free_port(), free_port()
        self.host = host
        self.base = f"http://{host}:{self.http}"
        os.makedirs(data_dir, exist_ok=True)
        os.chmod(data_dir, 0o755)
        self.logfile = os.path.join(WORK, f"streamd-{self.http}.log")
        self.process = subprocess.Popen(
            [binary, "serve", "--data-dir", data_dir, "--host", host, "--http-port", str(self.http),
             "--rtmp-port", str(self.rtmp), "--srt-port", str(self.srt), "--admin-token", self.token,
             # Every client is on 127.0.0.1: the per-address caps would refuse the 10,000 waiters.
             "--http-connections-per-address", "1000000", "--chat-sockets-per-address", "1000000",
             ] + (extra or []),
            env={**os.environ, "STREAMD_RECORDING": "false"}
            | ({"STREAMD_PART_TARGET": str(part_target)} if part_target is not None else {}),
            stdin=subprocess.DEVNULL, stdout=open(self.logfile, "wb"), stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"streamd exited with {self.process.returncode}; see {self.logfile}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"streamd did not answer /healthz within 120 s; see {self.logfile}")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.process.pid

    def admin(self, method: str, path: str, body: object | None = None) -> tuple[int, str]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                return reply.status, reply.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def channel(self, name: str, ladder: dict | None) -> str:
        """Creates (or re-keys) a channel with `ladder` (None: left as it is); returns its stream key."""
        status, text = self.admin("POST", "/v1/channels", {"name": name})
        if status == 409:
            status, text = self.admin("POST", f"/v1/channels/{name}/key")
        if status not in (200, 201):
            raise SystemExit(f"creating channel {name}: {status} {text}")
        key = json.loads(text)["streamKey"]
        if ladder is None:
            return key
        status, text = self.admin("PUT", f"/v1/channels/{name}/ladder", ladder)
        if status == 404 and "ladder" not in text:
            log(f"warning: this streamd has no ladder route; channel {name} uses its default ladder")
        elif status != 200:
            raise SystemExit(f"setting the ladder of {name}: {status} {text}")
        return key

    def stop(self) -> None:
        stop(self.process, signal.SIGTERM, 60)


def ladder(*rungs: dict) -> dict:
    return {"rungs": list(rungs), "audio": {"bitrate": 128000, "sampleRate": 48000, "channels": 2},
            "preset": "ultrafast", "keyframeInterval": 2, "maxPassthroughKeyframeInterval": 2, "allowsPassthrough": True}


def rung(name: str, height: int, bitrate: int) -> dict:
    return {"name": name, "height": height, "frameRate": 30, "bitrate": bitrate, "profile": "main", "priority": 0}


#: A rung taller than any input: skipped (streamd never upscales), so only the source is packaged.
PASSTHROUGH_ONLY = ladder(rung("2160p", 2160, 20_000_000))


class Nginx:
    """nginx in the foreground with a config body (`http {…}` and/or `rtmp {…}`)."""

    def __init__(self, name: str, body: str, rtmp: bool = False, workers: str = "1") -> None:
        self.dir = os.path.join(WORK, f"nginx-{name}")
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write((f"load_module {RTMP_MODULE};\n" if rtmp else "")
                    + f"daemon off;\nworker_processes {workers};\npid {self.dir}/nginx.pid;\nerror_log {self.dir}/error.log;\n"
                    + "events { worker_connections 20000; }\n" + body)
        self.process = subprocess.Popen([NGINX, "-c", conf, "-p", self.dir], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=open(os.path.join(self.dir, "stderr.log"), "wb"))
        time.sleep(1)
        if self.process.poll() is not None:
            raise SystemExit(f"nginx did not start; see {self.dir}/error.log and stderr.log")

    def pids(self) -> list[int]:
        children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout.split()
        return [self.process.pid] + [int(p) for p in children]

    def stop(self) -> None:
        stop(self.process, signal.SIGQUIT, 10)


class PublishStartProxy:
    """A one-connection TCP proxy in front of an RTMP server. `t0` is the monotonic time at which the
    server's `onStatus NetStream.Publish.Start` passed through: ffmpeg starts its -re clock right
    after it, so a packet with decode time d (seconds from the first packet) leaves ffmpeg at t0 + d."""

    MARK = b"NetStream.Publish.Start"

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.t0: float | None = None
        self.started = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        client, _ = self.listener.accept()
        server = socket.create_connection(("127.0.0.1", self.target_port))
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
        self._pump(server, client, True)

    def _pump(self, source: socket.socket, sink: socket.socket, watch: bool) -> None:
        tail = b""
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                if watch and self.t0 is None:
                    window = tail + data
                    if self.MARK in window:
                        self.t0 = time.monotonic()
                        self.started.set()
                    tail = window[-len(self.MARK):]
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


# --- LL-HLS playlists -------------------------------------------------------------------------

PART_RE = re.compile(r'#EXT-X-PART:.*?URI="([^"]+)"')
HINT_RE = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s(\d+)\.p(\d+)\.m4s"')
PART_NAME_RE = re.compile(r"s(\d+)\.p(\d+)\.m4s$")


def listed_parts(playlist: str) -> list[str]:
    return PART_RE.findall(playlist)


def preload_hint(playlist: str) -> tuple[int, int] | None:
    match = HINT_RE.search(playlist)
    return (int(match.group(1)), int(match.group(2))) if match else None


class Client:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, port: int, timeout: float = 30) -> None:
        self.port, self.timeout = port, timeout
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def get(self, path: str) -> tuple[int, bytes]:
        for attempt in range(2):
            try:
                self.connection.request("GET", path)
                reply = self.connection.getresponse()
                return reply.status, reply.read()
            except (http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")


# --- ISO BMFF ---------------------------------------------------------------------------------

def boxes(data: bytes, start: int = 0, end: int | None = None):
    """(type, payload start, payload end) of the boxes in data[start:end]; stops at a malformed box."""
    end = len(data) if end is None else end
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            if offset + 16 > end:
                return
            size = struct.unpack_from(">Q", data, offset + 8)[0]
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            return
        yield kind.decode("latin-1"), offset + header, offset + size
        offset += size


def find(data: bytes, path: list[str], start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Payload ranges of every box at `path` (e.g. ["moov", "trak", "mdia", "mdhd"])."""
    found = []
    for kind, payload, stop_at in boxes(data, start, end):
        if kind == path[0]:
            if len(path) == 1:
                found.append((payload, stop_at))
            else:
                found.extend(find(data, path[1:], payload, stop_at))
    return found


def init_info(init: bytes) -> tuple[int, dict[int, int]]:
    """Video track's mdhd timescale, and default sample durations per track id from mvex/trex."""
    timescale = 0
    for trak_start, trak_end in find(init, ["moov", "trak"]):
        handler = find(init, ["mdia", "hdlr"], trak_start, trak_end)
        if handler and init[handler[0][0] + 8:handler[0][0] + 12] != b"vide":
            continue
        for payload, _ in find(init, ["mdia", "mdhd"], trak_start, trak_end):
            version = init[payload]
            timescale = struct.unpack_from(">I", init, payload + (20 if version == 1 else 12))[0]
    defaults = {}
    for payload, _ in find(init, ["moov", "mvex", "trex"]):
        track, _, duration = struct.unpack_from(">III", init, payload + 4)
        defaults[track] = duration
    return timescale, defaults


def fragment_samples(fragment: bytes, trex: dict[int, int]) -> list[tuple[int, int, int]]:
    """(decode time, duration, composition offset) of each sample of the first track fragment, in
    track timescale."""
    for traf_start, traf_end in find(fragment, ["moof", "traf"]):
        tfhd = find(fragment, ["tfhd"], traf_start, traf_end)[0][0]
        flags = int.from_bytes(fragment[tfhd + 1:tfhd + 4], "big")
        track = struct.unpack_from(">I", fragment, tfhd + 4)[0]
        cursor = tfhd + 8 + (8 if flags & 0x1 else 0) + (4 if flags & 0x2 else 0)
        default_duration = struct.unpack_from(">I", fragment, cursor)[0] if flags & 0x8 else trex.get(track, 0)
        tfdt = find(fragment, ["tfdt"], traf_start, traf_end)[0][0]
        base = struct.unpack_from(">Q" if fragment[tfdt] == 1 else ">I", fragment, tfdt + 4)[0]
        samples, decode = [], base
        for trun, _ in find(fragment, ["trun"], traf_start, traf_end):
            tflags = int.from_bytes(fragment[trun + 1:trun + 4], "big")
            count = struct.unpack_from(">I", fragment, trun + 4)[0]
            cursor = trun + 8 + (4 if tflags & 0x1 else 0) + (4 if tflags & 0x4 else 0)
            signed = fragment[trun] == 1
            for _ in range(count):
                duration, offset, field = default_duration, 0, cursor
                if tflags & 0x100:
                    duration = struct.unpack_from(">I", fragment, field)[0]
                field += 4 * bin(tflags & 0x700).count("1")
                if tflags & 0x800:
                    offset = struct.unpack_from(">i" if signed else ">I", fragment, field)[0]
                cursor += 4 * bin(tflags & 0xF00).count("1")
                samples.append((decode, duration, offset))
                decode += duration
        return samples
    return []


def which(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise SystemExit(f"{name} is not installed")
    return path


# --- hls.js in headless Chromium ---------------------------------------------------------------

HLSJS_WHEEL = "gradio==6.31.0"


def hls_module(directory: str) -> bytes:
    """hls.js 1.6.15 as an ES module, from the gradio wheel (fetched once into `directory`)."""
    os.makedirs(directory, exist_ok=True)
    wheels = glob.glob(os.path.join(directory, "gradio-6.31.0-*.whl"))
    if not wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", HLSJS_WHEEL, "-d", directory], check=True)
        wheels = glob.glob(os.path.join(directory, "gradio-6.31.0-*.whl"))
    with zipfile.ZipFile(wheels[0]) as wheel:
        name = next(n for n in wheel.namelist() if n.startswith("gradio/templates/frontend/assets/hls-") and n.endswith(".js"))
        return wheel.read(name)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve_hlsjs_page(site: str, hlsjs_dir: str, page: str) -> http.server.ThreadingHTTPServer:
    """Writes hls.js and `page` (as index.html) into `site` and serves the folder on a free loopback
    port from a thread of its own."""
    os.makedirs(site, exist_ok=True)
    with open(os.path.join(site, "hls.js"), "wb") as f:
        f.write(hls_module(hlsjs_dir))
    with open(os.path.join(site, "index.html"), "w") as f:
        f.write(page)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=site))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def chromium(window_size: str | None = None):
    """Debian's headless Chromium through chromium-driver, muted, with autoplay allowed."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for argument in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--mute-audio",
                     "--autoplay-policy=no-user-gesture-required"]:
        options.add_argument(argument)
    if window_size:
        options.add_argument(f"--window-size={window_size}")
    options.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
