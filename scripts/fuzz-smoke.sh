#!/usr/bin/env bash
# Runs a libFuzzer target for a bounded time on a seed corpus of real GGUF files.
set -euo pipefail
bin=$1
seconds=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
corpus=$(mktemp -d)
trap 'rm -rf "$corpus"' EXIT
for f in "$root"/../shared/models/stories260K*.gguf "$root"/../shared/golden/tokenizer/*.gguf; do
  [ -f "$f" ] && head -c 65536 "$f" > "$corpus/$(basename "$f")"
done
"$bin" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 "$corpus" 2>&1 | tail -n 15
