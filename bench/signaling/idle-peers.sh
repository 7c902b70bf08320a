#!/usr/bin/env bash
# Peak RSS of `ferry serve` with N idle signaling peers (default 1000), all in the LAN room
# (so every join is broadcast to everyone already there: the worst case for one room).
# usage: bench/signaling/idle-peers.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-1000}
ulimit -n $((N * 2 + 256))
cargo build --release -q -p ferry
cargo build --release -q -p ferry-server --example idle_peers
out=$(mktemp)
# All peers come from 127.0.0.1: allow one address that many connects (default burst: 100).
target/release/ferry serve --host 127.0.0.1 --port 0 --log-level warn --connects-per-second "$N" >"$out" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; rm -f "$out"' EXIT
for _ in $(seq 50); do grep -q listening "$out" && break; sleep 0.1; done
ADDR=$(sed -n 's/.*listening on http:\/\///p' "$out")
rss() { awk '/^(VmRSS|VmHWM)/ {printf "%s %d KiB  ", $1, $2}' /proc/$SERVER/status; echo; }
echo "server idle:        $(rss)"
target/release/examples/idle_peers "ws://$ADDR/ws" "$N" 10 > "$out.load" &
LOAD=$!
for _ in $(seq 600); do grep -q connected "$out.load" 2>/dev/null && break; sleep 0.1; done
cat "$out.load"
sleep 5
echo "with $N peers idle: $(rss)"
wait $LOAD
sleep 1
echo "after they left:    $(rss)"
