#!/usr/bin/env bash
# HTTP pipe throughput and server memory: ferry vs piping-server (npm), side by side in one run.
#
#   bench/pipe/run.sh [SIZE_MIB] [ROUNDS]        # defaults: 2048 MiB, 3 rounds
#
# Each round pipes SIZE_MIB through every server in turn, curl on both ends on loopback
# (`curl -T FILE` → `curl -o /dev/null`, FILE a SIZE_MIB file in the page cache), and takes the
# wall time from sender start to receiver end. A sampler reads the server's VmRSS every 50 ms;
# VmHWM is the kernel's peak; CPU is the server's utime+stime over all rounds. Prints a markdown
# table (median throughput, per-round times, server CPU per GiB, RSS idle/peak).
#
# Needs: cargo, node + npm, curl. piping-server@1.12 is installed into $PIPING_DIR (default
# /tmp/ferry-bench-piping), outside the repo. To add piping-server-rust, build it yourself and
# set PIPING_RUST_BIN=/path/to/piping-server (it is not part of this repo).
set -euo pipefail

SIZE_MIB=${1:-2048}
ROUNDS=${2:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PIPING_DIR=${PIPING_DIR:-/tmp/ferry-bench-piping}
WORK=$(mktemp -d /tmp/ferry-bench-pipe.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "building ferry (release)…" >&2
(cd "$ROOT" && cargo build --release -p ferry >&2)
FERRY="$ROOT/target/release/ferry"

if [ ! -f "$PIPING_DIR/node_modules/piping-server/dist/src/index.js" ]; then
  echo "installing piping-server@1.12 into $PIPING_DIR…" >&2
  mkdir -p "$PIPING_DIR"
  npm install --silent --prefix "$PIPING_DIR" piping-server@1.12 >&2
fi
PIPING_JS="$PIPING_DIR/node_modules/piping-server/dist/src/index.js"
PIPING_VERSION=$(node -p "require('$PIPING_DIR/node_modules/piping-server/package.json').version")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kib() { awk -v f="$2:" '$1==f {print $2}' "/proc/$1/status"; }

# start NAME → sets PORT and PID of a server listening on 127.0.0.1
start() {
  PORT=$(free_port)
  case "$1" in
    ferry) "$FERRY" serve --host 127.0.0.1 --port "$PORT" --no-turn >"$WORK/$1.log" 2>&1 & ;;
    piping-server) node "$PIPING_JS" --host 127.0.0.1 --http-port "$PORT" >"$WORK/$1.log" 2>&1 & ;;
    piping-server-rust) "$PIPING_RUST_BIN" --host 127.0.0.1 --http-port "$PORT" >"$WORK/$1.log" 2>&1 & ;;
  esac
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/version" && return 0
    sleep 0.1
  done
  echo "$1 did not start; log:" >&2; cat "$WORK/$1.log" >&2; exit 1
}

# sample PID → writes the highest VmRSS seen to $WORK/PID.max until the pid file is removed
sample() {
  local pid=$1 max=0 rss
  while [ -f "$WORK/sampling" ]; do
    rss=$(kib "$pid" VmRSS || echo 0)
    [ "${rss:-0}" -gt "$max" ] && max=$rss
    sleep 0.05
  done
  echo "$max" >"$WORK/$pid.max"
}

# one_pipe PORT → prints seconds for SIZE_MIB through http://127.0.0.1:PORT/bench-N
one_pipe() {
  local url="http://127.0.0.1:$1/bench-$RANDOM$RANDOM"
  local t0 t1
  t0=$(date +%s.%N)
  curl -sS -o /dev/null "$url" &
  local rpid=$!
  curl -sS -T "$WORK/data" "$url" >/dev/null
  wait "$rpid"
  t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}'
}

head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$WORK/data"
cat "$WORK/data" >/dev/null
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)

SERVERS=(ferry piping-server)
[ -n "${PIPING_RUST_BIN:-}" ] && SERVERS+=(piping-server-rust)
declare -A PORTS SERVER_PIDS IDLE TIMES CPU0
for s in "${SERVERS[@]}"; do
  start "$s"
  PORTS[$s]=$PORT
  SERVER_PIDS[$s]=$PID
  sleep 0.5
  IDLE[$s]=$(kib "$PID" VmRSS)
done

for s in "${SERVERS[@]}"; do CPU0[$s]=$(cpu_ticks "${SERVER_PIDS[$s]}"); done
touch "$WORK/sampling"
for s in "${SERVERS[@]}"; do sample "${SERVER_PIDS[$s]}" & done
for r in $(seq "$ROUNDS"); do
  for s in "${SERVERS[@]}"; do
    secs=$(one_pipe "${PORTS[$s]}")
    TIMES[$s]="${TIMES[$s]:-} $secs"
    echo "round $r $s: ${secs}s" >&2
  done
done
rm "$WORK/sampling"
wait_for_max() { while [ ! -f "$WORK/$1.max" ]; do sleep 0.05; done; cat "$WORK/$1.max"; }

mbps() { awk -v mib="$SIZE_MIB" -v s="$1" 'BEGIN {printf "%.0f", mib * 1048576 / s / 1e6}'; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo
echo "| server | median throughput | rounds (s for ${SIZE_MIB} MiB) | server CPU per GiB | RSS idle | RSS peak (sampled) | VmHWM |"
echo "|--------|------------------|-------------------|-----------|----------|-----------|-------|"
for s in "${SERVERS[@]}"; do
  pid=${SERVER_PIDS[$s]}
  med=$(echo "${TIMES[$s]}" | median)
  peak=$(wait_for_max "$pid")
  hwm=$(kib "$pid" VmHWM)
  name=$s
  [ "$s" = piping-server ] && name="piping-server $PIPING_VERSION (node $(node --version))"
  [ "$s" = ferry ] && name="ferry $("$FERRY" --version 2>/dev/null | awk '{print $2}')"
  cpu=$(awk -v t="$(( $(cpu_ticks "$pid") - CPU0[$s] ))" -v hz="$TICK" -v mib="$SIZE_MIB" -v r="$ROUNDS" \
    'BEGIN {printf "%.2f s", t / hz / (mib * r / 1024)}')
  echo "| $name | $(mbps "$med") MB/s | $(echo "${TIMES[$s]}" | xargs) | $cpu | $((IDLE[$s] / 1024)) MiB | $((peak / 1024)) MiB | $((hwm / 1024)) MiB |"
done
