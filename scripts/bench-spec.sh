#!/bin/bash
# Reproduces the "Speculative decoding" figures of docs/PERFORMANCE.md: greedy
# decode speed with and without speculation on stories260K (lookup and the
# q4_0 draft model, story and "retell this story" prompts, auto), then the cost
# of verifying k = 0..8 drafts relative to a decode step on the real shapes.
# Prints one JSON object per line. Run it on a quiet machine for citable figures.
# Usage: scripts/bench-spec.sh [EDGERAG_BINARY] [SHARED_DIR] [BENCH_MODELS_DIR] [THREADS]
set -euo pipefail
bin=${1:-build/tools/edgerag}
shared=${2:-../shared}
bench_models=${3:-bench-models}  # synthetic models (edgerag synth, see docs/PERFORMANCE.md)
threads=${4:-2}
target=$shared/models/stories260K.gguf
draft=$shared/models/stories260K-q4_0-ffndown_f16.gguf
for prompts in bench/spec/stories.jsonl bench/spec/retell.jsonl; do
  for spec in lookup "draft:$draft" auto; do
    # One thread for the tiny model: with more, thread hand-offs dominate its ~0.1 ms steps.
    "$bin" bench spec -m "$target" --speculative "$spec" --prompts "$prompts" -n 128 --threads 1 --pairs 9 --json |
      sed "s|^{|{\"prompts_file\":\"$prompts\",|"
  done
done
# The same lookup run at 2 threads, and the bound no lookup drafter can beat on these outputs.
"$bin" bench spec -m "$target" --speculative lookup --prompts bench/spec/retell.jsonl -n 128 --threads 2 --pairs 9 --json |
  sed "s|^{|{\"prompts_file\":\"bench/spec/retell.jsonl\",|"
for cost in 0.35 0.1 0; do
  scripts/spec-lookup-bound.py "$bin" "$target" bench/spec/retell.jsonl -n 128 --cost $cost
done
for m in qwen2.5-0.5b-q4_0 llama-3.2-1b-q4_0; do
  [ -f "$bench_models/$m.gguf" ] || { echo "{\"skipped\":\"$bench_models/$m.gguf\"}"; continue; }
  "$bin" bench spec -m "$bench_models/$m.gguf" --verify-cost --ctx 512 --k-max 8 --reps 7 --threads "$threads" --json
done
