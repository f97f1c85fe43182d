# wsio — the front door. `make run` and `make test` are the README's two commands.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
COV_BUILD  ?= build-cov
JOBS       ?= $(shell nproc)
PORT       ?= 3000
HOST       ?= 127.0.0.1
FUZZ_SECONDS       ?= 10
FUZZ_LONG_SECONDS  ?= 300
PYTHON     ?= /usr/bin/python3

.PHONY: all build run test deps unit conformance interop fuzz-build fuzz-short fuzz coverage asan test-asan bench soak format clean install

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

# The demo page's Socket.IO client is the official bundle from npm (gitignored copy).
SIO_BUNDLE := node_modules/socket.io-client/dist/socket.io.min.js

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)
	@if [ -f $(SIO_BUNDLE) ]; then mkdir -p static/vendor && cp -u $(SIO_BUNDLE) $(SIO_BUNDLE).map static/vendor/ 2>/dev/null || cp -u $(SIO_BUNDLE) static/vendor/; fi

run: deps build
	$(BUILD)/wsio-server --host $(HOST) --port $(PORT)

# Every test: unit (CTest), conformance, interop, a short fuzz run, then the same unit,
# conformance and interop tests against the ASan+UBSan build.
test: deps build
	@scripts/run-tests.sh all

unit: build
	cd $(BUILD) && ctest --output-on-failure

conformance: build
	$(PYTHON) tests/conformance/run.py --server $(BUILD)/wsio-server

interop: build
	WSIO_SERVER=$(abspath $(BUILD))/wsio-server node --test tests/interop/
	WSIO_SERVER=$(abspath $(BUILD))/wsio-server $(PYTHON) tests/interop/test_python_websockets.py

# Configured every time: the unit-test targets named below come from a glob.
asan:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DWSIO_SANITIZE=ON >/dev/null
	cmake --build $(ASAN_BUILD) -j$(JOBS) --target wsio-server wsio-cat $(notdir $(basename $(wildcard tests/unit/test_*.c)))

test-asan: deps asan
	@scripts/run-tests.sh asan

fuzz-build:
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWSIO_FUZZ=ON >/dev/null
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target $(notdir $(basename $(wildcard fuzz/fuzz_*.c)))

fuzz-short: fuzz-build
	@scripts/run-fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

fuzz: fuzz-build
	@scripts/run-fuzz.sh $(FUZZ_BUILD) $(FUZZ_LONG_SECONDS)

# Line coverage of src/ over the unit, conformance, interop, Socket.IO and product suites
# (gcovr, -O0 --coverage build in $(COV_BUILD)); docs/reliability.md has the figures.
# Slow (about 5 minutes here): not part of `make test`.
coverage: deps
	@scripts/coverage.sh $(COV_BUILD)

bench: build
	bench/run.sh

# The soak (docs/reliability.md): SOAK_SECONDS (default 600) at 10,000 WebSocket + 2,000
# Socket.IO clients with churn; CSV, JSON and PNG under bench/results/.
soak: deps build
	bench/soak.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

# make install [PREFIX=/opt/wsio] [DESTDIR=/tmp/stage]: builds what is installed and
# installs it. PREFIX is set at configure time, not only at install time, because
# wsio-server has its data directory (PREFIX/share/wsio/static) compiled in; without
# PREFIX the build's own CMAKE_INSTALL_PREFIX (default /usr/local) stays.
install: $(BUILD)/CMakeCache.txt
	$(if $(PREFIX),cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(abspath $(PREFIX)) >/dev/null)
	cmake --build $(BUILD) -j$(JOBS) --target wsio_static wsio_shared wsio-server wsio-cat
	DESTDIR=$(DESTDIR) cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(COV_BUILD)
