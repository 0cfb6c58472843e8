"""LL-HLS latency: from a frame's publish to its part being listed, for every rendition of the
default ladder, streamd vs nginx-rtmp's HLS.

ffmpeg publishes a pre-encoded 1080p30 FLV with `-re -c copy` through a proxy that timestamps the
server's NetStream.Publish.Start (t0), so a frame presented at p (no B-frames: decode time = p)
leaves ffmpeg at t0 + p. streamd: the channel keeps the default ladder (passthrough of the 1080p
source + every rung it encodes for 1080p); each rendition's playlist is followed with blocking
reloads for the next part (the preload hint) and each part is stamped when first listed; its
frames' presentation times come from its bytes (tfdt + trun durations and composition offsets over
the init segment's mdhd timescale). nginx-rtmp (`hls on; hls_fragment 1s`): its m3u8 is read every
20 ms and each new fragment's frames come from ffprobe.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time

import common
from common import log, percentile

WARMUP = 4.0  # seconds of media skipped at the start (session start-up, first segment)
SOURCE_WIDTH, SOURCE_HEIGHT, SOURCE_BITRATE, SOURCE_GOP = 1920, 1080, "6M", 2
GOAL_MARGIN = 0.150  # the bound: the part's first frame listed within part target + 150 ms (p50)
CHANNEL = "latency"
PART_TARGET_RE = re.compile(r"#EXT-X-PART-INF:PART-TARGET=([0-9.]+)")


class Part:
    def __init__(self, name: str, listed: float, frames: list[tuple[float, float]]) -> None:
        self.name, self.listed, self.frames = name, listed, frames  # frames: (presentation time s, duration s)

    @property
    def start(self) -> float:
        return min(p for p, _ in self.frames)

    @property
    def end(self) -> float:
        return max(p + d for p, d in self.frames)


def source_first_video_dts(path: str) -> float:
    """First video decode time of the FLV, relative to the file's start time (what ffmpeg sends as 0)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#1",
                          "-show_entries", "packet=dts_time:format=start_time", "-of", "default=nw=1", path],
                         capture_output=True, text=True, check=True).stdout
    values = dict(line.split("=", 1) for line in out.split())
    return float(values["dts_time"]) - float(values.get("start_time", 0) or 0)


def planned_renditions(ladder: dict, width: int, height: int, gop: int) -> list[tuple[str, bool]]:
    """(name, passthrough) of the video renditions streamd makes of an H.264 source, tallest first:
    `PlannedRung.plan` (no upscaling, unique names) and `LadderPlanner`'s passthrough, which takes
    the name of the rung as tall as the source (that rung is not encoded) or else `source`."""
    seen, rungs = set(), []
    for rung in sorted(ladder["rungs"], key=lambda r: -r["height"]):
        if 0 < rung["height"] <= height and rung["frameRate"] > 0 and rung["name"] not in seen:
            seen.add(rung["name"])
            rungs.append(rung)
    if not ladder.get("allowsPassthrough", True) or gop > ladder.get("maxPassthroughKeyframeInterval", 4):
        return [(r["name"], False) for r in rungs]
    if rungs and rungs[0]["height"] == height:
        return [(rungs[0]["name"], True)] + [(r["name"], False) for r in rungs[1:]]
    return [("source", True)] + [(r["name"], False) for r in rungs]


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
        self.part_target = ""

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
        if match := PART_TARGET_RE.search(text):
            self.part_target = match.group(1)
        seen = set(common.listed_parts(text))
        first = min(seen, key=lambda n: tuple(map(int, common.PART_NAME_RE.search(n).groups()))) if seen else None
        if first:
            self.fetches.put((first, None))  # for the timeline offset only
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
            frames = [((d + c) / self.timescale, n / self.timescale) for d, n, c in samples]
            part = Part(name, listed or 0.0, frames)
            order = tuple(map(int, common.PART_NAME_RE.search(name).groups()))
            if self.earliest is None or order < self.earliest[0]:
                self.earliest = (order, part)  # the stream's first part, when it is still listed
            if listed is not None:
                self.parts.append(part)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def configure(server: common.Streamd, part_target: float, rungs: list[str] | None, tuning: str | None) -> dict:
    """Sets the channel's part target through the playback API, and its ladder: the default (GET
    before any PUT), cut to `rungs` and with `tuning` when asked. Returns the ladder it runs."""
    status, text = server.admin("PUT", f"/v1/channels/{CHANNEL}/playback", {"partTarget": part_target, "recording": False})
    if status != 200:
        raise SystemExit(f"PUT /v1/channels/{CHANNEL}/playback partTarget={part_target}: {status} {text}")
    status, text = server.admin("GET", f"/v1/channels/{CHANNEL}/ladder")
    if status != 200:
        raise SystemExit(f"GET /v1/channels/{CHANNEL}/ladder: {status} {text}")
    ladder = json.loads(text)
    if rungs:
        unknown = set(rungs) - {r["name"] for r in ladder["rungs"]}
        if unknown:
            raise SystemExit(f"--rungs: {', '.join(sorted(unknown))} not in the default ladder "
                             f"({', '.join(r['name'] for r in ladder['rungs'])})")
        ladder["rungs"] = [r for r in ladder["rungs"] if r["name"] in rungs]
    if tuning:
        status, text = server.admin("PUT", f"/v1/channels/{CHANNEL}/ladder", {**ladder, "tuning": tuning})
        if status == 200 and json.loads(text).get("tuning") == tuning:
            return json.loads(text)
        why = f"refused ({status} {text.strip()[:200]})" if status != 200 else "dropped (not a field of its ladder)"
        log(f"note: the ladder's tuning {tuning!r} was {why} by this streamd; running without it")
    if rungs or tuning:
        status, text = server.admin("PUT", f"/v1/channels/{CHANNEL}/ladder", ladder)
        if status != 200:
            raise SystemExit(f"PUT /v1/channels/{CHANNEL}/ladder: {status} {text}")
        ladder = json.loads(text)
    return ladder


def rendition_events(server: common.Streamd) -> list[dict]:
    status, text = server.admin("GET", "/v1/events?type=RenditionStarted,RenditionStopped,TranscodeFailed&limit=1000")
    if status != 200:
        log(f"warning: GET /v1/events: {status} {text[:200]}")
        return []
    events = json.loads(text)["events"]
    for event in events:
        if isinstance(event.get("data"), str):
            event["data"] = json.loads(event["data"])
    return events


def run_streamd(binary: str, source: str, part_target: float, seconds: int, source_dts: float,
                rungs: list[str] | None, tuning: str | None) -> list[tuple]:
    data_dir = os.path.join(common.WORK, "streamd-data")
    server = common.Streamd(binary, part_target, data_dir)
    rows = []
    try:
        key = server.channel(CHANNEL, None)
        ladder = configure(server, part_target, rungs, tuning)
        renditions = planned_renditions(ladder, SOURCE_WIDTH, SOURCE_HEIGHT, SOURCE_GOP)
        described = ", ".join(f"{n} ({'passthrough' if p else 'encoded'})" for n, p in renditions)
        log(f"\nstreamd part target {part_target} s: ladder preset {ladder.get('preset')}, tuning "
            f"{ladder.get('tuning', '(none)')}; renditions for {SOURCE_HEIGHT}p: {described}; load average "
            f"{os.getloadavg()[0]:.2f}")
        known = {event["position"] for event in rendition_events(server)}
        proxy = common.PublishStartProxy(server.rtmp)
        stop = threading.Event()
        followers = {name: Follower(server, CHANNEL, name, stop) for name, _ in renditions}
        publisher = common.publish(source, f"rtmp://127.0.0.1:{proxy.port}/live/{key}",
                                   os.path.join(common.WORK, f"publish-streamd-{part_target}.log"))
        if not proxy.started.wait(30):
            raise SystemExit("streamd never answered NetStream.Publish.Start")
        for follower in followers.values():
            follower.start()
        time.sleep(WARMUP)
        cpu_before, own_before, clock_before = cpu_seconds(server.pid), cpu_seconds(os.getpid()), time.monotonic()
        time.sleep(seconds + 1)
        elapsed = time.monotonic() - clock_before
        cpu = (cpu_seconds(server.pid) - cpu_before) / elapsed
        own = (cpu_seconds(os.getpid()) - own_before) / elapsed
        stop.set()
        for follower in followers.values():
            follower.join(30)
        common.stop(publisher)
        log(f"streamd CPU over the measured {seconds} s: {cpu * 100:.0f} % of one core "
            f"({cpu * 100 / (os.cpu_count() or 1):.0f} % of the machine); this script's followers: {own * 100:.0f} % "
            f"of one core; load average {os.getloadavg()[0]:.2f}")
        started = []
        for event in rendition_events(server):
            data = event.get("data") or {}
            if event["position"] in known or data.get("kind") == "audio":
                continue
            if event["type"] == "RenditionStarted":
                started.append(f"{data.get('rendition')} {data.get('width')}x{data.get('height')}"
                               f"{' passthrough' if data.get('passthrough') else ''} ({data.get('reason')})")
            elif event["type"] == "TranscodeFailed" or data.get("reason") != "streamEnded":
                log(f"  {event['type']} {data.get('rendition')}: {data.get('reason') or data.get('message')} "
                    f"at {data.get('presentationTime')} s")
        log(f"RenditionStarted: {'; '.join(started) or 'none'}")
        reference = next((followers[n].earliest[1] for n, p in renditions if p and followers[n].earliest), None)
        for name, passthrough in renditions:
            follower = followers[name]
            label = f"{part_target}s {name} {'passthrough' if passthrough else 'encoded'}"
            first = follower.earliest[1] if follower.earliest else None
            if first is None:
                log(f"{label}: no part listed; see {server.logfile}")
                rows.append(summarize(label, [], proxy.t0, 0.0, seconds, part_target))
                continue
            # Every rendition shares the source's timeline (keyframes aligned for switching): the
            # passthrough's first part, which starts at the source's first frame, gives the offset.
            anchor = reference or first
            offset = anchor.start - source_dts
            note = "" if abs(first.start - anchor.start) < 0.001 else f" (its first part is {first.start - anchor.start:+.3f} s from the passthrough's)"
            log(f"{label}: PART-TARGET {follower.part_target}, first listed part {first.name} at {first.start:.3f} s"
                f"{note}; offset {offset:+.3f} s taken out")
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
    """Frame latency = listed - (t0 + presentation time); part latencies from its first frame and its end."""
    measured = [p for p in parts if WARMUP <= p.start - offset <= WARMUP + seconds]
    frames = [p.listed - (t0 + t - offset) for p in measured for t, _ in p.frames]
    first = [p.listed - (t0 + p.start - offset) for p in measured]
    end = [p.listed - (t0 + p.end - offset) for p in measured]
    durations = [p.end - p.start for p in measured]
    goal = ""
    if target is not None:
        goal = "yes" if first and percentile(first, 50) <= target + GOAL_MARGIN else "NO"
    return (label, len(measured), sum(durations) / len(durations) if durations else float("nan"),
            percentile(frames, 50), percentile(frames, 99), percentile(first, 50), percentile(first, 99),
            percentile(end, 50), percentile(end, 99), goal)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streamd", required=True, help="release streamd binary")
    parser.add_argument("--part-target", type=float, action="append", help="seconds; repeatable (default 0.5 and 0.33)")
    parser.add_argument("--seconds", type=int, default=60, help="seconds of media measured per run (default 60)")
    parser.add_argument("--ladder-tuning", choices=("low-latency", "quality"),
                        help="the channel ladder's `tuning` (sent with the default ladder; dropped with a note "
                             "when this streamd does not take it)")
    parser.add_argument("--rungs", help="comma-separated names: keep only these rungs of the default ladder "
                                        "(for a machine that cannot encode all of them in real time)")
    parser.add_argument("--no-nginx", action="store_true")
    args = parser.parse_args()
    targets = args.part_target or [0.5, 0.33]
    rungs = [name.strip() for name in args.rungs.split(",") if name.strip()] if args.rungs else None
    common.which("ffmpeg")
    size = f"{SOURCE_WIDTH}x{SOURCE_HEIGHT}"
    length = max(80, args.seconds + 20)  # one file serves the usual runs: 1080p takes minutes to encode
    source = common.make_input(f"latency-{size}-{SOURCE_BITRATE}-veryfast-{length}s.flv", size, SOURCE_BITRATE,
                               length, preset="veryfast")
    source_dts = source_first_video_dts(source)
    log(f"input {source}: first video decode time {source_dts:.3f} s (sent by ffmpeg at t0 + that)")
    shutil.rmtree(os.path.join(common.WORK, "streamd-data"), ignore_errors=True)  # the channel starts on the default ladder
    rows = []
    for target in targets:
        rows.extend(run_streamd(args.streamd, source, target, args.seconds, source_dts, rungs, args.ladder_tuning))
    if not args.no_nginx:
        rows.append(run_nginx(source, args.seconds, source_dts))
    header = ("run", "parts", "part s", "frame p50", "frame p99", "1st p50", "1st p99", "end p50", "end p99",
              "1st p50 <= target+150ms")
    log("\nlatency from publish to listed, ms (frame: every frame; 1st: the part's first frame; end: the part's "
        "media end)")
    log(f"{header[0]:<30}{header[1]:>6}{header[2]:>8}" + "".join(f"{h:>10}" for h in header[3:9]) + f"  {header[9]}")
    for row in rows:
        log(f"{row[0]:<30}{row[1]:>6}{row[2]:>8.3f}" + "".join(f"{v * 1000:>10.0f}" for v in row[3:9]) + f"  {row[9]}")


if __name__ == "__main__":
    main()
