#!/usr/bin/env bash
# Ingest benchmark (issue 3): N concurrent publishers push an H.264/AAC file in real time
# (`ffmpeg -re -c copy`) to streamd's RTMP ingest (the IngestBench executable, release build) and
# then to nginx with its RTMP module, one after the other, on loopback. Reports, per server, the
# CPU seconds per GB ingested, the peak resident memory and how many publishers failed.
#
# Usage: ops/bench/ingest.sh [publishers=20] [seconds=30] [bitrate=6M]
# Needs: ffmpeg, nginx-light + libnginx-mod-rtmp (Debian), swift.
set -euo pipefail

PUBLISHERS=${1:-20}
DURATION=${2:-30}
BITRATE=${3:-6M}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=${BENCH_DIR:-/tmp/streamd-bench-ingest}
STREAMD_PORT=${STREAMD_PORT:-19350}
NGINX_PORT=${NGINX_PORT:-19351}
mkdir -p "$WORK"
CLK_TCK=$(getconf CLK_TCK)

INPUT="$WORK/input-${BITRATE}-${DURATION}s.flv"
if [ ! -s "$INPUT" ]; then
  echo "making $INPUT (1280x720 30 fps H.264 CBR $BITRATE + AAC 128k, $DURATION s)"
  ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc2=size=1280x720:rate=30" -f lavfi -i "sine=sample_rate=48000" -t "$DURATION" \
    -c:v libx264 -preset ultrafast -b:v "$BITRATE" -minrate "$BITRATE" -maxrate "$BITRATE" -bufsize "$BITRATE" \
    -x264-params nal-hrd=cbr -g 60 -pix_fmt yuv420p -c:a aac -b:a 128k -f flv "$INPUT"
fi
INPUT_BYTES=$(stat -c %s "$INPUT")

(cd "$ROOT" && swift build -c release --product IngestBench >/dev/null)
BENCH_BIN="$ROOT/.build/release/IngestBench"

cpu_ticks() {  # utime + stime of the given pids
  local total=0 pid fields
  for pid in "$@"; do
    read -r -a fields < <(sed 's/^.*) //' "/proc/$pid/stat")
    total=$((total + fields[11] + fields[12]))
  done
  echo "$total"
}

peak_kib() {  # sum of VmHWM of the given pids
  local total=0 pid
  for pid in "$@"; do total=$((total + $(awk '/VmHWM/ {print $2}' "/proc/$pid/status"))); done
  echo "$total"
}

publish_all() {  # port -> number of failed publishers
  local port=$1 failed=0 pids=() i
  for i in $(seq 1 "$PUBLISHERS"); do
    ffmpeg -hide_banner -loglevel error -re -i "$INPUT" -c copy -f flv "rtmp://127.0.0.1:$port/live/bench$i" \
      2>"$WORK/publisher-$port-$i.log" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
  echo "$failed"
}

measure() {  # name port pid...
  local name=$1 port=$2
  shift 2
  sleep 1
  local before failed after peak
  before=$(cpu_ticks "$@")
  local start=$SECONDS
  failed=$(publish_all "$port")
  after=$(cpu_ticks "$@")
  peak=$(peak_kib "$@")
  local bytes=$((INPUT_BYTES * PUBLISHERS))
  awk -v n="$name" -v t=$((after - before)) -v hz="$CLK_TCK" -v b="$bytes" -v p="$peak" -v f="$failed" -v w=$((SECONDS - start)) \
    'BEGIN { cpu = t / hz; gb = b / 1e9; printf "%-8s cpu %.2f s for %.3f GB in %d s: %.2f cpu-s/GB, peak RSS %.1f MiB, failed publishers %d\n", n, cpu, gb, w, cpu / gb, p / 1024, f }' \
    | tee -a "$WORK/results.txt"
}

: >"$WORK/results.txt"
echo "$PUBLISHERS publishers x $(awk -v b="$INPUT_BYTES" -v d="$DURATION" 'BEGIN {printf "%.1f Mbit/s", b * 8 / d / 1e6}') for $DURATION s" | tee -a "$WORK/results.txt"

"$BENCH_BIN" "$STREAMD_PORT" >"$WORK/streamd.log" 2>&1 &
STREAMD_PID=$!
measure streamd "$STREAMD_PORT" "$STREAMD_PID"
kill -TERM "$STREAMD_PID"
wait "$STREAMD_PID" || true
tail -1 "$WORK/streamd.log"

cat >"$WORK/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
daemon off;
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events { worker_connections 1024; }
rtmp {
  server {
    listen 127.0.0.1:$NGINX_PORT;
    chunk_size 4096;
    application live { live on; record off; }
  }
}
CONF
nginx -c "$WORK/nginx.conf" -p "$WORK" &
NGINX_PID=$!
sleep 1
NGINX_PIDS=("$NGINX_PID" $(pgrep -P "$NGINX_PID"))
measure nginx "$NGINX_PORT" "${NGINX_PIDS[@]}"
kill -QUIT "$NGINX_PID"
wait "$NGINX_PID" || true
