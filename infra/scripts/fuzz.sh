#!/usr/bin/env bash
# `make fuzz`: every cargo-fuzz target for FUZZ_SECONDS (60) each, seeded with the saved inputs
# of fuzz/regressions/<target>/. A crash stops the run with the input's path: fix the code, then
# copy the input into fuzz/regressions/<target>/ so `make test` replays it for good.
# The pinned stable toolchain runs libFuzzer's nightly flags through RUSTC_BOOTSTRAP (no other
# toolchain can be installed here); cargo-fuzz itself is installed into .tools/ once.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH="${FUZZ_SECONDS:-60}"
TOOLS="$PWD/.tools"
if [ ! -x "$TOOLS/bin/cargo-fuzz" ]; then
  cargo install --locked --root "$TOOLS" cargo-fuzz
fi
export PATH="$TOOLS/bin:$PATH" RUSTC_BOOTSTRAP=1
status=0
for target in webhook_body signature customer_input; do
  echo "== fuzz $target for ${SECONDS_EACH}s"
  mkdir -p "fuzz/corpus/$target"
  if ! (cd fuzz && cargo fuzz run "$target" "corpus/$target" "regressions/$target" -- \
        -max_total_time="$SECONDS_EACH" -timeout=10 -print_final_stats=1 2>&1 | tail -n 25); then
    echo "!! $target found a crash: see fuzz/artifacts/$target/" >&2
    status=1
  fi
done
exit $status
