#!/bin/bash
# Reproduces the "Chunk KV reuse" figures of docs/PERFORMANCE.md: the quality
# curve of chunks mode on stories260K (recompute share vs greedy agreement vs
# continuation perplexity, chunks-exact as the exact reference), then time to
# first token on SciFact queries (8 chunks each, BM25) with synthetic
# qwen2.5-0.5b q4_0 in prefix, chunks-exact and chunks mode at several shares,
# the store warm. Prints one JSON object per line. Run it on a quiet machine.
# Usage: scripts/bench-chunk-kv.sh [EDGERAG_BINARY] [SHARED_DIR] [BENCH_MODELS_DIR] [THREADS] [QUERIES]
set -euo pipefail
bin=${1:-build/tools/edgerag}
shared=${2:-../shared}
bench_models=${3:-bench-models}  # synthetic models (edgerag synth, see docs/PERFORMANCE.md)
threads=${4:-2}
limit=${5:-20}
"$bin" bench chunk-quality -m "$shared/models/stories260K.gguf" --shares 0,0.02,0.05,0.1,0.15,0.3,0.5,1 \
  --samples 64 --threads 1 --json
model=$bench_models/qwen2.5-0.5b-q4_0.gguf
[ -f "$model" ] || { echo "{\"skipped\":\"$model\"}"; exit 0; }
index=$(mktemp -d)
trap 'rm -rf "$index"' EXIT
"$bin" ingest --index "$index" --quiet "$shared/data/scifact/corpus.jsonl" >/dev/null
run() {
  "$bin" bench rag-ttft --index "$index" -m "$model" --queries "$shared/data/scifact/queries.jsonl" \
    --limit "$limit" --chunks 8 --threads "$threads" --answer-tokens 8 --json "$@" |
    python3 -c 'import json,sys; j=json.load(sys.stdin); j.pop("queries"); print(json.dumps(j))'
}
run --kv-reuse prefix
run --kv-reuse chunks-exact
for share in 0 0.05 0.1 0.15 0.3; do run --kv-reuse chunks --recompute-share "$share"; done
