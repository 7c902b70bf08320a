#!/usr/bin/env bash
# ferry next to the tools people use instead: magic-wormhole (Python, TCP transit, its own mailbox
# server and transit relay) and sendme (iroh, QUIC), side by side in private network namespaces,
# the same random file, alternating rounds. Root only (ip netns).
#
#   bench/native/peers.sh [MIB=1024] [ROUNDS=3] [LOSSY_MIB=64]
#   TOOLS="ferry ferry-relay wormhole sendme" PATHS="loopback lossy" bench/native/peers.sh
#
# Installs what is missing, all under target/: a release ferry (cargo build --release), a venv
# target/bench-tools/venv with magic-wormhole, magic-wormhole-mailbox-server and
# magic-wormhole-transit-relay (PyPI), and sendme (cargo install sendme --root target/bench-tools).
#
# Paths:
#   loopback  one namespace, only `lo`; every process in it.
#   lossy     namespaces a and b joined by tests/netns/impaired_wire.py (two TAPs, a userspace wire:
#             `tc netem` is missing from this kernel): 10 ms and 0.5 % loss in each direction, so
#             20 ms RTT. Servers and sender in a (10.98.0.1), receiver in b (10.98.0.2).
#
# Figure per run: receiver wall time from its start to its exit (pairing, connection set-up,
# transfer, verification, file written) -> MB/s of the file size; receiver peak RSS (VmHWM, via
# /usr/bin/time). Every received file is compared with the original (cmp) outside the timing.
# ferry-relay is ferry through its WebSocket relay (--relay), for the same table; ferry-rwnd8m and
# ferry-mtu8k are tuning probes (below); ferry-base is the build FERRY_BASE_BIN names (A/B), and
# ferry-base-relay that build through the WebSocket relay.
# KEEP=1 keeps the work directory (every tool's logs) instead of deleting it.
set -euo pipefail

MIB=${1:-1024}
ROUNDS=${2:-3}
LOSSY_MIB=${3:-64}
TOOLS=${TOOLS:-ferry wormhole sendme}
PATHS=${PATHS:-loopback lossy}

root=$(cd "$(dirname "$0")/../.." && pwd)
tools=$root/target/bench-tools
venv=$tools/venv
ferry=${FERRY_BIN:-$root/target/release/ferry}
sendme=$tools/bin/sendme

[ "$(id -u)" = 0 ] || { echo "peers.sh: needs root (ip netns)" >&2; exit 2; }

if [ -z "${FERRY_BIN:-}" ]; then (cd "$root" && cargo build --release -p ferry); fi
if [[ " $TOOLS " == *" wormhole "* && ! -x "$venv/bin/wormhole" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q magic-wormhole magic-wormhole-mailbox-server magic-wormhole-transit-relay
fi
if [[ " $TOOLS " == *" sendme "* && ! -x "$sendme" ]]; then
  cargo install sendme --locked --root "$tools"
fi

work=$(mktemp -d /tmp/ferry-peers-XXXXXX)
tag=fpb$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for ns in lo a b w; do ip netns del "$tag-$ns" 2>/dev/null || true; done
  if [ -n "${KEEP:-}" ]; then rm -rf "$work/data.bin" "$work/out"; echo "logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Waits (bounded: 60 s) until file $1 matches regex $2.
wait_for() {
  for _ in $(seq 600); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for /$2/ in $1:" >&2; cat "$1" >&2; return 1
}

# setup_loopback / setup_lossy set: NS_S (servers, sender), NS_R (receiver), HOST (servers' address).
setup_loopback() {
  ip netns add "$tag-lo"
  ip -n "$tag-lo" link set lo up
  NS_S=$tag-lo NS_R=$tag-lo HOST=127.0.0.1 BIND=(--bind 127.0.0.1:0)
}
setup_lossy() {
  for ns in a b w; do ip netns add "$tag-$ns"; ip -n "$tag-$ns" link set lo up; done
  ip netns exec "$tag-w" python3 "$root/tests/netns/impaired_wire.py" --a wa --b wb \
    --delay-ms 10 --loss 0.005 > "$work/wire.log" &
  pids+=($!)
  wait_for "$work/wire.log" '^ready'
  ip -n "$tag-w" link set wa netns "$tag-a"
  ip -n "$tag-w" link set wb netns "$tag-b"
  ip -n "$tag-w" link set lo up
  for side in a:1 b:2; do
    ns=$tag-${side%%:*}
    ip -n "$ns" link set "w${side%%:*}" name eth0
    ip -n "$ns" addr add "10.98.0.${side##*:}/24" dev eth0
    ip -n "$ns" link set eth0 up
  done
  NS_S=$tag-a NS_R=$tag-b HOST=10.98.0.1 BIND=()
}

start_servers() {
  mkdir -p "$work/srv"
  (cd "$work/srv" && exec ip netns exec "$NS_S" "$ferry" serve --host "$HOST" --port 18700 \
    --no-turn --log-level warn > "$work/srv/ferry.log" 2>&1) &
  pids+=($!)
  (cd "$work/srv" && exec ip netns exec "$NS_S" "$venv/bin/twist" wormhole-mailbox \
    --port "tcp:4000:interface=$HOST" > "$work/srv/mailbox.log" 2>&1) &
  pids+=($!)
  (cd "$work/srv" && exec ip netns exec "$NS_S" "$venv/bin/twist" transitrelay \
    --port "tcp:4001:interface=$HOST" > "$work/srv/transit.log" 2>&1) &
  pids+=($!)
  wait_for "$work/srv/ferry.log" listening
  for port in 4000 4001; do
    for _ in $(seq 600); do
      ip netns exec "$NS_S" bash -c "exec 3<>/dev/tcp/$HOST/$port" 2>/dev/null && break
      sleep 0.1
    done
  done
}

# run_TOOL FILE OUT LOG: starts the sender in NS_S, waits until it can be reached, then runs the
# receiver in NS_R under /usr/bin/time (elapsed s and max RSS KiB into $LOG.time).
run_ferry() {
  local file=$1 out=$2 log=$3
  shift 3
  ip netns exec "$NS_S" "$ferry" send --yes "$file" --server "http://$HOST:18700" --json \
    "${BIND[@]}" "$@" > "$log.send" 2>&1 &
  local s=$!
  wait_for "$log.send" '"code"'
  local code
  code=$(grep -o '"code":"[A-Z0-9]*"' "$log.send" | cut -d'"' -f4)
  ip netns exec "$NS_R" /usr/bin/time -f '%e %M' -o "$log.time" "$ferry" receive "$code" --yes \
    --out "$out" --server "http://$HOST:18700" --json "${BIND[@]}" "$@" > "$log.recv" 2>&1
  wait "$s"
}
run_ferry-relay() { run_ferry "$@" --relay; }
# Tuning probes, both sides: an 8 MiB SCTP receive window (default 1 MiB); 8 KiB SCTP packets
# (default 1191 B, which fits TURN over IPv6; loopback only: on the 1500-byte wire they fragment).
run_ferry-rwnd8m() { FERRY_SCTP_RWND=8388608 run_ferry "$@"; }
run_ferry-mtu8k() { FERRY_SCTP_MTU=8192 run_ferry "$@"; }
# Another ferry build next to this one (before/after a change, same run): FERRY_BASE_BIN=path.
run_ferry-base() { ferry=${FERRY_BASE_BIN:?FERRY_BASE_BIN=path of the other ferry build} run_ferry "$@"; }
run_ferry-base-relay() { ferry=${FERRY_BASE_BIN:?FERRY_BASE_BIN=path of the other ferry build} run_ferry "$@" --relay; }
run_wormhole() {
  local file=$1 out=$2 log=$3 code=7-ferry-bench-$RANDOM
  local w=("$venv/bin/wormhole" --relay-url "ws://$HOST:4000/v1" --transit-helper "tcp:$HOST:4001")
  ip netns exec "$NS_S" "${w[@]}" send --hide-progress --no-qr --code "$code" "$file" \
    > "$log.send" 2>&1 &
  local s=$!
  wait_for "$log.send" 'wormhole receive'
  ip netns exec "$NS_R" /usr/bin/time -f '%e %M' -o "$log.time" "${w[@]}" receive \
    --accept-file --hide-progress -o "$out/$(basename "$file")" "$code" > "$log.recv" 2>&1
  wait "$s"
}
run_sendme() {
  local file=$1 out=$2 log=$3
  (cd "$work" && exec ip netns exec "$NS_S" "$sendme" send --relay disabled "$file" > "$log.send" 2>&1) &
  local s=$!
  wait_for "$log.send" 'sendme receive [a-z0-9]+'
  local ticket
  ticket=$(grep -oE 'sendme receive [a-z0-9]+' "$log.send" | head -1 | cut -d' ' -f3)
  (cd "$out" && ip netns exec "$NS_R" /usr/bin/time -f '%e %M' -o "$log.time" "$sendme" receive \
    --relay disabled "$ticket" > "$log.recv" 2>&1)
  kill "$s" 2>/dev/null || true # sendme send serves until stopped
  wait "$s" 2>/dev/null || true
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "# $(date -u '+%F %T') UTC, $(uptime | sed 's/.*load/load/'), ferry $(git -C "$root" rev-parse --short HEAD)" >&2
for path in $PATHS; do
  size=$MIB
  [ "$path" = lossy ] && size=$LOSSY_MIB
  "setup_$path"
  start_servers
  file=$work/data.bin
  head -c "$((size * 1024 * 1024))" /dev/urandom > "$file"
  declare -A rates=() rss=()
  for round in $(seq "$ROUNDS"); do
    for tool in $TOOLS; do
      out=$work/out && rm -rf "$out" && mkdir -p "$out"
      log=$work/$tool-$round
      "run_$tool" "$file" "$out" "$log" || { echo "$tool failed:" >&2; cat "$log".* >&2; exit 1; }
      cmp -s "$file" "$out/data.bin" || { echo "$tool: received file differs" >&2; exit 1; }
      read -r secs kib < "$log.time"
      rate=$(awk -v b="$((size * 1024 * 1024))" -v s="$secs" 'BEGIN {printf "%.1f", b / 1e6 / s}')
      rates[$tool]+="$rate "
      rss[$tool]+="$kib "
      via=$(grep -ho '"path":"[^"]*"' "$log.recv" 2>/dev/null | tail -1 || true)
      echo "$path round $round: $tool $rate MB/s (${secs} s), receiver RSS $((kib / 1024)) MiB $via" >&2
    done
  done
  for tool in $TOOLS; do
    med=$(tr ' ' '\n' <<< "${rates[$tool]}" | grep . | median)
    peak=$(tr ' ' '\n' <<< "${rss[$tool]}" | grep . | sort -n | tail -1)
    echo "| $path | $size MiB | $tool | ${rates[$tool]% } | **$med** | $((peak / 1024)) MiB |"
  done
  unset rates rss
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
  for ns in lo a b w; do ip netns del "$tag-$ns" 2>/dev/null || true; done
done
