#!/usr/bin/env bash
# bench/soak.sh — the soak test (`make soak`): wsio-server under SOAK_SECONDS (default
# 600) of full load — SOAK_WS raw WebSocket connections (default 10,000: /echo, and a
# /broadcast group) and SOAK_SIO Socket.IO clients (default 2,000: WebSocket and
# long-polling, half with connection state recovery) — with churn, room joins and
# leaves, broadcasts, acks and forced drops that recover. bench/soak/driver.js runs the
# load (several Node processes: the cores), checks delivery and acks, and samples the
# server once a second; this script starts the server, then draws the samples with
# gnuplot. Output: bench/results/soak-<stamp>.{csv,json,png,log}. Exit 0 when it passed
# (the criteria are in driver.js: nothing lost, RSS drift < 2%, at most 768 B of RSS per
# client held, loop lag p99 <= 10 ms).
#
# Environment: WSIO_SERVER (default build/wsio-server), SOAK_SECONDS, SOAK_WS, SOAK_SIO,
# and the knobs documented in docs/reliability.md. Everything listens on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
SERVER=${WSIO_SERVER:-build/wsio-server}
[ -x "$SERVER" ] || { echo "soak: $SERVER not built (make build)" >&2; exit 2; }
# 12,000 connections plus the clients' own ends: the descriptor limit here is 20,000 per
# process, and the server and each load process are separate processes.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
mkdir -p bench/results
stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=bench/results/soak-$stamp
log=$out.server.log

"$SERVER" --host 127.0.0.1 --port 0 --app test --ping-interval 10 --ping-timeout 10 \
  --log-level warn --log-file "$log" 2>>"$log" &
srv=$!
trap 'kill -KILL $srv 2>/dev/null || true' EXIT
port=
for _ in $(seq 100); do
  port=$(grep -o 'listening on [^ ]*' "$log" 2>/dev/null | head -1 | sed 's/.*://') || true
  [ -n "$port" ] && break
  sleep 0.1
done
if [ -z "$port" ]; then
  # --log-level warn hides the info line: find the port from the process' socket.
  port=$(ss -ltnpH 2>/dev/null | grep "pid=$srv," | awk '{print $4}' | sed 's/.*://' | head -1)
fi
[ -n "$port" ] || { echo "soak: the server did not start" >&2; cat "$log" >&2; exit 2; }
echo "soak: wsio-server pid $srv on 127.0.0.1:$port; results in $out.*"

rc=0
# The load runs at a lower priority than the server: on a small machine the load
# processes would otherwise take the server's CPU, and its loop lag would measure them.
nice -n 10 node bench/soak/driver.js "$port" "$srv" "$out" || rc=$?
# A clean stop is part of the pass: exit 0 on SIGTERM (an ASan build's LeakSanitizer
# report at exit would make it non-zero; it goes to the server log).
kill -TERM $srv 2>/dev/null || true
for _ in $(seq 150); do kill -0 $srv 2>/dev/null || break; sleep 0.1; done
kill -0 $srv 2>/dev/null && { echo "soak: the server did not exit within 15 s of SIGTERM" >&2; kill -KILL $srv; rc=1; }
st=0
wait $srv || st=$?
if [ "$st" -ne 0 ]; then echo "soak: FAIL: the server exited $st on SIGTERM (log: $log)" >&2; rc=1; fi

if command -v gnuplot >/dev/null 2>&1 && [ -s "$out.csv" ]; then
  gnuplot -e "csv='$out.csv'; png='$out.png'" bench/soak/plot.gp && echo "soak: plot $out.png"
else
  echo "soak: gnuplot missing (scripts/install-deps.sh installs gnuplot-nox): no plot"
fi
exit $rc
