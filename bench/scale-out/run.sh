#!/usr/bin/env bash
# Scale-out (`ferry serve --redis`): signaling and HTTP-pipe cost of spanning instances, measured
# against one instance in the same run.
#
#   bench/scale-out/run.sh [PAIRS] [RATE] [SECS] [PIPE_MIB]     # defaults: 200 40 10 1024
#
# Signaling (crates/ferry-cli/examples/signal_load.rs): PAIRS pairs of peers, a LAN room each,
# every sender at RATE signals/s for SECS s (the server allows 50 messages/s per connection, so
# load grows with pairs), each signal timed from send to arrival. Three rows: the embedded hub
# (no Redis), both peers on one `--redis` instance, the peers on two `--redis` instances.
# HTTP pipe: PIPE_MIB of zeros, `curl -T -` → `curl -o /dev/null`, within one instance and across
# two; wall time from sender start to receiver end, and the instances' peak RSS (VmHWM).
#
# Needs: cargo, curl, redis-server. Everything listens on 127.0.0.1 ports picked here.
set -euo pipefail

PAIRS=${1:-200}
RATE=${2:-40}
SECS=${3:-10}
PIPE_MIB=${4:-1024}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/ferry-bench-scale.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "building ferry and the load generator (release)…" >&2
(cd "$ROOT" && cargo build --release -p ferry --bin ferry --example signal_load >&2)
FERRY="$ROOT/target/release/ferry"
LOAD="$ROOT/target/release/examples/signal_load"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
kib() { awk -v f="$2:" '$1==f {print $2}' "/proc/$1/status"; }

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
REDIS_PID=$!
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

# serve NAME [args…] → sets URL and PID
serve() {
  local name=$1; shift
  local port; port=$(free_port)
  "$FERRY" serve --host 127.0.0.1 --port "$port" --no-turn --trusted-proxy 127.0.0.1 \
    --secret bench --connects-per-second 1000 "$@" >"$WORK/$name.log" 2>&1 &
  PID=$!
  PIDS+=("$PID")
  URL="http://127.0.0.1:$port"
  for _ in $(seq 100); do curl -s -o /dev/null "$URL/version" && break; sleep 0.1; done
  sleep 0.5 # the Redis link (ferry_redis_up) comes up within one heartbeat
}

serve embedded; EMB_URL=$URL; EMB_PID=$PID
serve a --redis "redis://127.0.0.1:$REDIS_PORT/0"; A_URL=$URL; A_PID=$PID
serve b --redis "redis://127.0.0.1:$REDIS_PORT/0"; B_URL=$URL; B_PID=$PID

echo "## Signaling: $PAIRS pairs × $RATE signals/s × $SECS s"
echo
echo "| setup | offered/s | delivered/s | delivered / expected | p50 | p99 | max |"
echo "|-------|-----------|-------------|----------------------|-----|-----|-----|"
row() {
  local name=$1 out
  out=$("$LOAD" "$2" "$3" "$PAIRS" "$RATE" "$SECS")
  python3 - "$name" "$out" <<'PY'
import json, sys
name, r = sys.argv[1], json.loads(sys.argv[2])
ms = lambda us: f"{us / 1000:.2f} ms" if us is not None else "–"
print(f"| {name} | {r['offered_per_s']} | {r['delivered_per_s']:.0f} | {r['delivered']} / {r['expected']} "
      f"| {ms(r['p50_us'])} | {ms(r['p99_us'])} | {ms(r['max_us'])} |")
PY
}
row "embedded hub, one instance" "$EMB_URL" "$EMB_URL"
row "--redis, both peers on one instance" "$A_URL" "$A_URL"
row "--redis, peers on two instances" "$A_URL" "$B_URL"
echo
echo "redis-server CPU over the signaling runs: $(awk '{print ($14+$15)/100 " s"}' /proc/$REDIS_PID/stat)"
echo

echo "## HTTP pipe: $PIPE_MIB MiB"
echo
echo "| setup | throughput | seconds | peak RSS sender's instance | peak RSS receiver's instance |"
echo "|-------|------------|---------|------------------|------------------|"
pipe_row() {
  local name=$1 send_url=$2 recv_url=$3 send_pid=$4 recv_pid=$5 path=/bench/$RANDOM$RANDOM
  curl -sS -o /dev/null "$recv_url$path" &
  local r=$!
  sleep 0.3
  local t0; t0=$(date +%s.%N)
  head -c $((PIPE_MIB * 1024 * 1024)) /dev/zero | curl -sS -o /dev/null -T - "$send_url$path"
  wait "$r"
  local t1; t1=$(date +%s.%N)
  python3 -c "import sys; s=float(sys.argv[2])-float(sys.argv[1]); m=int(sys.argv[3]); print(f'| {sys.argv[4]} | {m*1.048576/s:.0f} MB/s | {s:.2f} | {int(sys.argv[5])//1024} MiB | {int(sys.argv[6])//1024} MiB |')" \
    "$t0" "$t1" "$PIPE_MIB" "$name" "$(kib "$send_pid" VmHWM)" "$(kib "$recv_pid" VmHWM)"
}
pipe_row "embedded, one instance" "$EMB_URL" "$EMB_URL" "$EMB_PID" "$EMB_PID"
pipe_row "--redis, within one instance" "$A_URL" "$A_URL" "$A_PID" "$A_PID"
pipe_row "--redis, across two instances" "$A_URL" "$B_URL" "$A_PID" "$B_PID"
