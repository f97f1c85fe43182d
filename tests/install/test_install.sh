#!/usr/bin/env bash
# tests/install/test_install.sh BUILD_DIR — installs the build into a scratch prefix
# and checks that a program builds against it both ways users do: pkg-config and
# CMake's find_package. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
pass=0 fail=0
check() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }

cmake --install "$build" --prefix "$prefix" >/dev/null
check test -f "$prefix/include/wsio.h"
check test -f "$prefix/lib/libwsio.a"
check test -f "$prefix/lib/pkgconfig/wsio.pc"
check test -f "$prefix/lib/cmake/wsio/wsioConfig.cmake"
check test -x "$prefix/bin/wsio-server"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# shellcheck disable=SC2046
check cc -Wall -Werror -o "$prefix/echo-pc" examples/echo.c $(pkg-config --cflags --libs --static wsio)
check test -x "$prefix/echo-pc"

mkdir -p "$prefix/proj"
cat > "$prefix/proj/CMakeLists.txt" <<EOC
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(wsio REQUIRED)
add_executable(echo $(pwd)/examples/echo.c)
target_link_libraries(echo PRIVATE wsio::wsio_static)
EOC
check cmake -S "$prefix/proj" -B "$prefix/proj/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_TYPE=Release -Wno-dev >/dev/null
check cmake --build "$prefix/proj/build" >/dev/null
check test -x "$prefix/proj/build/echo"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
