#!/usr/bin/env bash
# Runs every cargo-fuzz target under libFuzzer for a fixed time each and says which ones crashed.
#
#   scripts/fuzz.sh                    # every target from `cargo fuzz list`, 60 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh   # longer runs
#   scripts/fuzz.sh sdp rtcp_parse     # only these targets
#
# Environment:
#   FUZZ_SECONDS       seconds per target (default 60)
#   FUZZ_SANITIZER     cargo fuzz --sanitizer: address (default), leak, memory, thread, none
#   FUZZ_RSS_LIMIT_MB  libFuzzer -rss_limit_mb (default 4096)
#
# cargo-fuzz needs nightly-only flags (-Zsanitizer, ...); RUSTC_BOOTSTRAP=1 unlocks them on a
# stable toolchain, so no nightly is needed. The first build of the instrumented targets is slow
# (it rebuilds every dependency with sanitizer coverage); later runs reuse fuzz/target.
#
# Corpora grow in fuzz/corpus/<target>/, crash inputs land in fuzz/artifacts/<target>/ and each
# run's full libFuzzer log in fuzz/artifacts/<target>.log (all git-ignored). Reproduce a crash with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/crash-...
# and shrink it with `cargo fuzz tmin <target> <artifact>`.
#
# Exit status: 0 when every target ran its time without a crash, 1 otherwise.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZ_SANITIZER=${FUZZ_SANITIZER:-address}
FUZZ_RSS_LIMIT_MB=${FUZZ_RSS_LIMIT_MB:-4096}
export RUSTC_BOOTSTRAP=1

say() { printf 'fuzz: %s\n' "$*" >&2; }

if ! [[ $FUZZ_SECONDS =~ ^[1-9][0-9]*$ ]]; then
    say "FUZZ_SECONDS must be a positive whole number of seconds, not '$FUZZ_SECONDS'"
    exit 2
fi

# rustup installs into ~/.cargo/bin, which a fresh shell, make or CI may not have on PATH.
if [[ -d "$HOME/.cargo/bin" && ":$PATH:" != *":$HOME/.cargo/bin:"* ]]; then
    PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    say "no Rust toolchain (cargo not found); run scripts/install-deps.sh first"
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    say "cargo-fuzz is missing; installing it from crates.io"
    cargo install cargo-fuzz --locked
fi

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    if ! listing=$(cargo fuzz list); then
        say "cargo fuzz list failed in $PWD (no cargo project with a fuzz/ crate?)"
        exit 2
    fi
    read -r -d '' -a targets <<<"$listing" || true
fi
if [[ ${#targets[@]} -eq 0 ]]; then
    say "no fuzz targets found (cargo fuzz list printed nothing)"
    exit 2
fi

say "building ${#targets[@]} target(s) with sanitizer '$FUZZ_SANITIZER' (slow the first time)"
for target in "${targets[@]}"; do
    cargo fuzz build --sanitizer "$FUZZ_SANITIZER" "$target"
done

# The last value of a libFuzzer field in a log: "stat::name: N" lines, else "name: N" on status lines.
final_stat() {
    local log=$1 stat=$2 status_field=$3 value
    value=$(sed -n "s/^stat::$stat: *\([0-9][0-9]*\).*/\1/p" "$log" | tail -n 1)
    if [[ -z $value && -n $status_field ]]; then
        value=$(grep -o "$status_field: [0-9][0-9]*" "$log" | tail -n 1 | sed 's/.*: //' || true)
    fi
    printf '%s' "${value:-?}"
}

summaries=()
failed=0
for target in "${targets[@]}"; do
    log="fuzz/artifacts/$target.log"
    mkdir -p fuzz/artifacts
    say "running $target for ${FUZZ_SECONDS}s (log: $log)"
    rc=0
    # timeout is a backstop only: libFuzzer stops itself after -max_total_time.
    timeout --kill-after=30 "$((FUZZ_SECONDS + 300))" \
        cargo fuzz run --sanitizer "$FUZZ_SANITIZER" "$target" -- \
        -max_total_time="$FUZZ_SECONDS" -rss_limit_mb="$FUZZ_RSS_LIMIT_MB" -print_final_stats=1 \
        >"$log" 2>&1 || rc=$?

    executions=$(final_stat "$log" number_of_executed_units "")
    if [[ $executions == "?" ]]; then
        # No final stats (e.g. killed): fall back to the last "#N" status line.
        executions=$(sed -n 's/^#\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
        executions=${executions:-?}
    fi
    exec_per_sec=$(final_stat "$log" average_exec_per_sec "exec/s")
    coverage=$(grep -o 'cov: [0-9][0-9]*' "$log" | tail -n 1 | sed 's/cov: //' || true)
    coverage=${coverage:-?}

    if [[ $rc -eq 0 ]]; then
        result=ok
    else
        failed=1
        artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        artifact=${artifact#"$PWD"/}
        if [[ $rc -eq 124 || $rc -eq 137 ]]; then
            result="HUNG (killed after $((FUZZ_SECONDS + 300))s)"
        elif [[ -n $artifact ]]; then
            result="CRASH (exit $rc, input: $artifact)"
        elif ! grep -q '^#[0-9]' "$log"; then
            result="FAILED before fuzzing (exit $rc, build or start-up; see $log)"
        else
            result="FAILED (exit $rc, see $log)"
        fi
        say "$target: $result"
        # The panic message (or sanitizer report) with the top of its backtrace, then the end of
        # the log (libFuzzer's stats and cargo-fuzz's "Reproduce with" / "Minimize" hints).
        first=$(grep -n -m 1 -E 'panicked at|ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)' "$log" |
            cut -d: -f1 || true)
        if [[ -n $first ]]; then
            sed -n "${first},$((first + 30))p" "$log" >&2
            echo "[...]" >&2
        fi
        grep -v -E '^ +[0-9]+: |^ +at ' "$log" | tail -n 25 >&2 || true
    fi
    summaries+=("$(printf '%-20s seconds=%-5s executions=%-10s exec/s=%-7s cov=%-6s %s' \
        "$target" "$FUZZ_SECONDS" "$executions" "$exec_per_sec" "$coverage" "$result")")
done

echo
echo "fuzz summary (sanitizer: $FUZZ_SANITIZER):"
printf '%s\n' "${summaries[@]}"
if [[ $failed -ne 0 ]]; then
    echo "fuzz: at least one target failed"
    exit 1
fi
echo "fuzz: all ${#targets[@]} target(s) ran without a crash"
