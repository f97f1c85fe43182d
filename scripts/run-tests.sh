#!/usr/bin/env bash
# scripts/run-tests.sh [all|asan] — runs the test suites and prints one line per suite
# and a final "N passed, N failed" (suites). `all`: on the normal build, unit (CTest),
# RFC 6455 conformance, interop (Node ws, Python websockets), Socket.IO (against wsio
# and Node's socket.io), product (metrics, config, logs, signals), the Redis cluster
# (two wsio nodes, wsio + Node both ways), reliability (faults: tests/reliability) and
# a 60-second soak (bench/soak.sh), nginx, browser, the install check and a short fuzz
# run, conformance, interop and Socket.IO once more with --io-uring off
# (WSIO_IO_URING=off), tests/threads and interop and Socket.IO once more against
# --threads 2 (WSIO_SERVER_ARGS); then unit, conformance, interop, Socket.IO, product and the
# two-wsio-node cluster again on the AddressSanitizer+UBSan build, and the LeakSanitizer
# checks of tests/reliability/leaks.test.js. `asan`: only the latter half.
# Exit status is non-zero when any suite failed.
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
PY=/usr/bin/python3
B=${BUILD:-build}
A=${ASAN_BUILD:-build-asan}
JOBS=$(nproc)
passed=0 failed=0 failed_names=()
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

suite() {
  local name=$1; shift
  echo "==== $name"
  local t0=$SECONDS
  if "$@"; then
    passed=$((passed + 1)); echo "==== $name: ok ($((SECONDS - t0))s)"
  else
    failed=$((failed + 1)); failed_names+=("$name"); echo "==== $name: FAILED ($((SECONDS - t0))s)"
  fi
}

run_set() { # $1 = label, $2 = build dir, $3 = Socket.IO targets, $4 = cluster pairs
  local label=$1 dir=$2 targets=$3 pairs=$4 srv
  srv=$(realpath "$dir")/wsio-server
  suite "$label unit" bash -c "cd '$dir' && ctest --output-on-failure -j$JOBS"
  suite "$label conformance" env WSIO_SERVER="$srv" $PY tests/conformance/run.py --server "$srv"
  suite "$label interop-node" env WSIO_SERVER="$srv" node --test tests/interop/
  suite "$label interop-python" env WSIO_SERVER="$srv" $PY tests/interop/test_python_websockets.py
  suite "$label socket.io ($targets)" env WSIO_SERVER="$srv" SIO_TARGETS="$targets" node --test tests/sio/
  # product includes bench-smoke.test.js: bench/run.sh's single-node workloads against
  # this server at <= 50 connections, 0.5 s each (~10 s): fails on a lost or corrupted
  # message, never on a timing.
  [ -d tests/product ] && suite "$label product" env WSIO_SERVER="$srv" node --test tests/product/
  # wsio-cat and the library's WebSocket client role (the wsio-cat next to this server).
  [ -d tests/client ] && suite "$label client" env WSIO_SERVER="$srv" node --test tests/client/
  # Scale-out through a real redis-server (tests/cluster/redis.js starts and kills it):
  # every tests/cluster/*.test.js, the @socket.io/redis-emitter one (emitter.test.js) and
  # a smoke run of bench/run.sh sio-cluster-bcast (bench-smoke.test.js: no loss, no timing).
  suite "$label cluster ($pairs)" env WSIO_SERVER="$srv" CLUSTER_PAIRS="$pairs" node --test tests/cluster/
  [ -d tests/tls ] && suite "$label tls" env WSIO_SERVER="$srv" node --test tests/tls/
  [ -d tests/edge ] && suite "$label edge" env WSIO_SERVER="$srv" node --test tests/edge/
}

if [ "$mode" = all ]; then
  run_set release "$B" wsio,node wsio-wsio,wsio-node,node-wsio
  # The same server without io_uring batching (plain syscalls: old kernels, seccomp).
  srv=$(realpath "$B")/wsio-server
  suite "plain-syscalls conformance" env WSIO_IO_URING=off $PY tests/conformance/run.py --server "$srv"
  suite "plain-syscalls interop-node" env WSIO_IO_URING=off WSIO_SERVER="$srv" node --test tests/interop/
  suite "plain-syscalls socket.io (wsio)" env WSIO_IO_URING=off WSIO_SERVER="$srv" SIO_TARGETS=wsio node --test tests/sio/
  [ -d tests/tls ] && suite "plain-syscalls tls" env WSIO_IO_URING=off WSIO_SERVER="$srv" node --test tests/tls/
  # One loop per thread (--threads 2): its own tests, then the interop and Socket.IO
  # suites against it (WSIO_SERVER_ARGS reaches every server those suites start).
  suite "threads" env WSIO_SERVER="$srv" node --test tests/threads/
  suite "threads-2 interop-node" env WSIO_SERVER="$srv" WSIO_SERVER_ARGS="--threads 2" node --test tests/interop/
  suite "threads-2 socket.io (wsio)" env WSIO_SERVER="$srv" WSIO_SERVER_ARGS="--threads 2" SIO_TARGETS=wsio node --test tests/sio/
  # The ASan server's leak check (leaks.test.js) runs in the asan half, once it is built.
  [ -d tests/reliability ] && suite "reliability" env WSIO_SERVER="$srv" WSIO_NO_ASAN=1 node --test tests/reliability/
  # 60 s ends inside the test app's 120-s recovery window (RSS still warming up): the
  # 2% drift criterion is the 10-minute soak's (make soak); here 5% (docs/reliability.md).
  suite "soak (60 s)" env WSIO_SERVER="$srv" SOAK_SECONDS="${SOAK_SECONDS:-60}" SOAK_MAX_DRIFT="${SOAK_MAX_DRIFT:-0.05}" bench/soak.sh
  [ -d tests/deploy ] && suite "nginx" env WSIO_SERVER="$(realpath "$B")/wsio-server" node --test tests/deploy/
  [ -d tests/browser ] && suite "browser" env WSIO_SERVER="$(realpath "$B")/wsio-server" node --test tests/browser/
  suite "install (pkg-config, CMake package)" tests/install/test_install.sh "$B"
  suite "fuzz-short" make -s fuzz-short
fi
if [ "$mode" = all ] || [ "$mode" = asan ]; then
  suite "asan build" make -s asan
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_set asan "$A" wsio wsio-wsio
  [ -f tests/reliability/leaks.test.js ] && suite "asan leaks (LeakSanitizer)" env ASAN_BUILD="$A" node --test tests/reliability/leaks.test.js
  suite "asan threads" env WSIO_SERVER="$(realpath "$A")/wsio-server" node --test tests/threads/
fi

echo
[ ${#failed_names[@]} -gt 0 ] && echo "failed suites: ${failed_names[*]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
