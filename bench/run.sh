#!/usr/bin/env bash
# bench/run.sh — runs the same workloads against wsio-server and each available peer
# (bench/peers/: C++ uWebSockets, uWebSockets.js, Node ws for the WebSocket workloads;
# Node socket.io for the Socket.IO ones) on this machine and prints medians and ratios
# vs wsio as markdown tables (also written to results/latest.md).
#
# Each run gets a fresh server pinned to CPU 0 and wsio-bench pinned to CPU 1; servers
# alternate within a round, rounds repeat (ROUNDS). Every run is bounded (DURATION
# seconds measured plus warm-up; a hard timeout around each process).
#
# Environment: ROUNDS (3), DURATION (5), WARMUP (1), WINDOW (16, broadcast and
# sio-broadcast), IDLE_CONNS (10000), IDLE_HOLD (2), SIO_IDLE_CONNS (10000),
# SIO_POLLING_CONNS (50), SERVERS ("wsio uws-cpp uws-js node-ws socketio socketio-uws"), WORKLOADS
# ("echo broadcast idle connect sio-echo sio-broadcast sio-polling sio-idle"),
# WSIO_SERVER / WSIO_BENCH (default build/...), wsio-tN in SERVERS (wsio-t2, wsio-t4:
# wsio-server --threads N, pinned to SERVER_CPU like the others unless SERVER_CPU names
# several CPUs, e.g. SERVER_CPU=0-3: compare its CPU per unit with wsio's), WSIO_BASE_SERVER (a baseline wsio-server
# binary, e.g. a build of the previous release: measured as server "wsio-base" in the
# same rounds, for before/after ratios; add wsio-base to SERVERS), NO_BUILD=1 to skip the cmake build,
# UWS_SRC + USOCKETS_SRC to build the C++ uWebSockets peer. The WebSocket workloads run
# against wsio, uws-cpp, uws-js and node-ws; the sio-* ones against wsio (--app bench)
# and socketio (bench/peers/socketio.js) and socketio-uws (socket.io attached to
# uWebSockets.js, bench/peers/socketio-uws.js); a server runs only the workloads it serves.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-1}
WINDOW=${WINDOW:-16}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_HOLD=${IDLE_HOLD:-2}
SIO_IDLE_CONNS=${SIO_IDLE_CONNS:-10000}
SIO_POLLING_CONNS=${SIO_POLLING_CONNS:-50}
SERVERS=${SERVERS:-"wsio uws-cpp uws-js node-ws socketio socketio-uws"}
WORKLOADS=${WORKLOADS:-"echo broadcast idle connect sio-echo sio-broadcast sio-polling sio-idle"}
WSIO_SERVER=${WSIO_SERVER:-$root/build/wsio-server}
WSIO_BENCH=${WSIO_BENCH:-$root/build/wsio-bench}
SERVER_CPU=${SERVER_CPU:-0}
BENCH_CPU=${BENCH_CPU:-1}

say() { echo "run.sh: $*" >&2; }

# --- limits and tools ------------------------------------------------------------------
# One descriptor per connection on each side; 65536 where the hard limit allows it.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((IDLE_CONNS + 100)) ]; then
  IDLE_CONNS=$(($(ulimit -n) - 100))
  say "ulimit -n is $(ulimit -n): idle uses $IDLE_CONNS connections"
fi
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((SIO_IDLE_CONNS + 100)) ]; then
  SIO_IDLE_CONNS=$(($(ulimit -n) - 100))
  say "ulimit -n is $(ulimit -n): sio-idle uses $SIO_IDLE_CONNS clients"
fi
if [ "$(nproc)" -lt 2 ]; then
  SERVER_CPU=0 BENCH_CPU=0
  say "warning: one CPU only; server and load generator share it"
fi

if [ "${NO_BUILD:-0}" != 1 ]; then
  say "building wsio-server and wsio-bench"
  cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$root/build" -j"$(nproc)" --target wsio-bench >/dev/null
  cmake --build "$root/build" -j"$(nproc)" --target wsio-server >/dev/null || say "wsio-server did not build"
fi
[ -x "$WSIO_BENCH" ] || { say "no load generator at $WSIO_BENCH"; exit 1; }

# --- which servers can run ---------------------------------------------------------------
available=()
skip() { say "skipping $1: $2"; skipped+=("$1: $2"); }
skipped=()
node_ready=
node_deps() {
  [ -n "$node_ready" ] && return "$node_ready"
  node_ready=1
  command -v node >/dev/null || return 1
  if [ ! -d "$here/node_modules/ws" ] || [ ! -d "$here/node_modules/socket.io" ] ||
    [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    say "installing the Node peers' packages (npm ci --prefix bench)"
    npm ci --prefix "$here" --no-audit --no-fund >/dev/null 2>&1 || return 1
  fi
  node_ready=0
}
for s in $SERVERS; do
  case $s in
  wsio) if [ -x "$WSIO_SERVER" ]; then available+=(wsio); else skip wsio "no $WSIO_SERVER (build it first)"; fi ;;
  wsio-t[0-9]*)
    if [ -x "$WSIO_SERVER" ]; then available+=("$s"); else skip "$s" "no $WSIO_SERVER (build it first)"; fi ;;
  wsio-base)
    if [ -x "${WSIO_BASE_SERVER:-}" ]; then available+=(wsio-base); else skip wsio-base "set WSIO_BASE_SERVER to a baseline wsio-server"; fi ;;
  uws-cpp)
    bin=$here/peers/uws-cpp/build/uws-server
    if [ ! -x "$bin" ] && [ -n "${UWS_SRC:-}" ] && [ -n "${USOCKETS_SRC:-}" ]; then
      "$here/peers/uws-cpp/build.sh" >&2 || true
    fi
    if [ -x "$bin" ]; then available+=(uws-cpp); else skip uws-cpp "not built (set UWS_SRC and USOCKETS_SRC, see bench/README.md)"; fi ;;
  uws-js | node-ws | socketio | socketio-uws)
    if node_deps; then available+=("$s"); else skip "$s" "node or its npm packages are not available"; fi ;;
  *) skip "$s" "unknown server" ;;
  esac
done
[ ${#available[@]} -gt 0 ] || { say "no server to measure"; exit 1; }

# --- one server process ------------------------------------------------------------------
srv_pid=
srv_port=
log=$(mktemp /tmp/wsio-bench-server.XXXXXX)
stop_server() {
  [ -n "$srv_pid" ] || return 0
  kill "$srv_pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$srv_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$srv_pid" 2>/dev/null || true
  wait "$srv_pid" 2>/dev/null || true
  srv_pid=
}
trap 'stop_server; rm -f "$log"' EXIT
trap 'exit 130' INT TERM

# Starts server $1 on a free port, pinned to SERVER_CPU; sets srv_pid and srv_port. $2:
# the workload (wsio serves the Socket.IO bench app for the sio-* ones).
start_server() {
  local cmd
  case $1 in
  wsio | wsio-base)
    cmd=("$WSIO_SERVER" --host 127.0.0.1 --port 0)
    [ "$1" = wsio-base ] && cmd[0]=$WSIO_BASE_SERVER
    case $2 in sio-*) cmd+=(--app bench) ;; esac ;;
  wsio-t[0-9]*)
    cmd=("$WSIO_SERVER" --host 127.0.0.1 --port 0 --threads "${1#wsio-t}")
    case $2 in sio-*) cmd+=(--app bench) ;; esac ;;
  uws-cpp) cmd=("$here/peers/uws-cpp/build/uws-server" 0) ;;
  uws-js) cmd=(node "$here/peers/uws-js.js" 0) ;;
  node-ws) cmd=(node "$here/peers/node-ws.js" 0) ;;
  socketio) cmd=(node "$here/peers/socketio.js" 0) ;;
  socketio-uws) cmd=(node "$here/peers/socketio-uws.js" 0) ;;
  esac
  : >"$log"
  taskset -c "$SERVER_CPU" "${cmd[@]}" 2>"$log" >/dev/null &
  srv_pid=$!
  for _ in $(seq 100); do
    srv_port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$log" | head -1)
    [ -n "$srv_port" ] && return 0
    kill -0 "$srv_pid" 2>/dev/null || break
    sleep 0.1
  done
  say "$1 did not start: $(tail -3 "$log")"
  stop_server
  return 1
}

# Busy jiffies and all jiffies of the whole machine, to tell how much else ran meanwhile.
machine_jiffies() { awk '/^cpu /{printf "%.0f %.0f\n", $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }

mkdir -p "$here/results"
raw=$here/results/raw-$(date +%Y%m%d-%H%M%S).jsonl
: >"$raw"

# Whether server $1 serves workload $2.
serves() {
  case $1:$2 in
  wsio:* | wsio-base:* | wsio-t[0-9]*:* | socketio:sio-* | socketio-uws:sio-*) return 0 ;;
  socketio:* | socketio-uws:* | *:sio-*) return 1 ;;
  *) return 0 ;;
  esac
}

# Runs workload $2 against server $1 in round $3 and appends one JSON record to $raw.
run_one() {
  local server=$1 work=$2 round=$3 args
  case $work in
  echo) args=(echo -c 100 -d 16 -s 32 -t "$DURATION" -w "$WARMUP") ;;
  broadcast) args=(broadcast -c 1000 -s 64 --window "$WINDOW" -t "$DURATION" -w "$WARMUP") ;;
  idle) args=(idle -c "$IDLE_CONNS" -t "$IDLE_HOLD") ;;
  connect) args=(connect -c 64 -t "$DURATION" -w "$WARMUP") ;;
  sio-echo) args=(sio-echo -c 100 -d 16 -s 32 -t "$DURATION" -w "$WARMUP") ;;
  sio-broadcast) args=(sio-broadcast -c 1000 -s 64 --window "$WINDOW" -t "$DURATION" -w "$WARMUP") ;;
  sio-polling) args=(sio-polling -c "$SIO_POLLING_CONNS" -s 32 -t "$DURATION" -w "$WARMUP") ;;
  sio-idle) args=(sio-idle -c "$SIO_IDLE_CONNS" -t "$IDLE_HOLD") ;;
  *) say "unknown workload $work"; return 0 ;;
  esac
  start_server "$server" "$work" || { echo "{\"server\":\"$server\",\"workload\":\"$work\",\"round\":$round,\"rc\":-1,\"result\":null}" >>"$raw"; return 0; }
  local j0 j1 out rc=0
  j0=$(machine_jiffies)
  out=$(timeout $((${DURATION%.*} + ${WARMUP%.*} + 90)) taskset -c "$BENCH_CPU" "$WSIO_BENCH" "${args[@]}" \
    --url "ws://127.0.0.1:$srv_port" --pid "$srv_pid" --json 2>>"$raw.log") || rc=$?
  j1=$(machine_jiffies)
  if ! kill -0 "$srv_pid" 2>/dev/null; then say "$server exited during $work: $(tail -3 "$log")"; rc=99; fi
  stop_server
  local busy
  busy=$(echo "$j0 $j1" | awk -v n="$(nproc)" '{d = $4 - $2; printf "%.1f", (d > 0) ? 100 * n * ($3 - $1) / d : 0}')
  echo "{\"server\":\"$server\",\"workload\":\"$work\",\"round\":$round,\"rc\":$rc,\"machine_busy_pct\":$busy,\"result\":${out:-null}}" >>"$raw"
  say "round $round $work $server: rc=$rc $(echo "${out:-}" | cut -c1-160)"
}

say "servers: ${available[*]}; workloads: $WORKLOADS; $ROUNDS rounds of ${DURATION}s"
for round in $(seq "$ROUNDS"); do
  for work in $WORKLOADS; do
    # Rotate the order each round so no server always runs first or last.
    these=()
    for s in "${available[@]}"; do serves "$s" "$work" && these+=("$s"); done
    n=${#these[@]}
    for i in $(seq 0 $((n - 1))); do
      run_one "${these[$(((i + round - 1) % n))]}" "$work" "$round"
    done
  done
done

python3 "$here/summarize.py" "$raw" --skipped "$(printf '%s\n' "${skipped[@]+"${skipped[@]}"}")" \
  --duration "$DURATION" --window "$WINDOW" --idle-conns "$IDLE_CONNS" --sio-idle-conns "$SIO_IDLE_CONNS" \
  --sio-polling-conns "$SIO_POLLING_CONNS" | tee "$here/results/latest.md"
