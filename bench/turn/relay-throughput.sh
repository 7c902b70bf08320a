#!/usr/bin/env bash
# TURN relay throughput: ferry serve's embedded STUN/TURN vs coturn, side by side in one run,
# driven by the same client (coturn's turnutils_uclient in client-to-client mode: two
# allocations per pair, every message relayed twice). Loopback only.
#
#   bench/turn/relay-throughput.sh            # ROUNDS=3 CLIENTS=20 MSGS=2000 LEN=1200 RATE_MS=1
#
# Needs: apt-get install coturn (turnserver, turnutils_uclient). Builds ferry --release if missing.
# Prints, per round and server: offered and delivered bytes, loss, the send phase's delivered
# rate, and the server's CPU time per delivered MB (the steadiest number on a shared box).
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-20}
MSGS=${MSGS:-2000}
LEN=${LEN:-1200}
RATE_MS=${RATE_MS:-1}
SECRET=bench-secret-$$
FERRY_TURN_PORT=${FERRY_TURN_PORT:-34780}
COTURN_PORT=${COTURN_PORT:-34790}
FERRY=${FERRY_BIN:-target/release/ferry}

command -v turnserver >/dev/null && command -v turnutils_uclient >/dev/null ||
  { echo "needs coturn: apt-get install -y coturn" >&2; exit 1; }
[[ -x $FERRY ]] || cargo build --release -q -p ferry

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

"$FERRY" serve --host 127.0.0.1 --port 0 --turn-port "$FERRY_TURN_PORT" \
  --relay-ports 50000-50999 --turn-secret "$SECRET" --turn-allow-loopback \
  --log-level warn >"$work/ferry.log" 2>&1 &
pids+=($!); ferry_pid=$!
# Defaults as packaged, plus what the loopback setup needs. coturn starts one relay thread per CPU.
turnserver -n --listening-ip=127.0.0.1 --listening-port="$COTURN_PORT" --relay-ip=127.0.0.1 \
  --use-auth-secret --static-auth-secret="$SECRET" --realm=ferry --allow-loopback-peers \
  --no-cli --no-tls --no-dtls --no-tcp --min-port=51000 --max-port=51999 \
  --userdb="$work/turndb" --log-file=stdout --simple-log >"$work/coturn.log" 2>&1 &
pids+=($!); coturn_pid=$!
sleep 1
grep -q "stun/turn on udp://127.0.0.1:$FERRY_TURN_PORT" "$work/ferry.log" || { cat "$work/ferry.log"; exit 1; }
kill -0 "$coturn_pid" || { cat "$work/coturn.log"; exit 1; }

tck=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_one() { # name port pid
  local name=$1 port=$2 pid=$3 log="$work/uc-$1.log"
  local c0 c1
  c0=$(cpu_ticks "$pid")
  timeout 300 turnutils_uclient -y -c -m "$CLIENTS" -n "$MSGS" -l "$LEN" -z "$RATE_MS" \
    -W "$SECRET" -p "$port" 127.0.0.1 >"$log" 2>&1 || true
  c1=$(cpu_ticks "$pid")
  # Progress lines are "<second>: : start_mclient: msz=.., tot_send_msgs=S, tot_recv_msgs=R, ..".
  awk -v name="$name" -v cpu=$((c1 - c0)) -v tck="$tck" -v len="$LEN" -v total=$((CLIENTS * MSGS)) '
    /start_mclient: msz=/ {
      split($0, a, ":"); t = a[1] + 0
      match($0, /tot_send_msgs=[0-9]+/); s = substr($0, RSTART + 14, RLENGTH - 14) + 0
      match($0, /tot_recv_msgs=[0-9]+/); r = substr($0, RSTART + 14, RLENGTH - 14) + 0
      if (s > 0 && first == "") first = t
      if (s >= total && last == "") { last = t; recv_at_last = r }
      recv = r; sent = s
    }
    END {
      if (sent == 0) { printf "| %s | no data (see log) |\n", name; exit }
      if (last == "") { last = t; recv_at_last = recv }
      span = last - first + 1
      mb = recv * len / 1e6
      printf "| %s | %.1f | %.1f | %.2f%% | %.1f | %.2f |\n", name, sent * len / 1e6, mb,
        100 * (sent - recv) / sent, recv_at_last * len / 1e6 / span, (cpu / tck) / (mb > 0 ? mb : 1) * 1000
    }' "$log"
}

echo "$CLIENTS clients in pairs (one allocation each), $MSGS msgs of $LEN B per client, 1 msg / ${RATE_MS} ms per session; $(nproc) CPUs"
echo
echo "| server | offered MB | delivered MB | loss | delivered MB/s (send phase) | server CPU ms per MB |"
echo "|---|---|---|---|---|---|"
for round in $(seq "$ROUNDS"); do
  # Alternate the order so neither server always runs on a warmer (or busier) machine.
  if (( round % 2 )); then
    run_one ferry "$FERRY_TURN_PORT" "$ferry_pid"; run_one coturn "$COTURN_PORT" "$coturn_pid"
  else
    run_one coturn "$COTURN_PORT" "$coturn_pid"; run_one ferry "$FERRY_TURN_PORT" "$ferry_pid"
  fi
done
