#!/usr/bin/env bash
# Runs a libFuzzer target for a bounded time on a seed corpus:
#   fuzz-smoke.sh BIN SECONDS [SEED_DIR]
# SEED_DIR (e.g. fuzz/corpus/<target>) is copied, so new inputs stay out of the
# checkout; without it the seeds are the heads of real GGUF files.
set -euo pipefail
bin=$1
seconds=${2:-60}
seeds=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
if [ -n "$seeds" ]; then
  cp "$seeds"/* "$corpus"/
else
  for f in "$root"/../shared/models/stories260K*.gguf "$root"/../shared/golden/tokenizer/*.gguf; do
    [ -f "$f" ] && head -c 65536 "$f" > "$corpus/$(basename "$f")"
  done
fi
"$bin" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 "$corpus" 2>&1 | tail -n 15
