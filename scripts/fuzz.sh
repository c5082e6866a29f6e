#!/usr/bin/env bash
# Builds every fuzz target in fuzz/ with libFuzzer and coverage instrumentation on the stable
# toolchain (what cargo-fuzz does, minus AddressSanitizer, which needs nightly; our targets are
# safe Rust, so what they look for is panics and broken invariants), then runs each for
# SECONDS (default 60) from its corpus in $MONBAN_CACHE_DIR/fuzz-corpus (and fuzz/seeds/<target>). Prints one line per
# target; a crash leaves its input in fuzz/artifacts/<target>/ and fails the script.
#
#   scripts/fuzz.sh [SECONDS] [TARGET ...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-60}"; shift || true
cache="${MONBAN_CACHE_DIR:-/var/tmp/monban-cache}"
export CARGO_TARGET_DIR="$cache/fuzz-target"
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v monban-audit-fuzz)
fi
# An explicit --target keeps the instrumentation flags off build scripts, as cargo-fuzz does.
host="$(rustc -vV | sed -n 's/^host: //p')"
echo "ファズ対象をビルドします / building fuzz targets: ${targets[*]}"
cargo build --release --target "$host" $(printf -- '--bin %s ' "${targets[@]}")
status=0
for t in "${targets[@]}"; do
  corpus="$cache/fuzz-corpus/$t"
  mkdir -p "$corpus" "artifacts/$t"
  printf '==> %s (%ss) … ' "$t" "$secs"
  seeds=()
  [ -d "seeds/$t" ] && seeds=("seeds/$t")
  if "$CARGO_TARGET_DIR/$host/release/$t" -max_total_time="$secs" -artifact_prefix="artifacts/$t/" \
      "$corpus" "${seeds[@]}" > "$cache/fuzz-$t.log" 2>&1; then
    tail -n 1 "$cache/fuzz-$t.log" | grep -o 'Done [0-9]* runs in [0-9]* second(s)' || echo done
  else
    echo "失敗 / FAILED: see $cache/fuzz-$t.log and fuzz/artifacts/$t/"
    status=1
  fi
done
exit $status
