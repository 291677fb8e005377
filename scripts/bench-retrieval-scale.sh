#!/bin/bash
# Reproduces the "Retrieval scale table" of docs/PERFORMANCE.md: BM25 over a
# synthetic corpus grown to 10k, 100k and 1M chunks (queries on one core,
# pinned with taskset), then dense and hybrid with 384-dimensional vectors in
# int8 and float32 HNSW graphs (recall@10 against exact float search): the
# default 1,000 clusters, and a harder set of ten vectors per cluster at
# ef_search 64 and 256.
# Writes one JSON file per run into OUT_DIR and prints the table rows.
# Run it on a quiet machine for citable figures; the 1M BM25 corpus takes
# ~4 GB of disk, and DENSE_SIZES=10000,100000,1000000 adds the 1M dense run
# (its graph build dominates: about an hour per thousand chunks/s of ingest).
# Usage: scripts/bench-retrieval-scale.sh [EDGERAG_BINARY] [OUT_DIR]
set -euo pipefail
bin=$(realpath "${1:-build/tools/edgerag}")
out=${2:-/tmp/edgerag-retrieval-scale}
bm25_sizes=${BM25_SIZES:-10000,100000,1000000}
dense_sizes=${DENSE_SIZES:-10000,100000}
mkdir -p "$out"
pin=()
command -v taskset >/dev/null && pin=(taskset -c 0)

run() {  # name, then bench retrieval arguments
  local name=$1
  shift
  rm -rf "${out:?}/$name"
  "${pin[@]}" "$bin" bench retrieval --dir "$out/$name" --json "$@" >"$out/$name.json"
  rm -rf "${out:?}/$name"
}

run bm25 --chunks "$bm25_sizes" --queries 200 --exhaustive-queries 50
hard_chunks=${dense_sizes##*,}
for v in int8 f32; do
  run "dense-$v" --chunks "$dense_sizes" --queries 200 --exhaustive-queries 0 --dim 384 --vectors "$v"
  for ef in 64 256; do
    run "hard-$v-ef$ef" --chunks "$hard_chunks" --clusters $((hard_chunks / 10)) --ef-search $ef --queries 200 \
      --exhaustive-queries 0 --dim 384 --vectors "$v"
  done
done

echo "| run | chunks | BM25 p50 / p99 ms | dense p50 / p99 ms | recall@10 | hybrid p50 / p99 ms | graph MB | index MB | ingest chunks/s | identical |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for name in bm25 dense-int8 dense-f32 hard-int8-ef64 hard-f32-ef64 hard-int8-ef256 hard-f32-ef256; do
  jq -r --arg name "$name" '.rows[] | "| \($name) | \(.chunks) | \(.bm25.p50_ms*100|round/100) / \(.bm25.p99_ms*100|round/100) | " +
    (if .dense then "\(.dense.p50_ms*100|round/100) / \(.dense.p99_ms*100|round/100) | \(.recall_at_k*1000|round/1000) | \(.hybrid.p50_ms*100|round/100) / \(.hybrid.p99_ms*100|round/100) | \(.graph_bytes/1e6|round)"
     else "- | - | - | -" end) +
    " | \(.index_bytes/1e6|round) | \(.ingest_chunks_per_s|round) | \(.identical)/\(.compared) |"' "$out/$name.json"
done
for f in "$out"/*.json; do
  jq -c --arg run "$(basename "$f" .json)" '{run: $run, load_before, load_after, peak_rss_mb}' "$f"
done
