#!/bin/bash
# Reproduces the "Retrieval scale table" of docs/PERFORMANCE.md: BM25 over a
# synthetic corpus grown to 10k, 100k and MAX_CHUNKS (default 1M) chunks; the
# MAX_CHUNKS x 384 int8 dense row (graph built on every thread, recall@10
# against exact float search on RECALL_QUERIES of the queries at the default
# ef_search and in a sweep of it over the same graph, then 10k chunks
# inserted into that index without rebuilding its graph); dense and hybrid
# int8 / float32 at 10k and 100k; a harder set of ten vectors per cluster at
# ef_search 64 and 256.
# Writes one JSON file (and a .log of its progress) per run into OUT_DIR and
# prints the table rows. A run whose JSON is already there is skipped, so an
# interrupted script resumes at the run it was in (that run starts over).
# Run it on a quiet machine for citable figures; the 1M corpora take ~4 GB
# (BM25) and ~6 GB (dense: text, float vectors, graph) of disk under OUT_DIR.
# Usage: scripts/bench-retrieval-scale.sh [EDGERAG_BINARY] [OUT_DIR]
#   MAX_CHUNKS=300000 for a smaller top row; RECALL_QUERIES (default 200).
set -euo pipefail
bin=$(realpath "${1:-build/tools/edgerag}")
out=${2:-/tmp/edgerag-retrieval-scale}
max=${MAX_CHUNKS:-1000000}
recall=${RECALL_QUERIES:-200}
mkdir -p "$out"

run() {  # name, then bench retrieval arguments
  local name=$1
  shift
  if jq -e .rows "$out/$name.json" >/dev/null 2>&1; then
    echo "$name: done before, kept ($out/$name.json)" >&2
    return
  fi
  echo "$name: bench retrieval $*" >&2
  rm -rf "${out:?}/$name"
  "$bin" bench retrieval --dir "$out/$name" --progress --json "$@" >"$out/$name.json.tmp" \
    2> >(tee "$out/$name.log" >&2)
  mv "$out/$name.json.tmp" "$out/$name.json"
  rm -rf "${out:?}/$name"
}

run bm25 --chunks "10000,100000,$max" --queries 200 --exhaustive-queries 50
# The defaults first (ef_search 512, rescore_depth 64: the row the table shows), then the sweep.
run "dense-int8-$max" --chunks "$max" --queries 200 --recall-queries "$recall" --exhaustive-queries 0 \
  --dim 384 --vectors int8 --ef-search 512,64,128,256,1024 --insert 10000
for v in int8 f32; do
  run "dense-$v" --chunks 10000,100000 --queries 200 --exhaustive-queries 0 --dim 384 --vectors "$v"
  for ef in 64 256; do
    run "hard-$v-ef$ef" --chunks 100000 --clusters 10000 --ef-search $ef --queries 200 \
      --exhaustive-queries 0 --dim 384 --vectors "$v"
  done
done

echo "| run | chunks | BM25 p50 / p99 ms | BM25 CPU p50 / p99 ms | dense p50 / p99 ms | recall@10 | hybrid p50 / p99 ms | graph MB | index MB | ingest chunks/s | ingest CPU us/chunk | identical |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
for name in bm25 "dense-int8-$max" dense-int8 dense-f32 hard-int8-ef64 hard-f32-ef64 hard-int8-ef256 hard-f32-ef256; do
  jq -r --arg name "$name" '.rows[] | "| \($name) | \(.chunks) | \(.bm25.p50_ms*100|round/100) / \(.bm25.p99_ms*100|round/100) | " +
    "\(.bm25_cpu.p50_ms*100|round/100) / \(.bm25_cpu.p99_ms*100|round/100) | " +
    (if .dense then "\(.dense.p50_ms*100|round/100) / \(.dense.p99_ms*100|round/100) | \(.recall_at_k*1000|round/1000) | \(.hybrid.p50_ms*100|round/100) / \(.hybrid.p99_ms*100|round/100) | \(.graph_bytes/1e6|round)"
     else "- | - | - | -" end) +
    " | \(.index_bytes/1e6|round) | \(.ingest_chunks_per_s|round) | " +
    "\(if .ingest_cpu_s then .ingest_cpu_s * 1e6 / (.ingest_chunks_per_s * .ingest_s) | round else "-" end) | " +
    "\(.identical)/\(.compared) |"' "$out/$name.json"
done
echo "| run | chunks | ef_search | recall@10 | dense p50 / p95 / p99 ms | dense CPU p50 / p99 ms |"
echo "|---|---|---|---|---|---|"
jq -r --arg name "dense-int8-$max" '.rows[] as $r | $r.sweep[] | "| \($name) | \($r.chunks) | \(.ef_search) | " +
  "\(.recall_at_k*1000|round/1000) | \(.dense.p50_ms*100|round/100) / \(.dense.p95_ms*100|round/100) / " +
  "\(.dense.p99_ms*100|round/100) | \(.dense_cpu.p50_ms*100|round/100) / \(.dense_cpu.p99_ms*100|round/100) |"' \
  "$out/dense-int8-$max.json"
for f in "$out"/*.json; do
  jq -c --arg run "$(basename "$f" .json)" '{run: $run, load_before, load_after, peak_rss_mb, insert}' "$f"
done
