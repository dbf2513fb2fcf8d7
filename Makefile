# curlsock's two commands are `make demo` and `make test`; both install what
# a fresh Debian 12 lacks first.
SHELL := /bin/bash
GO ?= go
# go-curl uses libcurl APIs that curl.h marks deprecated: keep its warnings
# out of every build, and keep cgo's default optimisation and debug info.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations
CURL8_PREFIX ?= $(CURDIR)/.curl8
TESTFLAGS ?= -race -count=1

.PHONY: all deps test test-curl8 test-asan test-cgocheck vet lint demo

all: test

# libcurl's headers and pkg-config, from Debian, only when missing; and the
# curl tool, which the CLI's tests compare curlsock with.
deps:
	@missing=; \
	{ command -v pkg-config >/dev/null && pkg-config --exists libcurl \
		&& echo '#include <curl/curl.h>' | $${CC:-gcc} $$(pkg-config --cflags libcurl) -E -x c - >/dev/null 2>&1; } \
		|| missing="libcurl4-openssl-dev pkg-config"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	if [ -n "$$missing" ]; then \
		echo "installing $$missing" >&2; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

vet: deps
	$(GO) vet ./...

# gofmt and staticcheck (pinned: a new release's new checks must not fail an
# unchanged tree), clean on every package.
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
lint: deps
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:" $$out; exit 1; fi
	$(GO) run $(STATICCHECK) ./...

# The suite against the system's libcurl (Debian 12: 7.88.1); then package
# sock once more without cgo, and built for macOS, to prove it needs neither.
test: vet
	$(GO) test $(TESTFLAGS) ./...
	CGO_ENABLED=0 $(GO) test -count=1 ./sock/
	GOOS=darwin CGO_ENABLED=0 $(GO) build ./sock/

# The same suite against libcurl 8.x from bookworm-backports, unpacked into a
# private prefix; the system's libcurl and apt state are not touched.
test-curl8: deps
	E=$$(scripts/curl8.sh $(CURL8_PREFIX)) && eval "$$E" && \
		$(GO) vet ./... && $(GO) test $(TESTFLAGS) ./...

# With CURL8=1 the targets below run against libcurl 8.x from the private
# prefix, as test-curl8 does.
CURL8_ENV = $(if $(CURL8),E=$$(scripts/curl8.sh $(CURL8_PREFIX)) && eval "$$E" &&,)

# AddressSanitizer on the C side, with LeakSanitizer checking at exit that no
# C memory (lists, strings, shares) is left behind.
test-asan: deps
	$(CURL8_ENV) $(GO) test -asan -short -count=1 .

# cgo's full pointer checks: no Go pointer is ever stored in C memory.
test-cgocheck: deps
	$(CURL8_ENV) GOEXPERIMENT=cgocheck2 $(GO) test -short -count=1 .

# The curlsock CLI's self-contained demo, against servers it starts on
# loopback: a fetch with its socket trace, a rewritten destination, and a
# redirect to a private address that the guard stops.
demo: deps
	$(GO) build -o curlsock ./cmd/curlsock
	./curlsock

# The dispatch micro-benchmarks (bench_test.go, go test -bench Dispatch) and
# the end-to-end benchmark (bench/, BENCHMARKS.md): fresh-connection GETs
# against a local nginx, curlsock's Go socket callbacks against C ones,
# go-curl and pycurl. Installs nginx-light and python3-pycurl when missing,
# prints one markdown table and writes it to bench/results.md; then the
# engine and Transport benchmarks (bench-engine, bench-transport, below).
# Not part of `make test`. Flags:
# make bench BENCHFLAGS="-rounds 11 -n 500"; against libcurl 8.x (as
# test-curl8 does): make bench BENCH_CURL8=1.
MICRO_COUNT ?= 5
MICRO_TIME ?= 0.5s
.PHONY: bench
bench: deps
	@missing=; \
	{ command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } || missing="$$missing nginx-light"; \
	/usr/bin/python3 -c 'import pycurl' >/dev/null 2>&1 || missing="$$missing python3-pycurl"; \
	if [ -n "$$missing" ]; then \
		echo "installing$$missing" >&2; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	@set -e; out=; micro=bench/dispatch.txt; \
	if [ -n "$(BENCH_CURL8)" ]; then \
		E=$$(scripts/curl8.sh $(CURL8_PREFIX)); eval "$$E"; out="-out bench/results-curl8.md"; micro=bench/dispatch-curl8.txt; \
	fi; \
	echo "$(GO) test -run '^$$' -bench Dispatch -benchmem -count $(MICRO_COUNT) -benchtime $(MICRO_TIME) . > $$micro"; \
	$(GO) test -run '^$$' -bench Dispatch -benchmem -count $(MICRO_COUNT) -benchtime $(MICRO_TIME) . > $$micro; \
	echo "$(GO) run ./bench -micro $$micro $$out $(BENCHFLAGS)"; \
	$(GO) run ./bench -micro $$micro $$out $(BENCHFLAGS)
	@$(MAKE) --no-print-directory bench-engine
	@$(MAKE) --no-print-directory bench-transport

# The engine benchmark (bench/engine/, BENCHMARKS.md "Engine"): 10,000
# transfers at once (threads, memory per transfer), throughput against nginx
# (keep-alive and fresh connections), cancellation, allocations per
# readiness event; curlsock's Engine against a C driver of libcurl's multi
# socket API and net/http. About 2 minutes; writes bench/engine-results.md
# (bench/engine-results-curl8.md with BENCH_CURL8=1). Flags: make
# bench-engine ENGINEFLAGS="-quick" (under a minute), ENGINEFLAGS="-goals 2
# -rounds 3"; go run ./bench/engine -h lists them.
ENGINEFLAGS ?=
.PHONY: bench-engine
bench-engine: deps
	@{ command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } || { \
		echo "installing nginx-light" >&2; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nginx-light >/dev/null; }
	@set -e; out="-out bench/engine-results.md"; \
	if [ -n "$(BENCH_CURL8)" ]; then \
		E=$$(scripts/curl8.sh $(CURL8_PREFIX)); eval "$$E"; out="-out bench/engine-results-curl8.md"; \
	fi; \
	echo "$(GO) run ./bench/engine $$out $(ENGINEFLAGS)"; \
	$(GO) run ./bench/engine $$out $(ENGINEFLAGS)

# The Transport benchmark (bench/transport/, BENCHMARKS.md "Transport"):
# http.Client over curl.Transport against http.Client over net/http's
# http.Transport, variants interleaved round by round, against nginx: small
# GETs keep-alive and with fresh connections (DisableKeepAlives), 1 and 64
# at once (requests/s, CPU per request); a 1 GiB download read with io.Copy
# and a 64 MiB one read slowly (MB/s, growth of RSS and Go heap). About 2
# minutes; writes bench/transport-results.md (bench/transport-results-curl8.md
# with BENCH_CURL8=1). Flags: make bench-transport TRANSPORTFLAGS="-quick"
# (under a minute), TRANSPORTFLAGS="-rounds 5 -dl-rounds 3 -dur 2s",
# TRANSPORTFLAGS="-variants curl -cases ka64 -cpuprofile curl.pprof -out ''";
# go run ./bench/transport -h lists them.
TRANSPORTFLAGS ?=
.PHONY: bench-transport
bench-transport: deps
	@{ command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; } || { \
		echo "installing nginx-light" >&2; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nginx-light >/dev/null; }
	@set -e; out="-out bench/transport-results.md"; \
	if [ -n "$(BENCH_CURL8)" ]; then \
		E=$$(scripts/curl8.sh $(CURL8_PREFIX)); eval "$$E"; out="-out bench/transport-results-curl8.md"; \
	fi; \
	echo "$(GO) run ./bench/transport $$out $(TRANSPORTFLAGS)"; \
	$(GO) run ./bench/transport $$out $(TRANSPORTFLAGS)

# The long stress run (stress_test.go): CURLSOCK_STRESS goroutines × transfers
# against loopback servers — successes, refusals, connect timeouts, sockopt
# errors, TLS failures, redirects, reused and fresh connections, easy and
# multi, guarded and not — then the process's fds, the socket callbacks' opens
# and closes and curlsock's registrations checked. `make test` runs it at 8x50.
# Bounded by STRESS_TIME (no new transfer starts past it). Against libcurl
# 8.x (as test-curl8 does): make stress STRESS_CURL8=1.
STRESS ?= 64x2000
STRESS_TIME ?= 10m
.PHONY: stress
stress: deps
	@set -e; \
	if [ -n "$(STRESS_CURL8)" ]; then E=$$(scripts/curl8.sh $(CURL8_PREFIX)); eval "$$E"; fi; \
	echo "CURLSOCK_STRESS=$(STRESS) CURLSOCK_STRESS_TIME=$(STRESS_TIME) $(GO) test -count=1 -run '^TestStress(EngineChurn)?$$' -v -timeout 30m ."; \
	CURLSOCK_STRESS=$(STRESS) CURLSOCK_STRESS_TIME=$(STRESS_TIME) \
		$(GO) test -count=1 -run '^TestStress(EngineChurn)?$$' -v -timeout 30m .

# Fuzzing (sock/fuzz_test.go, cmd/curlsock/fuzz_test.go): each target for
# FUZZTIME (`go test` alone runs their seeds and sock/testdata/fuzz/<target>/,
# the corpus earlier fuzzing found; cmd/curlsock/testdata/... for
# FuzzParseArgs). A failing input is saved there too: check it in with the
# fix. To add what a run found, copy
# $(go env GOCACHE)/fuzz/github.com/curlsock/curlsock/sock/<target>.
# The budget is a count of executions, not a duration: with a duration, Go
# 1.26's fuzz coordinator can fail a clean run with a bare "context deadline
# exceeded" when its deadline fires while a worker is mid-call on a loaded
# machine (golang/go#75804, fixed in Go 1.27). A count sets no deadline. A
# duration (FUZZTIME=30s) still works, with that risk.
FUZZTIME ?= 50000x
# The targets of package sock (pure Go: no libcurl needed to fuzz them).
FUZZ_TARGETS := FuzzSockaddrDecode FuzzSockaddrEncode FuzzGuard FuzzRewrite
FUZZ_PKG := ./sock
.PHONY: fuzz
fuzz: deps
	@set -e; \
	for f in $(FUZZ_TARGETS); do \
		echo "$(GO) test -run '^\$$' -fuzz '^$$f\$$' -fuzztime $(FUZZTIME) $(FUZZ_PKG)"; \
		$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $(FUZZ_PKG); \
	done; \
	echo "$(GO) test -run '^\$$' -fuzz '^FuzzParseArgs\$$' -fuzztime $(FUZZTIME) ./cmd/curlsock"; \
	$(GO) test -run '^$$' -fuzz '^FuzzParseArgs$$' -fuzztime $(FUZZTIME) ./cmd/curlsock
