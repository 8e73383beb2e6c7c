#!/usr/bin/env bash
# A short run of every fuzz target: the test suite's check that each target
# still builds and that none finds a crash in its first seconds. Long runs
# (millions of executions) are a benchmark, not a test: see fuzz/README.md.
#
#   fuzz/run-short.sh [SECONDS]      # default 5 seconds per target
#
# Prints one line per target ("fuzz TARGET: ok, N execs" or "... FAILED")
# and exits non-zero if any target crashed. Installs the nightly toolchain
# and cargo-fuzz when they are missing.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-5}"

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: installing the nightly toolchain" >&2
    rustup toolchain install nightly --profile minimal >&2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked >&2
fi

# No sanitizer: safe Rust has no memory errors for ASan to find, and the
# point is panics, hangs and runaway allocation, which libFuzzer sees alone.
cargo +nightly fuzz build -s none -O >&2

status=0
for target in $(cargo +nightly fuzz list); do
    mkdir -p "corpus/$target"
    # New finds go to corpus/ (not kept in git); seeds/ holds requests real
    # clients sent, kept in the repository as starting points.
    dirs=("corpus/$target")
    if [ -d "seeds/$target" ]; then
        dirs+=("seeds/$target")
    fi
    log=$(mktemp)
    # -rss_limit_mb and -timeout turn runaway memory and hangs into
    # failures; -max_len keeps inputs the size of real messages.
    if cargo +nightly fuzz run -s none -O "$target" "${dirs[@]}" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
        -max_len=65536 -print_final_stats=1 >"$log" 2>&1; then
        execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || true)
        if [ -z "$execs" ]; then
            execs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
        fi
        echo "fuzz $target: ok, ${execs:-?} execs in ${seconds}s"
    else
        echo "fuzz $target: FAILED"
        tail -40 "$log" >&2
        status=1
    fi
    rm -f "$log"
done
exit "$status"
