#!/usr/bin/env bash
# `ingest --kv-model` fills the chunk KV store so that the first questions find
# every retrieved chunk there: `ask --kv-reuse chunks` and `chunks-exact` (one
# chunk: an ingest-time entry serves the first block only) place every chunk
# from the store and compute none (hits == chunks placed, no misses, no new
# files), a second ingest computes nothing, chunks-exact's answer equals the
# same prompt prefilled whole (chunks-exact over an empty store), and what
# ingest stored is byte for byte what those asks compute and store on a miss.
#   tests/rag/ingest_kv_store.sh EDGERAG_BIN MODEL_GGUF
set -euo pipefail
edgerag=$1
model=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$tmp/docs"
echo "Lily had a red ball. She played with the ball in the park every day." >"$tmp/docs/lily.txt"
echo "Tim saw a big dog in the park. The dog ran after a red ball." >"$tmp/docs/tim.txt"
echo "Sue and her mom baked a cake. The cake was sweet and they ate it in the park." >"$tmp/docs/sue.txt"

"$edgerag" ingest --index "$tmp/idx" --quiet --json --kv-model "$model" --kv-store "$tmp/kv" --kv-threads 1 \
  "$tmp/docs" >"$tmp/ingest1.json"
jq -e '.kv_store.chunks == 3 and .kv_store.stored == 6 and .kv_store.already_stored == 0 and
       .kv_store.unplaceable == 0 and .kv_store.over_budget == 0' "$tmp/ingest1.json" >/dev/null ||
  fail "first ingest: $(jq -c .kv_store "$tmp/ingest1.json")"
files=$(ls "$tmp/kv" | wc -l)
[ "$files" = 6 ] || fail "$files files in the store, not 6"

"$edgerag" ingest --index "$tmp/idx" --quiet --json --kv-model "$model" --kv-store "$tmp/kv" --kv-threads 1 \
  "$tmp/docs" >"$tmp/ingest2.json"
jq -e '.kv_store.stored == 0 and .kv_store.already_stored == 6' "$tmp/ingest2.json" >/dev/null ||
  fail "second ingest recomputed: $(jq -c .kv_store "$tmp/ingest2.json")"

ask() {  # MODE STORE_DIR extra flags...
  local mode=$1 store=$2
  shift 2
  "$edgerag" ask --index "$tmp/idx" -m "$model" -t 1 --max-answer-tokens 16 --kv-reuse "$mode" --kv-store "$store" \
    --json --dump-prompt "$@" "Who played with a red ball in the park?"
}
ask chunks "$tmp/kv" >"$tmp/chunks.json"
jq -e '.context_chunks == 3 and .kv_reuse.chunk_hits == 3 and .kv_reuse.chunk_misses == 0' "$tmp/chunks.json" \
  >/dev/null || fail "chunks: $(jq -c '{context_chunks, kv_reuse}' "$tmp/chunks.json")"

ask chunks-exact "$tmp/kv" --max-chunks 1 >"$tmp/exact.json"
jq -e '.context_chunks == 1 and .kv_reuse.chunk_hits == 1 and .kv_reuse.chunk_misses == 0' "$tmp/exact.json" \
  >/dev/null || fail "chunks-exact: $(jq -c '{context_chunks, kv_reuse}' "$tmp/exact.json")"
[ "$(ls "$tmp/kv" | wc -l)" = 6 ] || fail "ask stored chunks: $(ls "$tmp/kv" | wc -l) files"

# The same asks over an empty store compute every chunk (chunks-exact: the whole
# prompt in one prefill) and store what ingest stored, byte for byte.
ask chunks "$tmp/cold" >/dev/null
ask chunks-exact "$tmp/cold" --max-chunks 1 >"$tmp/full.json"
jq -e '.kv_reuse.chunk_hits == 0 and .kv_reuse.chunk_misses == 1' "$tmp/full.json" >/dev/null ||
  fail "the empty store: $(jq -c .kv_reuse "$tmp/full.json")"
for f in prompt_ids answer tokens; do
  [ "$(jq -c ".$f" "$tmp/exact.json")" = "$(jq -c ".$f" "$tmp/full.json")" ] ||
    fail "chunks-exact $f differs from a full prefill: $(jq -c ".$f" "$tmp/exact.json") vs $(jq -c ".$f" "$tmp/full.json")"
done
[ "$(ls "$tmp/cold" | wc -l)" = 4 ] || fail "$(ls "$tmp/cold" | wc -l) chunks computed by ask, not 4"
for f in "$tmp/cold"/*; do
  cmp -s "$f" "$tmp/kv/$(basename "$f")" || fail "ingest stored another KV than ask computes: $(basename "$f")"
done
echo "ok: $(jq -c .kv_reuse "$tmp/chunks.json"), answer $(jq -c .answer "$tmp/exact.json")"
