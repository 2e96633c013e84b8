# The README's commands. `make test` is what CI runs (.ci/run).
GO ?= go

.PHONY: run test deps vet bench build fuzz

run:
	$(GO) run ./cmd/sfu

build:
	$(GO) build -buildvcs=true -ldflags "-X main.version=$$(git describe --tags --always --dirty 2>/dev/null)" -o bin/sfu ./cmd/sfu

# deps installs what the tests need on a fresh Debian machine: Chromium and
# Firefox ESR for the browser tests, iproute2 and nftables for the
# constrained-link tests, redis-server and redis-tools for the cluster
# tests, haproxy for the tests that put a proxy before Redis.
# It needs root; without root it says what is missing.
deps:
	@bash testdata/install-deps.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

# Packages run one at a time (-p 1): the browser tests need the CPU, and a
# Chromium short of it stops encoding its top simulcast layer.
test: deps vet
	$(GO) test -race -count=1 -p 1 -timeout 15m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./rtp/ ./sfu/

# fuzz runs every fuzz target for FUZZTIME, one after another (go test
# takes one target per package per run). `make test` already runs each
# target's seed corpus and testdata/fuzz/ inputs; this searches further.
# New inputs that find a failure are written to the package's
# testdata/fuzz/FuzzXxx/: keep them as regression cases. FUZZPARALLEL is
# the number of fuzzing processes per target; FUZZMINIMIZETIME bounds the
# shrinking of each new input (go's default, 60s, spends most of a short
# run shrinking on the slower targets).
FUZZTIME ?= 60s
FUZZPARALLEL ?= 1
FUZZMINIMIZETIME ?= 100x
FUZZPKGS ?= ./rtp/ ./sfu/ ./signaling/ ./cluster/

fuzz:
	@set -e; for pkg in $(FUZZPKGS); do \
		for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "== $$pkg $$target ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) \
				-fuzzminimizetime $(FUZZMINIMIZETIME) -parallel $(FUZZPARALLEL) $$pkg; \
		done; \
	done
