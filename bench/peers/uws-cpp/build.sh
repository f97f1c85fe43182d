#!/usr/bin/env bash
# Builds the C++ uWebSockets peer into build/: uws-server (plain epoll, no TLS, no
# compression) and, when OpenSSL's headers are there, uws-server-ssl (the same with
# uSockets' OpenSSL backend, LIBUS_USE_OPENSSL, for the wss:// workloads).
# Needs the sources: UWS_SRC=/path/to/uWebSockets USOCKETS_SRC=/path/to/uSockets ./build.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${UWS_SRC:?set UWS_SRC to a uWebSockets source tree}"
: "${USOCKETS_SRC:?set USOCKETS_SRC to a uSockets source tree}"
CC=${CC:-gcc}
CXX=${CXX:-g++}
out="$here/build"

# $1: output name, $2: object folder, the rest: extra flags.
build() {
  local name=$1 obj=$out/$2
  shift 2
  local flags=(-O2 -DUWS_NO_ZLIB -I"$USOCKETS_SRC/src" "$@")
  mkdir -p "$obj"
  rm -f "$obj"/*.o
  # Without LIBUS_USE_OPENSSL, crypto/*.c are empty units; the eventing backend is epoll.
  for f in "$USOCKETS_SRC"/src/*.c "$USOCKETS_SRC"/src/eventing/epoll_kqueue.c "$USOCKETS_SRC"/src/crypto/openssl.c; do
    "$CC" "${flags[@]}" -std=c11 -c "$f" -o "$obj/$(basename "${f%.c}").o"
  done
  local extra=()
  if [[ " $* " == *" -DLIBUS_USE_OPENSSL "* ]]; then
    "$CXX" "${flags[@]}" -std=c++17 -c "$USOCKETS_SRC/src/crypto/sni_tree.cpp" -o "$obj/sni_tree.o"
    extra=(-lssl -lcrypto)
  fi
  "$CXX" "${flags[@]}" -std=c++20 -I"$UWS_SRC/src" "$here/main.cpp" "$obj"/*.o -o "$out/$name" "${extra[@]}"
  echo "built $out/$name"
}

build uws-server obj -DLIBUS_NO_SSL
if echo '#include <openssl/ssl.h>' | "$CC" -E -x c - >/dev/null 2>&1; then
  build uws-server-ssl obj-ssl -DLIBUS_USE_OPENSSL -DUWS_BENCH_SSL
else
  echo "no OpenSSL headers: uws-server-ssl not built (apt-get install libssl-dev)" >&2
fi
