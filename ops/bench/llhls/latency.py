"""LL-HLS latency: from a frame's publish to its part being listed, streamd vs nginx-rtmp's HLS.

ffmpeg publishes a pre-encoded FLV with `-re -c copy` through a proxy that timestamps the server's
NetStream.Publish.Start (t0), so a frame with decode time d leaves ffmpeg at t0 + d. streamd: the
playlist is followed with blocking reloads for the next part (the preload hint) and each part is
stamped when first listed; its frames' decode times come from its bytes (tfdt + trun durations over
the init segment's mdhd timescale). nginx-rtmp (`hls on; hls_fragment 1s`): its m3u8 is read every
20 ms and each new fragment's frames come from ffprobe.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import subprocess
import threading
import time

import common
from common import log, percentile

WARMUP = 4.0  # seconds of media skipped at the start (session start-up, first segment)


class Part:
    def __init__(self, name: str, listed: float, frames: list[tuple[float, float]]) -> None:
        self.name, self.listed, self.frames = name, listed, frames  # frames: (decode time s, duration s)

    @property
    def start(self) -> float:
        return self.frames[0][0]

    @property
    def end(self) -> float:
        return self.frames[-1][0] + self.frames[-1][1]


def source_first_video_dts(path: str) -> float:
    """First video decode time of the FLV, relative to the file's start time (what ffmpeg sends as 0)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#1",
                          "-show_entries", "packet=dts_time:format=start_time", "-of", "default=nw=1", path],
                         capture_output=True, text=True, check=True).stdout
    values = dict(line.split("=", 1) for line in out.split())
    return float(values["dts_time"]) - float(values.get("start_time", 0) or 0)


class Follower(threading.Thread):
    """Follows one streamd rendition with blocking reloads; fetches each new part and decodes its
    sample times."""

    def __init__(self, server: common.Streamd, channel: str, rendition: str, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.prefix = f"/live/{channel}/{rendition}/"
        self.server, self.stop_event = server, stop
        self.parts: list[Part] = []
        self.errors: list[str] = []
        self.fetches: queue.Queue = queue.Queue()
        self.timescale, self.trex = 0, {}
        self.earliest: tuple[tuple[int, int], Part] | None = None

    def run(self) -> None:
        client = common.Client(self.server.http)
        while not self.stop_event.is_set():
            status, body = client.get(self.prefix + "index.m3u8")
            if status == 200 and common.preload_hint(body.decode()):
                break
            time.sleep(0.05)
        else:
            return
        status, init = client.get(self.prefix + "init.mp4")
        self.timescale, self.trex = common.init_info(init)
        if not self.timescale:
            self.errors.append(f"{self.prefix}init.mp4: no video mdhd timescale")
            return
        fetcher = threading.Thread(target=self.fetch, daemon=True)
        fetcher.start()
        text = body.decode()
        seen = set(common.listed_parts(text))
        first = min(seen, key=lambda n: tuple(map(int, common.PART_NAME_RE.search(n).groups()))) if seen else None
        if first:
            self.fetches.put((first, None))  # for the decode-time check only
        while not self.stop_event.is_set():
            hint = common.preload_hint(text)
            if hint is None:
                break  # the stream ended
            status, body = client.get(f"{self.prefix}index.m3u8?_HLS_msn={hint[0]}&_HLS_part={hint[1]}")
            now = time.monotonic()
            if status != 200:
                self.errors.append(f"blocking reload {hint}: HTTP {status}")
                break
            text = body.decode()
            for name in common.listed_parts(text):
                if name not in seen:
                    seen.add(name)
                    self.fetches.put((name, now))
        self.fetches.put(None)
        fetcher.join()

    def fetch(self) -> None:
        client = common.Client(self.server.http)
        while (item := self.fetches.get()) is not None:
            name, listed = item
            status, data = client.get(self.prefix + name)
            if status != 200:
                self.errors.append(f"{name}: HTTP {status}")
                continue
            samples = common.fragment_samples(data, self.trex)
            if not samples:
                self.errors.append(f"{name}: no samples")
                continue
            frames = [(d / self.timescale, n / self.timescale) for d, n in samples]
            part = Part(name, listed or 0.0, frames)
            order = tuple(map(int, common.PART_NAME_RE.search(name).groups()))
            if self.earliest is None or order < self.earliest[0]:
                self.earliest = (order, part)  # the stream's first part, when it is still listed
            if listed is not None:
                self.parts.append(part)


def run_streamd(binary: str, source: str, part_target: float, seconds: int, source_dts: float) -> list[tuple]:
    data_dir = os.path.join(common.WORK, "streamd-data")
    server = common.Streamd(binary, part_target, data_dir)
    rows = []
    try:
        channel = "latency"
        key = server.channel(channel, common.ladder(common.rung("240p", 240, 300_000)))
        proxy = common.PublishStartProxy(server.rtmp)
        stop = threading.Event()
        followers = {name: Follower(server, channel, name, stop) for name in ("source", "240p")}
        publisher = common.publish(source, f"rtmp://127.0.0.1:{proxy.port}/live/{key}",
                                   os.path.join(common.WORK, f"publish-streamd-{part_target}.log"))
        if not proxy.started.wait(30):
            raise SystemExit("streamd never answered NetStream.Publish.Start")
        for follower in followers.values():
            follower.start()
        time.sleep(WARMUP + seconds + 1)
        stop.set()
        for follower in followers.values():
            follower.join(30)
        common.stop(publisher)
        for name, follower in followers.items():
            label = f"streamd {part_target}s {'passthrough' if name == 'source' else 'transcoded 240p'}"
            first = follower.earliest[1] if follower.earliest else None
            offset = 0.0
            if first is not None:
                offset = first.start - source_dts
                log(f"{label}: first listed part {first.name} starts at decode time {first.start:.3f} s "
                    f"(timescale {follower.timescale}); the source's first video frame is at {source_dts:.3f} s: "
                    f"offset {offset:+.3f} s taken out")
            else:
                log(f"{label}: no part listed; see {server.logfile}")
            for error in follower.errors[:5]:
                log(f"{label}: {error}")
            rows.append(summarize(label, follower.parts, proxy.t0, offset, seconds, part_target))
    finally:
        server.stop()
    return rows


def nginx_fragment_frames(path: str) -> list[tuple[float, float]]:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "packet=dts_time,duration_time", "-of", "csv=p=0", path],
                         capture_output=True, text=True).stdout
    frames = []
    for line in out.split():
        fields = line.split(",")
        try:
            frames.append((float(fields[0]), float(fields[1])))
        except (ValueError, IndexError):
            continue
    return frames


def run_nginx(source: str, seconds: int, source_dts: float) -> tuple:
    hls = os.path.join(common.WORK, "nginx-latency", "hls")
    shutil.rmtree(hls, ignore_errors=True)
    os.makedirs(hls)
    port = common.free_port()
    nginx = common.Nginx("latency", f"""rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;
  application live {{ live on; record off; hls on; hls_path {hls}; hls_fragment 1s; hls_playlist_length 10s; }} }} }}
""", rtmp=True)
    parts: list[Part] = []
    try:
        proxy = common.PublishStartProxy(port)
        publisher = common.publish(source, f"rtmp://127.0.0.1:{proxy.port}/live/bench",
                                   os.path.join(common.WORK, "publish-nginx.log"))
        if not proxy.started.wait(30):
            raise SystemExit("nginx never answered NetStream.Publish.Start")
        playlist = os.path.join(hls, "bench.m3u8")
        seen: set[str] = set()
        deadline = proxy.t0 + WARMUP + seconds + 1
        pending: queue.Queue = queue.Queue()

        def probe() -> None:
            while (item := pending.get()) is not None:
                name, listed, copy = item
                frames = nginx_fragment_frames(copy)
                if frames:
                    parts.append(Part(name, listed, frames))

        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        last_poll, longest_gap = time.monotonic(), 0.0
        while time.monotonic() < deadline:
            longest_gap = max(longest_gap, time.monotonic() - last_poll)
            last_poll = time.monotonic()
            try:
                with open(playlist) as f:
                    text = f.read()
            except FileNotFoundError:
                text = ""
            now = time.monotonic()
            for line in text.splitlines():
                if line.endswith(".ts") and line not in seen:
                    seen.add(line)
                    copy = os.path.join(common.WORK, "nginx-latency", "copy-" + line)
                    shutil.copyfile(os.path.join(hls, line), copy)  # nginx deletes old fragments
                    pending.put((line, now, copy))
            time.sleep(0.02)
        pending.put(None)
        prober.join()
        if longest_gap > 0.5:
            log(f"warning: the m3u8 poller stalled for {longest_gap:.1f} s (machine overloaded?); nginx figures are off")
        common.stop(publisher)
    finally:
        nginx.stop()
    parts.sort(key=lambda p: p.start)
    offset = 0.0
    if parts:
        offset = parts[0].start - source_dts
        log(f"nginx-rtmp: first fragment {parts[0].name} starts at decode time {parts[0].start:.3f} s; the source's "
            f"first video frame is at {source_dts:.3f} s: offset {offset:+.3f} s taken out (nginx-rtmp adds 0.7 s)")
    return summarize("nginx-rtmp hls_fragment 1s", parts, proxy.t0, offset, seconds, None)


def summarize(label: str, parts: list[Part], t0: float, offset: float, seconds: int, target: float | None) -> tuple:
    """Frame latency = listed - (t0 + decode time); part latencies from its first frame and its end."""
    measured = [p for p in parts if WARMUP <= p.start - offset <= WARMUP + seconds]
    frames = [p.listed - (t0 + d - offset) for p in measured for d, _ in p.frames]
    first = [p.listed - (t0 + p.start - offset) for p in measured]
    end = [p.listed - (t0 + p.end - offset) for p in measured]
    durations = [p.end - p.start for p in measured]
    def meets(values: list[float]) -> str:
        return "yes" if values and percentile(values, 50) <= (target or 0) + 0.150 else "NO"
    goal = "" if target is None else f"{meets(frames)} / {meets(first)}"
    return (label, len(measured), sum(durations) / len(durations) if durations else float("nan"),
            percentile(frames, 50), percentile(frames, 99), percentile(first, 50), percentile(first, 99),
            percentile(end, 50), percentile(end, 99), goal)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streamd", required=True, help="release streamd binary")
    parser.add_argument("--part-target", type=float, action="append", help="seconds; repeatable (default 0.5 and 0.2)")
    parser.add_argument("--seconds", type=int, default=60, help="seconds of media measured per run (default 60)")
    parser.add_argument("--no-nginx", action="store_true")
    args = parser.parse_args()
    targets = args.part_target or [0.5, 0.2]
    common.which("ffmpeg")
    source = common.make_input(f"latency-640x360-1M-{args.seconds + 20}s.flv", "640x360", "1M", args.seconds + 20)
    source_dts = source_first_video_dts(source)
    log(f"input {source}: first video decode time {source_dts:.3f} s (sent by ffmpeg at t0 + that)")
    rows = []
    for target in targets:
        rows.extend(run_streamd(args.streamd, source, target, args.seconds, source_dts))
    if not args.no_nginx:
        rows.append(run_nginx(source, args.seconds, source_dts))
    header = ("run", "parts", "part s", "frame p50", "frame p99", "1st-frame p50", "1st-frame p99",
              "end p50", "end p99", "p50 <= target+150ms (frame / 1st-frame)")
    log("\nlatency from publish to listed, ms (frame: every frame; 1st-frame: the part's oldest frame; "
        "end: the part's media end)")
    log(f"{header[0]:<36}{header[1]:>6}{header[2]:>8}" + "".join(f"{h:>14}" for h in header[3:9]) + f"  {header[9]}")
    for row in rows:
        log(f"{row[0]:<36}{row[1]:>6}{row[2]:>8.3f}" + "".join(f"{v * 1000:>14.0f}" for v in row[3:9]) + f"  {row[9]}")


if __name__ == "__main__":
    main()
