# curlsock's two commands are `make demo` and `make test`; both install what
# a fresh Debian 12 lacks first.
SHELL := /bin/bash
GO ?= go
# go-curl uses libcurl APIs that curl.h marks deprecated: keep its warnings
# out of every build, and keep cgo's default optimisation and debug info.
export CGO_CFLAGS ?= -O2 -g -Wno-deprecated-declarations
CURL8_PREFIX ?= $(CURDIR)/.curl8
TESTFLAGS ?= -race -count=1

.PHONY: all deps test test-curl8 test-asan vet demo

all: test

# libcurl's headers and pkg-config, from Debian, only when missing.
deps:
	@if ! { command -v pkg-config >/dev/null && pkg-config --exists libcurl \
		&& echo '#include <curl/curl.h>' | $${CC:-gcc} $$(pkg-config --cflags libcurl) -E -x c - >/dev/null 2>&1; }; then \
		echo "installing libcurl4-openssl-dev and pkg-config" >&2; \
		SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libcurl4-openssl-dev pkg-config >/dev/null; \
	fi

vet: deps
	$(GO) vet ./...

# The suite against the system's libcurl (Debian 12: 7.88.1).
test: vet
	$(GO) test $(TESTFLAGS) ./...

# The same suite against libcurl 8.x from bookworm-backports, unpacked into a
# private prefix; the system's libcurl and apt state are not touched.
test-curl8: deps
	E=$$(scripts/curl8.sh $(CURL8_PREFIX)) && eval "$$E" && \
		$(GO) vet ./... && $(GO) test $(TESTFLAGS) ./...

# AddressSanitizer on the C side, with LeakSanitizer checking at exit that no
# C memory (lists, strings, shares) is left behind.
test-asan: deps
	$(GO) test -asan -short -count=1 .

# The curlsock CLI's self-contained demo, against servers it starts on
# loopback: a fetch with its socket trace, a rewritten destination, and a
# redirect to a private address that the guard stops.
demo: deps
	$(GO) build -o curlsock ./cmd/curlsock
	./curlsock

# The end-to-end benchmark (bench/, BENCHMARKS.md): fresh-connection GETs
# against a local nginx, curlsock's Go socket callbacks against C ones,
# go-curl and pycurl. Installs nginx-light and python3-pycurl when missing,
# prints one markdown table and writes it to bench/results.md. Not part of
# `make test`. Flags: make bench BENCHFLAGS="-rounds 11 -n 500"; against
# libcurl 8.x (as test-curl8 does): make bench BENCH_CURL8=1.
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
	@set -e; out=; \
	if [ -n "$(BENCH_CURL8)" ]; then \
		E=$$(scripts/curl8.sh $(CURL8_PREFIX)); eval "$$E"; out="-out bench/results-curl8.md"; \
	fi; \
	echo "$(GO) run ./bench $$out $(BENCHFLAGS)"; \
	$(GO) run ./bench $$out $(BENCHFLAGS)
