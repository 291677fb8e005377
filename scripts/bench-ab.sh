#!/usr/bin/env bash
# Old vs new binary on the same `bench gen` run (`BENCH=embed`: `bench embed`),
# alternated REPS times so that a busy machine's load falls on both alike
# (docs/PERFORMANCE.md). One line per run: which binary, the machine's `uptime`
# load, then the bench's JSON.
#   [BENCH=gen|embed] scripts/bench-ab.sh OLD_BIN NEW_BIN [REPS] [-- BENCH_ARGS...]
# Default run: -m qwen2.5-0.5b-q4_0.gguf -p 512 -n 32 --threads 2 (the model from
# `edgerag synth --preset qwen2.5-0.5b --type q4_0 -o qwen2.5-0.5b-q4_0.gguf` in the models directory).
set -euo pipefail
old=$1 new=$2 reps=${3:-3} bench=${BENCH:-gen}
shift $(( $# < 3 ? $# : 3 ))
[ "${1:-}" = "--" ] && shift
args=("$@")
[ ${#args[@]} -gt 0 ] || [ "$bench" != gen ] || args=(-m qwen2.5-0.5b-q4_0.gguf -p 512 -n 32 --threads 2)
for r in $(seq 1 "$reps"); do
  for which in old new; do
    bin=$old; [ "$which" = new ] && bin=$new
    echo "$which rep $r load $(uptime | sed 's/.*load average: //') $("$bin" bench "$bench" "${args[@]}" --json 2>/dev/null | tail -1)"
  done
done
