# Everyday entry points. `make test` is what CI runs (.ci/run).

# rustup installs into ~/.cargo/bin, which a fresh shell, make or CI may not have on PATH.
export PATH := $(HOME)/.cargo/bin:$(PATH)

CARGO ?= cargo
# Arguments for `make run`, e.g. make run ARGS="--help"
ARGS ?=

.PHONY: all deps build run test bench fmt fuzz clean

all: build

deps:
	./scripts/install-deps.sh

build: deps
	$(CARGO) build --release

run: deps
	$(CARGO) run --release -- $(ARGS)

test: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings
	RUST_BACKTRACE=1 $(CARGO) test --all-targets

bench: deps
	$(CARGO) build --release --bin vedette --example retina_client --example screen_latency
	/usr/bin/python3 bench/run.py

fmt:
	$(CARGO) fmt --all

# Every fuzz target under libFuzzer with AddressSanitizer, FUZZ_SECONDS (60) each; installs
# cargo-fuzz if missing. Runs on stable Rust (RUSTC_BOOTSTRAP=1 unlocks the flags it needs).
fuzz: deps
	./scripts/fuzz.sh

clean:
	$(CARGO) clean
	rm -rf fuzz/target
