#!/usr/bin/env bash
# bench/client_bench.sh — client-side throughput of the library's Socket.IO client
# (build/wsio-client-bench, bench/client/sio_client_bench.c) beside Node's
# socket.io-client (bench/client/sio_client_bench.js), same workload: CONNS connections
# x DEPTH "echo" events in flight against one wsio-server --app bench (pinned to
# SERVER_CPU; the clients to BENCH_CPU). Prints messages/s and client CPU time per
# message as a markdown table (also results/client-latest.md); raw JSON lines in
# results/client-raw-*.jsonl. Run by itself or as bench/run.sh's workload "sio-client".
#
# Environment: ROUNDS (3), DURATION (5), WARMUP (1), CONNS (100), DEPTH (16), SIZE (32),
# TRANSPORTS ("websocket"; add "polling"), WSIO_SERVER, WSIO_CLIENT_BENCH, NO_BUILD=1,
# SERVER_CPU (0), BENCH_CPU (1).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-5} WARMUP=${WARMUP:-1}
CONNS=${CONNS:-100} DEPTH=${DEPTH:-16} SIZE=${SIZE:-32}
TRANSPORTS=${TRANSPORTS:-websocket}
WSIO_SERVER=${WSIO_SERVER:-$root/build/wsio-server}
WSIO_CLIENT_BENCH=${WSIO_CLIENT_BENCH:-$root/build/wsio-client-bench}
SERVER_CPU=${SERVER_CPU:-0} BENCH_CPU=${BENCH_CPU:-1}
[ "$(nproc)" -lt 2 ] && SERVER_CPU=0 BENCH_CPU=0
say() { echo "client_bench.sh: $*" >&2; }

if [ "${NO_BUILD:-0}" != 1 ]; then
  say "building wsio-server and wsio-client-bench"
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$root/build" -j"$(nproc)" --target wsio-server wsio-client-bench >/dev/null
fi
mkdir -p "$here/results"
raw=$here/results/client-raw-$(date +%Y%m%d-%H%M%S).jsonl
: >"$raw"

srv_pid=
cleanup() { [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null || true; }
trap cleanup EXIT
log=$(mktemp)
taskset -c "$SERVER_CPU" "$WSIO_SERVER" --app bench --host 127.0.0.1 --port 0 2>"$log" &
srv_pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$log" && break; sleep 0.05; done
port=$(sed -n 's/.*listening on [^ ]*:\([0-9]*\).*/\1/p' "$log" | head -1)
[ -n "$port" ] || { say "wsio-server did not start: $(tail -3 "$log")"; exit 1; }
url=http://127.0.0.1:$port
limit=$((${DURATION%.*} + ${WARMUP%.*} + 60))

for round in $(seq "$ROUNDS"); do
  for t in $TRANSPORTS; do
    flag=(); [ "$t" = polling ] && flag=(--polling)
    # Alternate which client runs first in a round.
    order=(wsio node); [ $((round % 2)) = 0 ] && order=(node wsio)
    for c in "${order[@]}"; do
      common=(--url "$url" -c "$CONNS" -d "$DEPTH" -s "$SIZE" -t "$DURATION" -w "$WARMUP" "${flag[@]}")
      if [ "$c" = wsio ]; then cmd=("$WSIO_CLIENT_BENCH" "${common[@]}")
      else cmd=(node "$here/client/sio_client_bench.js" "${common[@]}"); fi
      out=$(timeout "$limit" taskset -c "$BENCH_CPU" "${cmd[@]}" 2>>"$raw.log") || say "round $round $c $t: rc=$?"
      [ -n "${out:-}" ] && echo "$out" >>"$raw"
      say "round $round $c $t: ${out:-no result}"
    done
  done
done

python3 - "$raw" <<'PY' | tee "$here/results/client-latest.md"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| client | transport | connections x in flight | messages/s (median) | client CPU µs/message (median) | runs |")
print("|---|---|---|---|---|---|")
keys = sorted({(r["client"], r["transport"]) for r in rows})
for c, t in keys:
    rs = [r for r in rows if r["client"] == c and r["transport"] == t and r["messages"]]
    if not rs:
        print(f"| {c} | {t} | - | failed | - | 0 |"); continue
    print(f"| {c} | {t} | {rs[0]['connections']} x {rs[0]['in_flight']} | "
          f"{statistics.median(r['msgs_per_s'] for r in rs):,.0f} | "
          f"{statistics.median(r['cpu_us_per_msg'] for r in rs):.2f} | {len(rs)} |")
PY
