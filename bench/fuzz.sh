#!/usr/bin/env bash
# Fuzzing (cargo fuzz, libFuzzer): the decK loader on arbitrary text and entity
# input on arbitrary JSON of every kind, each for a bounded time. Not part of CI
# (it needs a sanitizer build of its own); findings are fixed and their inputs
# kept in fuzz/seeds/ so the next run starts from them.
#
# The toolchain here is stable: RUSTC_BOOTSTRAP=1 lets cargo fuzz pass the
# sanitizer flags it needs.
#
# Usage: bench/fuzz.sh                 (FUZZ_SECONDS=120 per target by default)
#        bench/fuzz.sh deck_loader     (one target)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${FUZZ_SECONDS:-120}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$HOME/.cache/portico-fuzz-target}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(deck_loader entity_input)
status=0
for t in "${targets[@]}"; do
  corpus="$(mktemp -d)"
  cp -r "fuzz/seeds/$t/." "$corpus/" 2>/dev/null || true
  echo "== $t: ${SECONDS_EACH}s"
  if ! cargo fuzz run --fuzz-dir fuzz "$t" "$corpus" -- \
      -max_total_time="$SECONDS_EACH" -max_len=65536 -rss_limit_mb=4096 -print_final_stats=1 \
      2> "fuzz-$t.log"; then
    echo "!! $t found a crash: see fuzz-$t.log and fuzz/artifacts/$t/"
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb|cov:" "fuzz-$t.log" | tail -3 || true
  rm -rf "$corpus"
done
exit $status
