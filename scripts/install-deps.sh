#!/usr/bin/env bash
# scripts/install-deps.sh — installs what building and testing wsio needs, and nothing
# when it is all there (a quick check, so `make run` and `make test` can call it every
# time). Debian packages through apt-get (as root; otherwise prints the command and
# fails), npm test dependencies through `npm ci` against the committed lock file.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential cmake pkg-config clang libclang-rt-14-dev   # toolchain, libFuzzer
  libssl-dev zlib1g-dev libjansson-dev liburing-dev            # OpenSSL 3, zlib, jansson, io_uring
  libhiredis-dev libmsgpack-dev redis-server                   # the Redis cluster adapter, its tests
  python3 python3-websockets                                   # interop client
  curl procps                                                  # tests: HTTP probes, ps
  chromium nginx                                               # browser test, proxy test
  gnuplot-nox                                                  # bench/soak.sh: the soak's plot
  gcovr                                                        # make coverage
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: missing Debian packages; run:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm: reinstall only when the lock file changed since the last install.
if [ -f package-lock.json ]; then
  stamp=node_modules/.wsio-lock.sha256
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "install-deps: npm ci"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
  fi
fi
