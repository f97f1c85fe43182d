#!/usr/bin/env bash
# scripts/coverage.sh [BUILD_DIR] — line coverage of src/ (gcovr) over the unit,
# conformance, interop (Node ws, Python websockets), Socket.IO (wsio target), product,
# cluster (two wsio nodes through a real redis-server) and reliability (faults, the
# 60-s soak's checks) suites, on a separate -O0 --coverage build (default build-cov). Writes
# BUILD_DIR/coverage/{summary.txt,folders.txt,index.html} and prints the per-folder
# table and the total. Slow (every suite once, instrumented; about 4.5 minutes here):
# not part of `make test`.
# A failing suite is reported but the report is still made (coverage of what ran).
set -uo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-cov}
PY=/usr/bin/python3
t0=$SECONDS
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS="--coverage -O0" \
  -DCMAKE_EXE_LINKER_FLAGS=--coverage -DCMAKE_SHARED_LINKER_FLAGS=--coverage >/dev/null || exit 1
cmake --build "$B" -j"$(nproc)" --target wsio-server $(basename -s .c tests/unit/test_*.c) \
  >"$B/coverage-build.log" 2>&1 || { tail -30 "$B/coverage-build.log"; exit 1; }
find "$B" -name '*.gcda' -delete
srv=$(realpath "$B")/wsio-server
failed=()
run() {
  local name=$1; shift
  echo "coverage: $name"
  local t=$SECONDS
  "$@" >"$B/coverage-$name.log" 2>&1 || { failed+=("$name"); echo "coverage: $name FAILED (see $B/coverage-$name.log)"; }
  echo "coverage: $name $((SECONDS - t)) s"
}
run unit bash -c "cd '$B' && ctest --output-on-failure"
run conformance env WSIO_SERVER="$srv" $PY tests/conformance/run.py --server "$srv"
run interop-node env WSIO_SERVER="$srv" node --test tests/interop/
run interop-python env WSIO_SERVER="$srv" $PY tests/interop/test_python_websockets.py
run socket.io env WSIO_SERVER="$srv" SIO_TARGETS=wsio node --test tests/sio/
run product env WSIO_SERVER="$srv" node --test tests/product/
run cluster env WSIO_SERVER="$srv" CLUSTER_PAIRS=wsio-wsio node --test tests/cluster/
# The -O0 instrumented server is slower: the soak's loop-lag limit is not what is
# measured here (the release build's soak judges it).
run reliability env WSIO_SERVER="$srv" WSIO_NO_ASAN=1 SOAK_MAX_LAG_MS=1000 node --test tests/reliability/
mkdir -p "$B/coverage"
# gcov runs over the objects of the library and of wsio-server; the unit tests'
# own sources are not under src/ and are filtered out.
gcovr -r . --object-directory "$B" --filter 'src/' -j "$(nproc)" --exclude-directories '.*/CompilerIdC$' \
  --json-summary "$B/coverage/summary.json" --txt "$B/coverage/summary.txt" \
  --html-details "$B/coverage/index.html" >/dev/null || exit 1
$PY - "$B/coverage/summary.json" <<'PYEOF' | tee "$B/coverage/folders.txt"
import json, sys
files = json.load(open(sys.argv[1]))["files"]
folders = {}
for f in files:
    parts = f["filename"].split("/")
    d = "/".join(parts[:2]) if len(parts) > 2 else parts[0]
    t, c = folders.get(d, (0, 0))
    folders[d] = (t + f["line_total"], c + f["line_covered"])
tt = sum(t for t, _ in folders.values()); cc = sum(c for _, c in folders.values())
print(f"{'folder':<14}{'lines':>8}{'covered':>9}{'%':>7}")
for d in sorted(folders):
    t, c = folders[d]
    print(f"{d:<14}{t:>8}{c:>9}{100.0 * c / t if t else 0:>7.1f}")
print(f"{'src/ total':<14}{tt:>8}{cc:>9}{100.0 * cc / tt if tt else 0:>7.1f}")
PYEOF
echo "coverage: report in $B/coverage/index.html; $((SECONDS - t0)) s"
[ ${#failed[@]} -eq 0 ] || { echo "coverage: failed suites: ${failed[*]}"; exit 1; }
