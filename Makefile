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

fuzz:
	@echo "Fuzz targets live in fuzz/fuzz_targets/; run them from the repository root. cargo-fuzz needs nightly:"
	@echo "  cargo install cargo-fuzz"
	@echo "  cargo +nightly fuzz list"
	@echo "  cargo +nightly fuzz run <target>"
	@echo "With a stable toolchain only, RUSTC_BOOTSTRAP=1 unlocks the nightly flags it needs:"
	@echo "  RUSTC_BOOTSTRAP=1 cargo fuzz run <target>"

clean:
	$(CARGO) clean
	rm -rf fuzz/target
