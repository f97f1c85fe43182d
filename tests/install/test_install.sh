#!/usr/bin/env bash
# tests/install/test_install.sh BUILD_DIR — installs the build into a scratch prefix
# and checks that programs build against it and run, both ways users build (pkg-config
# and CMake's find_package) and against both libraries (libwsio.so and libwsio.a):
#  - examples/echo.c and the README's example compile;
#  - clash.c, which defines map_get, loop_run, net_write and sbuf_put itself, links and
#    runs (only wsio_* may be global in either library);
#  - json.c, a wsio/json.h user, links with the wsio-json module / wsio::wsio_json;
#  - `make install PREFIX=...` (and DESTDIR) installs where it is told.
# Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
src=$(pwd)
build=$(cd "${1:-build}" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
pass=0 fail=0
check() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }
# runs PROGRAM and checks it printed "ok" (the test programs exit non-zero otherwise).
runs_ok() { [ "$(timeout 60 "$@")" = ok ]; }
needs_libwsio_so() { readelf -d "$1" | grep -q 'NEEDED.*libwsio\.so'; }
static_only() { ! needs_libwsio_so "$1"; }
# Every defined global of a library: wsio_*, plus the ELF bookkeeping of a .so.
only_wsio_exported() {
  local extra
  extra=$(nm "$@" --defined-only 2>/dev/null | awk 'NF == 3 && $2 ~ /[A-Z]/ {print $3}' |
    grep -v -E '^(wsio_|_init$|_fini$|_edata$|_end$|__bss_start$)')
  [ -z "$extra" ] || { echo "exported without wsio_:" $extra | head -c 400; echo; return 1; }
}

cmake --install "$build" --prefix "$prefix" >/dev/null
check test -f "$prefix/include/wsio.h"
check test -f "$prefix/include/wsio/json.h"
check test -f "$prefix/lib/libwsio.a"
check test -f "$prefix/lib/libwsio.so.0"
check test -f "$prefix/lib/pkgconfig/wsio.pc"
check test -f "$prefix/lib/pkgconfig/wsio-json.pc"
check test -f "$prefix/lib/cmake/wsio/wsioConfig.cmake"
check test -x "$prefix/bin/wsio-server"
check test -x "$prefix/bin/wsio-cat"
check test -f "$prefix/include/wsio/client.h"
check test -f "$prefix/share/man/man1/wsio-cat.1"
check only_wsio_exported -D "$prefix/lib/libwsio.so"
check only_wsio_exported -g "$prefix/lib/libwsio.a"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
libdir=$(pkg-config --variable=libdir wsio)
rpath=-Wl,-rpath,$libdir
# A static link names the archive where pkg-config says -lwsio (the .so would win).
static_libs() { pkg-config --static --libs "$@" | sed 's/-lwsio\b/-l:libwsio.a/'; }
# shellcheck disable=SC2046
{
  check cc -Wall -Werror -o "$tmp/echo-pc" examples/echo.c $(pkg-config --cflags --libs wsio)
  check cc -Wall -Werror -o "$tmp/clash-pc-shared" tests/install/clash.c -pthread $(pkg-config --cflags --libs wsio) "$rpath"
  check cc -Wall -Werror -o "$tmp/clash-pc-static" tests/install/clash.c -pthread $(pkg-config --cflags wsio) $(static_libs wsio)
  check cc -Wall -Werror -o "$tmp/json-pc-shared" tests/install/json.c $(pkg-config --cflags --libs wsio-json) "$rpath"
  check cc -Wall -Werror -o "$tmp/json-pc-static" tests/install/json.c $(pkg-config --cflags wsio-json) $(static_libs wsio-json)
}
check needs_libwsio_so "$tmp/clash-pc-shared"
check static_only "$tmp/clash-pc-static"
check runs_ok "$tmp/clash-pc-shared"
check runs_ok "$tmp/clash-pc-static"
check runs_ok "$tmp/json-pc-shared"
check runs_ok "$tmp/json-pc-static"

# The README's example, as printed there, with the README's build line.
sed -n '/^## The C API/,/^## /p' README.md | sed -n '/^```c$/,/^```$/p' | sed '1d;$d' >"$tmp/readme.c"
check grep -q wsio_app_create "$tmp/readme.c"
# shellcheck disable=SC2046
check cc -Wall -Wextra -Werror -o "$tmp/readme" "$tmp/readme.c" $(pkg-config --cflags --libs wsio) "$rpath"

mkdir -p "$tmp/proj"
cat >"$tmp/proj/CMakeLists.txt" <<EOC
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(wsio REQUIRED)
find_package(Threads REQUIRED)
add_executable(echo $src/examples/echo.c)
target_link_libraries(echo PRIVATE wsio::wsio_static)
foreach(kind shared static)
  add_executable(clash_\${kind} $src/tests/install/clash.c)
  target_link_libraries(clash_\${kind} PRIVATE wsio::wsio_\${kind} Threads::Threads)
  add_executable(json_\${kind} $src/tests/install/json.c)
  target_link_libraries(json_\${kind} PRIVATE wsio::wsio_\${kind} wsio::wsio_json)
endforeach()
EOC
check cmake -S "$tmp/proj" -B "$tmp/proj/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release -Wno-dev >/dev/null
check cmake --build "$tmp/proj/build" >/dev/null
check test -x "$tmp/proj/build/echo"
check needs_libwsio_so "$tmp/proj/build/clash_shared"
check static_only "$tmp/proj/build/clash_static"
for p in clash_shared clash_static json_shared json_static; do check runs_ok "$tmp/proj/build/$p"; done

# make install PREFIX=... from a fresh build directory (the given one keeps its prefix),
# then the same build staged under DESTDIR.
mkprefix=$tmp/mk-prefix
check make -s install BUILD="$tmp/mk-build" PREFIX="$mkprefix" JOBS=2 >/dev/null
check test -f "$mkprefix/lib/libwsio.so.0"
check test -f "$mkprefix/lib/pkgconfig/wsio-json.pc"
check test -f "$mkprefix/share/wsio/static/index.html"
check grep -q "$mkprefix/share/wsio/static" "$mkprefix/bin/wsio-server"
check make -s install BUILD="$tmp/mk-build" DESTDIR="$tmp/stage" JOBS=2 >/dev/null
check test -x "$tmp/stage$mkprefix/bin/wsio-server"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
