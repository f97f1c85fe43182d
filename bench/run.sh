#!/usr/bin/env bash
# bench/run.sh — runs the same workloads against wsio-server and each available peer
# (bench/peers/: C++ uWebSockets, uWebSockets.js, Node ws for the WebSocket workloads;
# Node socket.io for the Socket.IO ones; a raw TCP echo server as the floor of the echo
# ones) on this machine and prints medians and ratios vs wsio as markdown tables (also
# written to results/latest.md), ending with the issue-17 targets, met or not.
#
# Each run gets a fresh server pinned to CPU 0 and wsio-bench pinned to CPU 1; servers
# alternate within a round, rounds repeat (ROUNDS). Every run is bounded (DURATION
# seconds measured plus warm-up; a hard timeout around each process).
#
# Environment: ROUNDS (3), DURATION (5), WARMUP (1), WINDOW (16, broadcast and
# sio-broadcast), IDLE_CONNS (10000), IDLE_HOLD (2), SIO_IDLE_CONNS (10000),
# SIO_POLLING_CONNS (50), DEFLATE_CONNS (1000), DEFLATE_SIZE (2048), TLS_IDLE_CONNS (10000),
# SERVERS ("wsio wsio-zpc uws-cpp uws-js node-ws tcp-echo socketio socketio-uws"), WORKLOADS
# ("echo echo-100x1 echo-16k echo-512 echo-rtt broadcast broadcast-rate idle connect
# sio-echo sio-echo-rtt sio-broadcast sio-polling sio-idle sio-cluster-bcast
# broadcast-deflate sio-broadcast-deflate wss-echo tls-connect tls-idle"; add
# "sio-client" for bench/client_bench.sh, the client-side Socket.IO benchmark),
# BROADCAST_RATE (100, broadcast-rate's messages/s), MAX_CONNS (unset; caps every
# workload's connection count: tiny smoke runs, e.g. tests/product/bench-smoke.test.js),
# WSIO_SERVER / WSIO_BENCH (default build/...), wsio-tN in SERVERS (wsio-t2, wsio-t4:
# wsio-server --threads N, pinned to SERVER_CPU like the others unless SERVER_CPU names
# several CPUs, e.g. SERVER_CPU=0-3: compare its CPU per unit with wsio's), WSIO_BASE_SERVER (a baseline wsio-server
# binary, e.g. a build of the previous release: measured as server "wsio-base" in the
# same rounds, for before/after ratios; add wsio-base to SERVERS), NO_BUILD=1 to skip the cmake build,
# UWS_SRC + USOCKETS_SRC to build the C++ uWebSockets peer, RESULTS_DIR (bench/results),
# CLUSTER_CLIENTS and CLUSTER_RATE (sio-cluster-bcast, below). The WebSocket workloads run
# against wsio, uws-cpp, uws-js and node-ws; the sio-* ones against wsio (--app bench)
# and socketio (bench/peers/socketio.js) and socketio-uws (socket.io attached to
# uWebSockets.js, bench/peers/socketio-uws.js); a server runs only the workloads it serves.
#
# sio-cluster-bcast (skipped with a line when redis-server or redis-cli is missing):
# Socket.IO room broadcast across two nodes on one Redis that this script starts (pinned
# with the servers), for wsio (--app bench --redis) and Node socket.io (socketio.js with
# REDIS_URL: @socket.io/redis-adapter). Each round and server, four runs: two nodes and
# one node (no Redis), each window-paced (WINDOW: CPU per delivery, deliveries/s) and at
# CLUSTER_RATE broadcasts/s (100: latency, cross-node apart); CLUSTER_CLIENTS (1000) in
# one room, odd-numbered ones on the second node, the publisher on the first; server CPU
# is both nodes' together. Records: sio-cluster-{2n,1n}-{window,rate}.
#
# The *-deflate workloads (broadcast and sio-broadcast to DEFLATE_CONNS clients that
# negotiated permessage-deflate with server_no_context_takeover, DEFLATE_SIZE-byte
# messages) run wsio-server --deflate twice, side by side: "wsio" compresses each
# broadcast once for all recipients (the default), "wsio-zpc" once per recipient
# (--deflate-shared-broadcast off, what Node's ws and socket.io do).
# The TLS workloads (wss-echo: echo over wss://; tls-connect: full TLS + WebSocket
# handshakes per second, no session resumption; tls-idle: TLS_IDLE_CONNS idle wss
# connections, RSS per connection) run against wsio (--tls-cert), uws-cpp (its
# uws-server-ssl build), uws-js (uWS.SSLApp) and node-ws (Node's https), all with one
# throw-away ECDSA P-256 certificate made here with openssl.
#
# Echo and broadcast variants for the issue-17 targets: echo-100x1 (100 connections x 1
# in flight x 32 B), echo-16k (10 x 4 x 16 KiB), echo-512 (1,000 x 1 x 512 B), echo-rtt
# (1 x 1 x 32 B: round-trip latency), broadcast-rate (1,000 subscribers x 64 B at
# BROADCAST_RATE messages/s: delivery latency p50/p99/p999), sio-echo-rtt (one Socket.IO
# client, one event in flight: its RTT against echo-rtt's). tcp-echo
# (bench/peers/tcp-echo, compiled here with cc) runs the echo workloads as raw TCP
# (wsio-bench echo --raw: the same payload bytes, no handshake, no framing): the floor.
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
CLUSTER_CLIENTS=${CLUSTER_CLIENTS:-1000}
CLUSTER_RATE=${CLUSTER_RATE:-100}
DEFLATE_CONNS=${DEFLATE_CONNS:-1000}
DEFLATE_SIZE=${DEFLATE_SIZE:-2048}
TLS_IDLE_CONNS=${TLS_IDLE_CONNS:-10000}
BROADCAST_RATE=${BROADCAST_RATE:-100}
MAX_CONNS=${MAX_CONNS:-}
SERVERS=${SERVERS:-"wsio wsio-zpc uws-cpp uws-js node-ws tcp-echo socketio socketio-uws"}
WORKLOADS=${WORKLOADS:-"echo echo-100x1 echo-16k echo-512 echo-rtt broadcast broadcast-rate idle connect sio-echo sio-echo-rtt sio-broadcast sio-polling sio-idle sio-cluster-bcast broadcast-deflate sio-broadcast-deflate wss-echo tls-connect tls-idle"}
WSIO_SERVER=${WSIO_SERVER:-$root/build/wsio-server}
WSIO_BENCH=${WSIO_BENCH:-$root/build/wsio-bench}
SERVER_CPU=${SERVER_CPU:-0}
BENCH_CPU=${BENCH_CPU:-1}

say() { echo "run.sh: $*" >&2; }

# "sio-client" (not in the default list) is the client-side benchmark, a script of its
# own (bench/client_bench.sh: the library's Socket.IO client beside socket.io-client).
run_client_bench=0
if [[ " $WORKLOADS " == *" sio-client "* ]]; then
  run_client_bench=1
  WORKLOADS=$(echo " $WORKLOADS " | sed 's/ sio-client / /g; s/^ *//; s/ *$//')
  if [ -z "$WORKLOADS" ]; then exec "$here/client_bench.sh"; fi
fi

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
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((TLS_IDLE_CONNS + 100)) ]; then
  TLS_IDLE_CONNS=$(($(ulimit -n) - 100))
  say "ulimit -n is $(ulimit -n): tls-idle uses $TLS_IDLE_CONNS connections"
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

# The raw TCP echo floor: one C file, compiled whenever its source is newer than the binary.
tcp_echo=$here/peers/tcp-echo/build/tcp-echo
build_tcp_echo() {
  [ -x "$tcp_echo" ] && [ "$tcp_echo" -nt "$here/peers/tcp-echo/tcp-echo.c" ] && return 0
  mkdir -p "$(dirname "$tcp_echo")"
  "${CC:-cc}" -O2 -Wall -Wextra -Werror -std=c11 -o "$tcp_echo" "$here/peers/tcp-echo/tcp-echo.c" >&2
}

# --- which servers can run ---------------------------------------------------------------
available=()
skip() { say "skipping $1: $2"; skipped+=("$1: $2"); }
skipped=()
node_ready=
node_deps() {
  [ -n "$node_ready" ] && return "$node_ready"
  node_ready=1
  command -v node >/dev/null || return 1
  # A node_modules that is a symlink is shared with another checkout: npm ci would empty
  # its target and put a copy here, so it is used as it is.
  if [ -L "$here/node_modules" ]; then
    [ -d "$here/node_modules/ws" ] && [ -d "$here/node_modules/socket.io" ] || return 1
    node_ready=0
    return 0
  fi
  if [ ! -d "$here/node_modules/ws" ] || [ ! -d "$here/node_modules/socket.io" ] ||
    [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    say "installing the Node peers' packages (npm ci --prefix bench)"
    npm ci --prefix "$here" --no-audit --no-fund >/dev/null 2>&1 || return 1
  fi
  node_ready=0
}
for s in $SERVERS; do
  case $s in
  wsio | wsio-zpc) if [ -x "$WSIO_SERVER" ]; then available+=("$s"); else skip "$s" "no $WSIO_SERVER (build it first)"; fi ;;
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
  tcp-echo)
    if build_tcp_echo; then available+=(tcp-echo); else skip tcp-echo "bench/peers/tcp-echo/tcp-echo.c did not compile"; fi ;;
  uws-js | node-ws | socketio | socketio-uws)
    if node_deps; then available+=("$s"); else skip "$s" "node or its npm packages are not available"; fi ;;
  *) skip "$s" "unknown server" ;;
  esac
done
[ ${#available[@]} -gt 0 ] || { say "no server to measure"; exit 1; }

# --- the TLS workloads' certificate ---------------------------------------------------------
tlsdir=
case " $WORKLOADS " in *" wss-echo "* | *" tls-"*)
  tlsdir=$(mktemp -d /tmp/wsio-bench-tls.XXXXXX)
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -keyout "$tlsdir/key.pem" -out "$tlsdir/cert.pem" >/dev/null 2>&1 || { say "openssl could not make a certificate"; exit 1; } ;;
esac
is_tls() { case $1 in wss-* | tls-*) return 0 ;; *) return 1 ;; esac; }

# --- server processes (one, or two cluster nodes) -------------------------------------
srv_pid=
srv_port=
srv_pids=()
log=$(mktemp /tmp/wsio-bench-server.XXXXXX)
srv_log=$log.0
stop_server() {
  local p
  for p in ${srv_pids[@]+"${srv_pids[@]}"}; do kill "$p" 2>/dev/null || true; done
  for p in ${srv_pids[@]+"${srv_pids[@]}"}; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  srv_pids=()
  srv_pid=
}
redis_pid=
redis_url=
stop_redis() {
  [ -n "$redis_pid" ] || return 0
  kill "$redis_pid" 2>/dev/null || true
  wait "$redis_pid" 2>/dev/null || true
  redis_pid=
}
trap 'stop_server; stop_redis; rm -f "$log" "$log".*; [ -z "$tlsdir" ] || rm -rf "$tlsdir"' EXIT
trap 'exit 130' INT TERM

# Starts server $1 on a free port, pinned to SERVER_CPU; sets srv_pid and srv_port and
# adds the pid to srv_pids (stop_server ends them all). $2: the workload (wsio serves the
# Socket.IO bench app for the sio-* ones). $3: a Redis URL: the process is a cluster node.
start_server() {
  local cmd redis=${3:-}
  case $1 in
  wsio | wsio-base | wsio-zpc)
    cmd=("$WSIO_SERVER" --host 127.0.0.1 --port 0)
    [ "$1" = wsio-base ] && cmd[0]=$WSIO_BASE_SERVER
    [ "$1" = wsio-zpc ] && cmd+=(--deflate-shared-broadcast off)
    case $2 in *-deflate) cmd+=(--deflate) ;; esac
    case $2 in sio-*) cmd+=(--app bench) ;; esac
    [ -n "$redis" ] && cmd+=(--redis "$redis")
    is_tls "$2" && cmd+=(--tls-cert "$tlsdir/cert.pem" --tls-key "$tlsdir/key.pem") ;;
  uws-cpp) cmd=("$here/peers/uws-cpp/build/uws-server" 0)
    is_tls "$2" && cmd[0]=$here/peers/uws-cpp/build/uws-server-ssl ;;
  wsio-t[0-9]*)
    cmd=("$WSIO_SERVER" --host 127.0.0.1 --port 0 --threads "${1#wsio-t}")
    case $2 in *-deflate) cmd+=(--deflate) ;; esac
    case $2 in sio-*) cmd+=(--app bench) ;; esac
    is_tls "$2" && cmd+=(--tls-cert "$tlsdir/cert.pem" --tls-key "$tlsdir/key.pem") ;;
  tcp-echo) cmd=("$tcp_echo" 0) ;;
  uws-js) cmd=(node "$here/peers/uws-js.js" 0) ;;
  node-ws) cmd=(node "$here/peers/node-ws.js" 0) ;;
  socketio) cmd=(env ${redis:+"REDIS_URL=$redis"} node "$here/peers/socketio.js" 0) ;;
  socketio-uws) cmd=(node "$here/peers/socketio-uws.js" 0) ;;
  esac
  srv_log=$log.${#srv_pids[@]}
  : >"$srv_log"
  # The Node peers and uws-server-ssl take their certificate from the environment.
  is_tls "$2" && cmd=(env TLS_CERT="$tlsdir/cert.pem" TLS_KEY="$tlsdir/key.pem" "${cmd[@]}")
  taskset -c "$SERVER_CPU" "${cmd[@]}" 2>"$srv_log" >/dev/null &
  srv_pid=$!
  srv_pids+=("$srv_pid")
  for _ in $(seq 100); do
    srv_port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$srv_log" | head -1)
    [ -n "$srv_port" ] && return 0
    kill -0 "$srv_pid" 2>/dev/null || break
    sleep 0.1
  done
  say "$1 did not start: $(tail -3 "$srv_log")"
  stop_server
  return 1
}

# One redis-server for the cluster workload, on a free loopback port, nothing persisted.
start_redis() {
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || return 1
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  taskset -c "$SERVER_CPU" redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    >"$log.redis" 2>&1 &
  redis_pid=$!
  for _ in $(seq 100); do
    if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = PONG ]; then
      redis_url=redis://127.0.0.1:$port
      return 0
    fi
    kill -0 "$redis_pid" 2>/dev/null || break
    sleep 0.1
  done
  say "redis-server did not start: $(tail -3 "$log.redis")"
  stop_redis
  return 1
}

# Waits until $1 nodes subscribe the request channel of "/" (both adapters do, pubsub
# and Node's), so no broadcast is published before the other node listens.
redis_nodes() {
  local port=${redis_url##*:} n
  for _ in $(seq 100); do
    n=$(redis-cli -p "$port" PUBSUB NUMSUB 'socket.io-request#/#' 2>/dev/null | tail -1)
    [ "$n" = "$1" ] && return 0
    sleep 0.1
  done
  say "only ${n:-0} of $1 nodes subscribed on Redis"
  return 1
}

# Busy jiffies and all jiffies of the whole machine, to tell how much else ran meanwhile.
machine_jiffies() { awk '/^cpu /{printf "%.0f %.0f\n", $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }

RESULTS_DIR=${RESULTS_DIR:-$here/results}
mkdir -p "$RESULTS_DIR"
raw=$RESULTS_DIR/raw-$(date +%Y%m%d-%H%M%S).jsonl
: >"$raw"

# Whether server $1 serves workload $2.
serves() {
  case $1:$2 in
  tcp-echo:echo | tcp-echo:echo-*) return 0 ;;
  tcp-echo:*) return 1 ;;
  *:sio-cluster-bcast) [ "$1" = wsio ] || [ "$1" = socketio ] ;;
  wsio-t[0-9]*:*) return 0 ;;
  uws-cpp:wss-* | uws-cpp:tls-*) [ -x "$here/peers/uws-cpp/build/uws-server-ssl" ] ;;
  wsio:wss-* | wsio:tls-* | wsio-base:wss-* | wsio-base:tls-* | uws-js:wss-* | uws-js:tls-* | node-ws:wss-* | node-ws:tls-*) return 0 ;;
  *:wss-* | *:tls-*) return 1 ;;
  wsio:* | wsio-zpc:*-deflate) return 0 ;;
  *:*-deflate | wsio-zpc:*) return 1 ;;
  wsio-base:* | socketio:sio-* | socketio-uws:sio-*) return 0 ;;
  socketio:* | socketio-uws:* | *:sio-*) return 1 ;;
  *) return 0 ;;
  esac
}

# Runs workload $2 against server $1 in round $3 and appends one JSON record to $raw.
run_one() {
  local server=$1 work=$2 round=$3 args
  case $work in
  echo) args=(echo -c 100 -d 16 -s 32 -t "$DURATION" -w "$WARMUP") ;;
  echo-100x1) args=(echo -c 100 -d 1 -s 32 -t "$DURATION" -w "$WARMUP") ;;
  echo-16k) args=(echo -c 10 -d 4 -s 16384 -t "$DURATION" -w "$WARMUP") ;;
  echo-512) args=(echo -c 1000 -d 1 -s 512 -t "$DURATION" -w "$WARMUP") ;;
  echo-rtt) args=(echo -c 1 -d 1 -s 32 -t "$DURATION" -w "$WARMUP") ;;
  broadcast) args=(broadcast -c 1000 -s 64 --window "$WINDOW" -t "$DURATION" -w "$WARMUP") ;;
  broadcast-rate) args=(broadcast -c 1000 -s 64 --rate "$BROADCAST_RATE" -t "$DURATION" -w "$WARMUP") ;;
  idle) args=(idle -c "$IDLE_CONNS" -t "$IDLE_HOLD") ;;
  connect) args=(connect -c 64 -t "$DURATION" -w "$WARMUP") ;;
  sio-echo) args=(sio-echo -c 100 -d 16 -s 32 -t "$DURATION" -w "$WARMUP") ;;
  sio-echo-rtt) args=(sio-echo -c 1 -d 1 -s 32 -t "$DURATION" -w "$WARMUP") ;;
  sio-broadcast) args=(sio-broadcast -c 1000 -s 64 --window "$WINDOW" -t "$DURATION" -w "$WARMUP") ;;
  sio-polling) args=(sio-polling -c "$SIO_POLLING_CONNS" -s 32 -t "$DURATION" -w "$WARMUP") ;;
  sio-idle) args=(sio-idle -c "$SIO_IDLE_CONNS" -t "$IDLE_HOLD") ;;
  sio-cluster-bcast) run_cluster "$server" "$round"; return 0 ;;
  wss-echo) args=(echo -c 100 -d 16 -s 32 -t "$DURATION" -w "$WARMUP") ;;
  tls-connect) args=(connect -c 64 -t "$DURATION" -w "$WARMUP") ;;
  tls-idle) args=(idle -c "$TLS_IDLE_CONNS" -t "$IDLE_HOLD") ;;
  broadcast-deflate | sio-broadcast-deflate)
    args=("${work%-deflate}" --deflate -c "$DEFLATE_CONNS" -s "$DEFLATE_SIZE" --window "$WINDOW" -t "$DURATION" -w "$WARMUP") ;;
  *) say "unknown workload $work"; return 0 ;;
  esac
  # The raw floor gets the same bytes without WebSocket framing.
  [ "$server" = tcp-echo ] && args+=(--raw)
  cap_conns
  start_server "$server" "$work" || { failed_start "$server" "$work" "$round"; return 0; }
  local scheme=ws
  is_tls "$work" && scheme=wss
  measure "$server" "$work" "$round" "${args[@]}" --url "$scheme://127.0.0.1:$srv_port" --pid "$srv_pid"
}

# MAX_CONNS: no workload opens more than that many connections (-c in args).
cap_conns() {
  [ -n "$MAX_CONNS" ] || return 0
  local i
  for i in "${!args[@]}"; do
    if [ "${args[$i]}" = -c ] && [ "${args[$((i + 1))]}" -gt "$MAX_CONNS" ]; then args[i + 1]=$MAX_CONNS; fi
  done
}

failed_start() {
  echo "{\"server\":\"$1\",\"workload\":\"$2\",\"round\":$3,\"rc\":-1,\"result\":null}" >>"$raw"
}

# sio-cluster-bcast against server $1 in round $2: two nodes on Redis and one node alone,
# each window-paced and at CLUSTER_RATE broadcasts/s; one record each.
run_cluster() {
  local server=$1 round=$2 nodes pace work args a_port a_pid
  for nodes in 2 1; do
    for pace in window rate; do
      work=sio-cluster-${nodes}n-$pace
      args=(sio-broadcast -c "$CLUSTER_CLIENTS" -s 64 -t "$DURATION" -w "$WARMUP")
      if [ "$pace" = window ]; then args+=(--window "$WINDOW"); else args+=(--rate "$CLUSTER_RATE"); fi
      cap_conns
      if [ "$nodes" = 2 ]; then
        if ! start_server "$server" sio-broadcast "$redis_url"; then failed_start "$server" "$work" "$round"; continue; fi
        a_port=$srv_port a_pid=$srv_pid
        if ! start_server "$server" sio-broadcast "$redis_url" || ! redis_nodes 2; then
          stop_server
          failed_start "$server" "$work" "$round"
          continue
        fi
        args+=(--url "ws://127.0.0.1:$a_port" --pid "$a_pid" --url2 "ws://127.0.0.1:$srv_port" --pid2 "$srv_pid")
      else
        if ! start_server "$server" sio-broadcast; then failed_start "$server" "$work" "$round"; continue; fi
        args+=(--url "ws://127.0.0.1:$srv_port" --pid "$srv_pid")
      fi
      measure "$server" "$work" "$round" "${args[@]}"
    done
  done
}

# Runs wsio-bench with the arguments after $3 against the servers started (srv_pids),
# stops them and appends one JSON record (server $1, workload $2, round $3) to $raw.
measure() {
  local server=$1 work=$2 round=$3 p
  shift 3
  local j0 j1 out rc=0
  j0=$(machine_jiffies)
  out=$(timeout $((${DURATION%.*} + ${WARMUP%.*} + 90)) taskset -c "$BENCH_CPU" "$WSIO_BENCH" "$@" \
    --json 2>>"$raw.log") || rc=$?
  j1=$(machine_jiffies)
  for p in "${srv_pids[@]}"; do
    if ! kill -0 "$p" 2>/dev/null; then say "$server exited during $work: $(tail -3 "$srv_log")"; rc=99; fi
  done
  stop_server
  local busy
  busy=$(echo "$j0 $j1" | awk -v n="$(nproc)" '{d = $4 - $2; printf "%.1f", (d > 0) ? 100 * n * ($3 - $1) / d : 0}')
  echo "{\"server\":\"$server\",\"workload\":\"$work\",\"round\":$round,\"rc\":$rc,\"machine_busy_pct\":$busy,\"result\":${out:-null}}" >>"$raw"
  say "round $round $work $server: rc=$rc $(echo "${out:-}" | cut -c1-160)"
}

case " $WORKLOADS " in
*" sio-cluster-bcast "*)
  if start_redis; then
    say "redis-server for sio-cluster-bcast at $redis_url"
  else
    skipped+=("sio-cluster-bcast: no redis-server / redis-cli (Debian: apt-get install redis-server)")
    say "skipping sio-cluster-bcast: no redis-server / redis-cli"
    WORKLOADS=$(echo " $WORKLOADS " | sed 's/ sio-cluster-bcast / /')
  fi ;;
esac
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
  --sio-polling-conns "$SIO_POLLING_CONNS" --cluster-clients "$CLUSTER_CLIENTS" --cluster-rate "$CLUSTER_RATE" \
  --deflate-conns "$DEFLATE_CONNS" --deflate-size "$DEFLATE_SIZE" --tls-idle-conns "$TLS_IDLE_CONNS" \
  --broadcast-rate "$BROADCAST_RATE" ${MAX_CONNS:+--max-conns "$MAX_CONNS"} | tee "$RESULTS_DIR/latest.md"
if [ "$run_client_bench" = 1 ]; then "$here/client_bench.sh"; fi
