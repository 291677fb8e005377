#!/usr/bin/env bash
# `bench retrieval --ef-search A,B,C` gives one dense sweep point per value (in
# order; the row's dense figures and recall@k are the first value's), and
# `--reopen` measures the index a run left in --dir without ingesting it again:
# the same recall@k at every ef_search and the same BM25 comparisons (and with a
# float re-scoring depth covering every candidate); reopening
# with other dense settings, or reusing the folder without --reopen, is an error;
# chunks added to a reopened index continue the corpus (the same texts as a run
# that grew the index in one go).
#   tests/eval/bench_retrieval_sweep_reopen.sh EDGERAG_BIN
set -euo pipefail
edgerag=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
bench() { "$edgerag" bench retrieval --queries 40 --exhaustive-queries 10 --dim 32 --vectors "${vectors:-int8}" --json "$@"; }

bench --dir "$tmp/a" --chunks 2500 --ef-search 8,32,128 >"$tmp/fresh.json"
jq -e '(.rows | length) == 1 and (.rows[0] | .reopened == false and .chunks == 2500 and .ef_search == 8 and
        ([.sweep[].ef_search] == [8, 32, 128]) and .recall_at_k == .sweep[0].recall_at_k and
        .dense == .sweep[0].dense and .rescore_depth == 64 and
        all(.sweep[]; .dense.p50_ms > 0 and .dense.p99_ms >= .dense.p50_ms and .dense_cpu.p50_ms > 0) and
        .sweep[2].recall_at_k >= 0.95 and .identical == 10)' "$tmp/fresh.json" >/dev/null ||
  fail "fresh run: $(jq -c '.rows[0] | {chunks, ef_search, recall_at_k, sweep, identical}' "$tmp/fresh.json")"

bench --dir "$tmp/a" --chunks 2500 --ef-search 8,32,128 --reopen >"$tmp/reopen.json"
jq -e --slurpfile f "$tmp/fresh.json" '.rows[0] as $r | $f[0].rows[0] as $f |
  $r.reopened and $r.ingest_s == 0 and $r.chunks == 2500 and
  [$r.sweep[] | [.ef_search, .recall_at_k]] == [$f.sweep[] | [.ef_search, .recall_at_k]] and
  $r.identical == $f.identical and $r.graph_bytes == $f.graph_bytes' "$tmp/reopen.json" >/dev/null ||
  fail "reopened: $(jq -c '.rows[0] | {reopened, ingest_s, sweep}' "$tmp/reopen.json")"

# A rescore depth of at least every ef_search re-scores every candidate, as depth 0 does.
bench --dir "$tmp/a" --chunks 2500 --ef-search 8,32,128 --reopen --rescore-depth 0 >"$tmp/all.json"
bench --dir "$tmp/a" --chunks 2500 --ef-search 8,32,128 --reopen --rescore-depth 500 >"$tmp/deep.json"
jq -e --slurpfile a "$tmp/all.json" '.rows[0].rescore_depth == 500 and $a[0].rows[0].rescore_depth == 0 and
  [.rows[0].sweep[].recall_at_k] == [$a[0].rows[0].sweep[].recall_at_k]' "$tmp/deep.json" >/dev/null ||
  fail "rescore depth 500: $(jq -c '.rows[0].sweep' "$tmp/deep.json")"

if vectors=f32 bench --dir "$tmp/a" --chunks 2500 --reopen >"$tmp/out" 2>&1; then fail "reopened with f32"; fi
grep -q "int8 vectors, M 16, ef_construction 200" "$tmp/out" || fail "wrong settings: $(cat "$tmp/out")"
if bench --dir "$tmp/a" --chunks 2500 >"$tmp/out" 2>&1; then fail "reused the folder without --reopen"; fi
grep -q "already holds an index" "$tmp/out" || fail "reused folder: $(cat "$tmp/out")"

# Grown after reopening, or in one run: the chunks are the same texts.
bench --dir "$tmp/a" --chunks 2500,2600 --reopen --insert 50 >"$tmp/grown.json"
bench --dir "$tmp/b" --chunks 2600 --insert 50 >"$tmp/direct.json"
jq -e '.rows[0].reopened and (.rows[1] | .reopened == false and .chunks == 2600) and .insert.chunks == 50' \
  "$tmp/grown.json" >/dev/null || fail "grown: $(jq -c '[.rows[] | {chunks, reopened}], .insert' "$tmp/grown.json")"
texts() { sqlite3 "$1/synthetic/index.sqlite" "SELECT d.path, c.text FROM chunks c JOIN documents d ON d.id = c.doc_id ORDER BY d.path" | md5sum; }
[ "$(texts "$tmp/a")" = "$(texts "$tmp/b")" ] || fail "the grown index's chunks differ from the direct run's"
echo "sweep and reopen: ok"
