#!/usr/bin/env bash
# Builds the C++ uWebSockets peer (plain epoll, no TLS, no compression) into build/.
# Needs the sources: UWS_SRC=/path/to/uWebSockets USOCKETS_SRC=/path/to/uSockets ./build.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${UWS_SRC:?set UWS_SRC to a uWebSockets source tree}"
: "${USOCKETS_SRC:?set USOCKETS_SRC to a uSockets source tree}"
CC=${CC:-gcc}
CXX=${CXX:-g++}
out="$here/build"
mkdir -p "$out/obj"
rm -f "$out"/obj/*.o
flags=(-O2 -DLIBUS_NO_SSL -DUWS_NO_ZLIB -I"$USOCKETS_SRC/src")
# LIBUS_NO_SSL turns crypto/*.c into empty units; the eventing backend is epoll by default.
for f in "$USOCKETS_SRC"/src/*.c "$USOCKETS_SRC"/src/eventing/epoll_kqueue.c; do
  "$CC" "${flags[@]}" -std=c11 -c "$f" -o "$out/obj/$(basename "${f%.c}").o"
done
"$CXX" "${flags[@]}" -std=c++20 -I"$UWS_SRC/src" "$here/main.cpp" "$out"/obj/*.o -o "$out/uws-server"
echo "built $out/uws-server"
