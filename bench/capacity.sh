#!/usr/bin/env bash
# bench/capacity.sh — what one idle connection costs, user space and kernel, measured
# (the inputs of docs/capacity.md). Starts wsio-server on loopback, opens N idle
# connections with wsio-bench (raw WebSocket "idle", then Socket.IO "sio-idle"), and
# while they are held reads the server's VmRSS and the kernel's slab memory
# (/proc/meminfo "Slab:") before and after. Client and server run on this machine, so
# the slab delta covers 2 x N sockets; half of it is the server's share (a loopback
# client socket costs the kernel what the server's does). Bounded: each mode holds its
# connections HOLD seconds, then everything it started is stopped by PID.
#
# Environment: N (10000), HOLD (6), WSIO_SERVER, WSIO_BENCH (default build/...),
# MODES ("idle sio-idle"). Needs ulimit -n >= N + 100 for each process.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
N=${N:-10000}
HOLD=${HOLD:-6}
MODES=${MODES:-"idle sio-idle"}
WSIO_SERVER=${WSIO_SERVER:-$root/build/wsio-server}
WSIO_BENCH=${WSIO_BENCH:-$root/build/wsio-bench}
ulimit -n $((N + 200)) 2>/dev/null || { echo "capacity.sh: ulimit -n $((N + 200)) refused" >&2; exit 1; }
[ -x "$WSIO_SERVER" ] && [ -x "$WSIO_BENCH" ] || { echo "capacity.sh: build wsio-server and wsio-bench first" >&2; exit 1; }

slab_kib() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
port=$((20000 + RANDOM % 20000))
echo "| connection | server RSS B/conn | kernel slab B/socket | total B/conn |"
echo "|---|---:|---:|---:|"
for mode in $MODES; do
  "$WSIO_SERVER" --app bench --host 127.0.0.1 --port "$port" >/dev/null 2>&1 &
  srv=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  s0=$(slab_kib) r0=$(rss_kib "$srv")
  timeout $((HOLD + 60)) "$WSIO_BENCH" "$mode" --url "ws://127.0.0.1:$port" -c "$N" -t "$HOLD" >/dev/null 2>&1 &
  bench=$!
  # Sample once every connection is open: the bench opens them first, then holds.
  for _ in $(seq $((HOLD * 10))); do
    open=$(ls "/proc/$srv/fd" 2>/dev/null | wc -l)
    [ "$open" -ge "$N" ] && break
    sleep 0.1
  done
  sleep 1
  s1=$(slab_kib) r1=$(rss_kib "$srv")
  wait "$bench" || true
  kill "$srv" 2>/dev/null; wait "$srv" 2>/dev/null || true
  user=$(((r1 - r0) * 1024 / N)) kern=$(((s1 - s0) * 1024 / (2 * N)))
  case $mode in idle) name="raw WebSocket" ;; sio-idle) name="Socket.IO (websocket)" ;; *) name=$mode ;; esac
  echo "| $name | $user | $kern | $((user + kern)) |"
  port=$((port + 1))
done
echo
echo "N = $N idle connections per mode; kernel share = slab delta / (2 N) (client and server sockets on one machine)."
