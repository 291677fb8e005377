#!/bin/bash
# Times `edgerag synth` for the presets of docs/PERFORMANCE.md ("Synthetic model
# generation") and prints one Markdown row per model: wall seconds, CPU seconds
# (user + system) and peak RSS from GNU time, parameters from synth's JSON.
# Usage: scripts/bench-synth.sh [EDGERAG_BINARY] [OUT_DIR] [SYNTH FLAGS...]   (files are deleted after)
set -euo pipefail
bin=${1:-build/tools/edgerag}
out=${2:-$(mktemp -d)}
shift $(( $# < 2 ? $# : 2 ))
mkdir -p "$out"
echo "| preset | type | parameters | wall s | CPU s | peak RSS |"
echo "|---|---|---|---|---|---|"
for pt in smollm2-135m:q8_0 qwen2.5-0.5b:q8_0 qwen2.5-0.5b:q4_0 llama-3.2-1b:q4_0 tinyllama-1.1b:q8_0 qwen3-0.6b:q4_k; do
  preset=${pt%%:*} type=${pt##*:}
  f="$out/$preset-$type.gguf"
  json=$(/usr/bin/time -f '%e %U %S %M' -o "$out/time.txt" "$bin" synth --preset "$preset" --type "$type" -o "$f" --json "$@")
  read -r wall user sys rss_kb < "$out/time.txt"
  params=$(sed -n 's/.*"n_params":\([0-9]*\).*/\1/p' <<< "$json")
  awk -v p="$preset" -v t="$type" -v n="$params" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss_kb" \
    'BEGIN { printf "| %s | %s | %.1f M | %.1f | %.1f | %.0f MB |\n", p, t, n / 1e6, w, u + s, r / 1024 }'
  rm -f "$f"
done
