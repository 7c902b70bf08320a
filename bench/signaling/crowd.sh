#!/usr/bin/env bash
# 10,000 signaling peers against one `ferry serve` (release) on loopback, a fresh server per
# scenario:
#   a: one LAN network of 10,000 peers (served as LAN rooms of 64, `crowded: true` past the first)
#   b: 5,000 code rooms of two (one peer creates, the other joins by code; every peer is also in
#      a LAN room, as always)
# Phases per scenario: canary latency on the bare server (baseline); connect all peers (timed);
# idle (RSS per idle peer); 2,000 background signals/s with the canary pair measuring forward
# latency (p50/p99); the same with a reconnecting flooder from one address, then with one
# rotating over 256 addresses. Server and load-generator CPU per phase (/proc/PID/stat), other
# processes' CPU (/proc/stat), /metrics counters before and after, server alive and exit status.
# Results and their reading: docs/benchmarks.md, "Signaling".
#
# The load generator (crates/ferry-server/examples/crowd.rs) runs as several processes, each
# binding its own source addresses: crowd peers 127.1.x.y (10 per address), canary 127.0.0.2-3,
# flooders 127.2.x.y. No server flag is raised: 10 connects, ≤ 5 creates and ≤ 5 joins per
# address stay within the default budgets.
#
# usage: bench/signaling/crowd.sh [a|b|all]
# env:   PEERS=10000 WORKERS=4 RATE=2000 SIGNAL_SECS=15 FLOOD_SECS=20 FLOOD_POOL=256
#        CANARY_RATE=40 (per direction, per second) SERVER_ARGS="…" (extra `ferry serve` flags)
#        PERF=1 (profile the server over the whole scenario with `perf record -e cpu-clock -g`;
#        hardware counters are not available in this VM)
set -euo pipefail
cd "$(dirname "$0")/../.."
which=${1:-all}
case $which in a | b) scenarios=$which ;; all) scenarios="a b" ;; *)
  echo "usage: $0 [a|b|all]" >&2
  exit 2
  ;;
esac
PEERS=${PEERS:-10000}
WORKERS=${WORKERS:-4}
# The server raises its own soft limit; the load processes inherit this one.
ulimit -n "$(ulimit -Hn)"
cargo build --release -q -p ferry
cargo build --release -q -p ferry-server --example crowd
BIN=target/release/ferry
GEN=target/release/examples/crowd
tmp=$(mktemp -d)
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "commit:  $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' (+ uncommitted changes)')"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: $0 $which  (PEERS=$PEERS WORKERS=$WORKERS ${SERVER_ARGS:+SERVER_ARGS=\"$SERVER_ARGS\"})"

for s in $scenarios; do
  log=$tmp/server-$s.log
  # shellcheck disable=SC2086
  $BIN serve --host 127.0.0.1 --port 0 --no-turn --log-level warn ${SERVER_ARGS:-} >"$log" 2>&1 &
  SERVER=$!
  for _ in $(seq 100); do grep -q listening "$log" && break; sleep 0.1; done
  ADDR=$(sed -n 's/.*listening on http:\/\///p' "$log")
  [ -n "$ADDR" ] || { cat "$log"; exit 1; }
  PERF_PID=
  if [ "${PERF:-0}" = 1 ]; then
    perf record -e cpu-clock -F 499 -g -p "$SERVER" -o "$tmp/perf-$s.data" >/dev/null 2>&1 &
    PERF_PID=$!
  fi
  gen_rc=0
  $GEN run scenario="$s" server="$ADDR" pid="$SERVER" tck="$(getconf CLK_TCK)" \
    peers="$PEERS" workers="$WORKERS" rate="${RATE:-2000}" signal_secs="${SIGNAL_SECS:-15}" \
    flood_secs="${FLOOD_SECS:-20}" flood_pool="${FLOOD_POOL:-256}" \
    canary_rate="${CANARY_RATE:-40}" >"$tmp/result-$s.txt" 2>"$tmp/raw-$s.txt" || gen_rc=$?
  if [ "$gen_rc" != 0 ]; then
    echo "load generator failed (exit $gen_rc):" >&2
    cat "$tmp/raw-$s.txt" >&2
  fi
  if kill -0 "$SERVER" 2>/dev/null; then alive=yes; else alive=NO; fi
  [ -n "$PERF_PID" ] && { kill -INT "$PERF_PID" 2>/dev/null || true; wait "$PERF_PID" 2>/dev/null || true; }
  kill -TERM "$SERVER" 2>/dev/null || true
  rc=0
  wait "$SERVER" || rc=$?
  SERVER=
  panics=$(grep -c -i 'panicked' "$log" || true)
  ok=$([ "$alive" = yes ] && [ "$rc" = 0 ] && [ "$panics" = 0 ] && echo met || echo '**missed**')
  echo "| server process | alive after every phase: $alive; exit status on SIGTERM: $rc; panics in its log: $panics; warnings: $(grep -c WARN "$log" || true) | no abort | $ok |" >>"$tmp/result-$s.txt"
  echo
  echo "== scenario $s: phase log =="
  sed 's/^/  /' "$tmp/raw-$s.txt"
  echo
  cat "$tmp/result-$s.txt"
  if [ -s "$tmp/perf-$s.data" ]; then
    perf report -i "$tmp/perf-$s.data" --no-children --sort dso,symbol --percent-limit 1.5 --stdio -g none 2>/dev/null |
      grep -v '^#' | grep -v '^$' | head -40
  fi
  grep WARN "$log" | sed 's/^.*WARN/WARN/' | sort | uniq -c | sort -rn | head -5 || true
done
