#!/usr/bin/env bash
# bench/scaling.sh — throughput on every core (issue 17): wsio-server --threads N, and N
# C++ uWebSockets apps on N threads (the uws-cpp peer with THREADS=N, one listening
# socket per thread on one port), for N in THREADS, each loaded by one wsio-bench process
# per core of LOAD_CPUS at once. Reports, per workload and N: messages/s summed over the
# load generators, the scaling (messages/s ÷ N x those at N = 1; the issue's target is
# 0.8 or more), the server's CPU per message, and whether a load generator used its whole
# core (then it, not the server, set the pace, and the scaling says nothing).
#
# Meant for a machine with many cores (the device tool's 16-core machine), run as one
# prepared command; on this 2-core machine only as a smoke (THREADS="1 2" on two cores
# shared with the load says nothing about scaling). Environment:
#   THREADS      "1 2 4 8"
#   SERVER_CPUS  the cores the server may use: the first N of them at N threads
#                (default: the first half of the machine's cores)
#   LOAD_CPUS    one load generator process per core listed (default: the other half)
#   WORKLOADS    "sio-echo echo": Socket.IO event echo (wsio only: uWebSockets has no
#                Socket.IO) and WebSocket echo (both)
#   SERVERS      "wsio uws-cpp"
#   CONNS DEPTH SIZE  per load generator: connections, messages in flight each, payload
#                (100, 16, 32)
#   DURATION WARMUP  seconds measured and before (5, 1)
#   WSIO_SERVER WSIO_BENCH UWS_SERVER  the binaries (build/..., bench/peers/uws-cpp/build/)
#   RESULTS      where the raw lines go (bench/results/scaling-<time>.jsonl; a folder
#                is given a file of that name inside it)
#
# On the device machine (bare: none of the project's libraries installed), run from
# binaries built here: `bench/scaling.sh --pack` copies wsio-server, wsio-bench, the
# uws-cpp peer and the shared libraries they load (but the C library) into .devbin/
# (gitignored), and the device tool's run carries that folder:
#   run(command="LD_LIBRARY_PATH=.devbin/lib WSIO_SERVER=.devbin/wsio-server
#       WSIO_BENCH=.devbin/wsio-bench UWS_SERVER=.devbin/uws-server RESULTS=$OUT
#       bench/scaling.sh", carry=[".devbin"], timeout_s=300)
# (about 3 minutes: 12 runs of DURATION + WARMUP + start-up).
# Exit status: 0, or 1 when a run failed (a load generator reported errors or lost
# connections: those lines are printed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
if [ "${1:-}" = --pack ]; then
  dev=$root/.devbin
  rm -rf "$dev"
  mkdir -p "$dev/lib"
  bins=("$root/build/wsio-server" "$root/build/wsio-bench" "$here/peers/uws-cpp/build/uws-server")
  cp "${bins[@]}" "$dev/"
  # Every library they load but the C and C++ runtimes and the loader, which must be the
  # host's (this machine's libstdc++ needs a newer C library than some hosts have).
  ldd "${bins[@]}" | awk '/=> \// { print $3 }' |
    grep -vE '/(libc|libm|libstdc\+\+|libgcc_s|ld-linux[^/]*)\.so' | sort -u |
    xargs -r cp -L -t "$dev/lib/"
  du -sh "$dev"
  exit 0
fi
ncpu=$(nproc)
half=$((ncpu / 2 > 0 ? ncpu / 2 : 1))
THREADS=${THREADS:-"1 2 4 8"}
SERVER_CPUS=${SERVER_CPUS:-$(seq -s ' ' 0 $((half - 1)))}
LOAD_CPUS=${LOAD_CPUS:-$(seq -s ' ' "$half" $((ncpu - 1 > half ? ncpu - 1 : half)))}
WORKLOADS=${WORKLOADS:-"sio-echo echo"}
SERVERS=${SERVERS:-"wsio uws-cpp"}
CONNS=${CONNS:-100} DEPTH=${DEPTH:-16} SIZE=${SIZE:-32}
DURATION=${DURATION:-5} WARMUP=${WARMUP:-1}
WSIO_SERVER=${WSIO_SERVER:-$root/build/wsio-server}
WSIO_BENCH=${WSIO_BENCH:-$root/build/wsio-bench}
UWS_SERVER=${UWS_SERVER:-$here/peers/uws-cpp/build/uws-server}
stamp=$(date -u +%Y%m%d-%H%M%S)
RESULTS=${RESULTS:-$here/results/scaling-$stamp.jsonl}
[ -d "$RESULTS" ] && RESULTS=$RESULTS/scaling-$stamp.jsonl
mkdir -p "$(dirname "$RESULTS")"
: >"$RESULTS"
read -r -a scpus <<<"$SERVER_CPUS"
read -r -a lcpus <<<"$LOAD_CPUS"
work=$(mktemp -d)
srv_pid=
cleanup() {
  [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null && wait "$srv_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# $1: the JSON line, $2: a numeric field -> its value (empty when absent).
field() { grep -oE "\"$2\":-?[0-9.]+" <<<"$1" | head -1 | cut -d: -f2; }

# Starts server $1 with $2 threads for workload $3 on the first $2 server cores; sets
# srv_pid and port.
start() {
  local list cmd
  list=$(tr ' ' ',' <<<"${scpus[*]:0:$2}")
  case $1 in
  wsio)
    cmd=("$WSIO_SERVER" --host 127.0.0.1 --port 0 --threads "$2")
    [ "$3" = sio-echo ] && cmd+=(--app bench) ;;
  uws-cpp) cmd=(env THREADS="$2" "$UWS_SERVER" 0) ;;
  esac
  taskset -c "$list" "${cmd[@]}" >"$work/srv.log" 2>&1 &
  srv_pid=$!
  port=
  for _ in $(seq 100); do
    port=$(grep -oE 'listening on 127\.0\.0\.1:[0-9]+' "$work/srv.log" | head -1 | cut -d: -f2 || true)
    [ -n "$port" ] && return 0
    kill -0 "$srv_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "scaling.sh: $1 --threads $2 did not start:" >&2
  cat "$work/srv.log" >&2
  return 1
}

stop() {
  kill "$srv_pid" 2>/dev/null || true
  wait "$srv_pid" 2>/dev/null || true
  srv_pid=
}

status=0
declare -A base
printf '%-9s %-8s %3s %13s %8s %12s %10s %s\n' workload server N "messages/s" scaling "CPU ns/msg" "server %" "load generators"
for w in $WORKLOADS; do
  for s in $SERVERS; do
    [ "$s" = uws-cpp ] && [ "$w" != echo ] && continue
    case $s in wsio) bin=$WSIO_SERVER ;; uws-cpp) bin=$UWS_SERVER ;; esac
    if [ ! -x "$bin" ]; then
      echo "scaling.sh: skipped $s: no $bin" >&2
      continue
    fi
    for n in $THREADS; do
      if [ "$n" -gt "${#scpus[@]}" ]; then
        echo "scaling.sh: skipped $s at $n threads: SERVER_CPUS has ${#scpus[@]} cores" >&2
        continue
      fi
      start "$s" "$n" "$w" || { status=1; continue; }
      pids=()
      for i in "${!lcpus[@]}"; do
        taskset -c "${lcpus[$i]}" "$WSIO_BENCH" "$w" -c "$CONNS" -d "$DEPTH" -s "$SIZE" -t "$DURATION" \
          -w "$WARMUP" --url "ws://127.0.0.1:$port/" --pid "$srv_pid" --json >"$work/lg$i.json" 2>"$work/lg$i.err" &
        pids+=($!)
      done
      failed=0
      for p in "${pids[@]}"; do wait "$p" || failed=1; done
      stop
      total=0 spct=0 k=0 busy=0
      for i in "${!lcpus[@]}"; do
        line=$(cat "$work/lg$i.json" 2>/dev/null || true)
        echo "{\"workload\":\"$w\",\"server\":\"$s\",\"threads\":$n,\"loadgen\":$i,\"result\":${line:-null}}" >>"$RESULTS"
        m=$(field "$line" messages_per_s)
        if [ -z "$m" ]; then
          failed=1
          continue
        fi
        total=$(awk -v a="$total" -v b="$m" 'BEGIN { print a + b }')
        spct=$(awk -v a="$spct" -v b="$(field "$line" server_cpu_pct)" 'BEGIN { print a + b }')
        k=$((k + 1))
        c=$(field "$line" client_cpu_pct)
        awk -v c="${c:-0}" 'BEGIN { exit !(c > 95) }' && busy=$((busy + 1))
      done
      if [ "$failed" = 1 ]; then
        status=1
        echo "scaling.sh: $w on $s at $n threads: a load generator failed:" >&2
        cat "$work"/lg*.err >&2
      fi
      [ "$k" -gt 0 ] || continue
      # Each load generator measured the server's CPU over its own window (they overlap
      # almost whole): their mean is the server's share of a core in that time.
      pct=$(awk -v a="$spct" -v k="$k" 'BEGIN { printf "%.1f", a / k }')
      nsmsg=$(awk -v p="$pct" -v t="$total" 'BEGIN { printf "%.0f", (t > 0 ? p / 100 * 1e9 / t : 0) }')
      key="$w/$s"
      [ "$n" = 1 ] && base[$key]=$total
      sc=$(awk -v t="$total" -v b="${base[$key]:-0}" -v n="$n" 'BEGIN { if (b > 0) printf "%.2f", t / (n * b); else printf "-" }')
      note="$k"
      [ "$busy" -gt 0 ] && note="$k ($busy at their core's limit: load-bound)"
      printf '%-9s %-8s %3s %13.0f %8s %12s %10s %s\n' "$w" "$s" "$n" "$total" "$sc" "$nsmsg" "$pct" "$note"
    done
  done
done
echo "raw: $RESULTS"
exit $status
