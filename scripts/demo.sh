#!/usr/bin/env bash
# The main demo: install dependencies, build edgerag (Release, build/), index the
# SQLite documentation (Debian's sqlite3-doc HTML) and answer a few questions
# with cited sources.
#
# Models come from the models directory (EDGERAG_MODELS, else ../shared/models):
#   EDGERAG_LLM=name-or-path     the LLM to answer with (else one is looked for:
#                                a decoder with a chat template, not a synthetic one)
#   EDGERAG_EMBED / EDGERAG_RERANK  embedder / reranker (else looked for likewise)
# Without an LLM the answers are extractive: the best supporting sentences of the
# retrieved passages, each with its citation.
#   scripts/demo.sh ["question" ...]   your own questions instead of the built-in ones
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1/4 dependencies (scripts/setup-deps.sh)"
bash scripts/setup-deps.sh

step "2/4 build (Release, build/)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target edgerag
edgerag="$root/build/tools/edgerag"

if [ -z "${EDGERAG_MODELS:-}" ] && [ -d "$root/../shared/models" ]; then
  export EDGERAG_MODELS="$root/../shared/models"
fi
models_dir="${EDGERAG_MODELS:-}"

# Prints the first model in the models directory that fits a role: "llm" (a
# llama / qwen2 / qwen3 decoder with a chat template), "embed" or "rerank" (a
# BERT model without / with rank pooling, i.e. a cross-encoder head).
# Synthetic random-weight test models are never picked: their output is noise.
find_model() {
  local role=$1 f info
  [ -n "$models_dir" ] && [ -d "$models_dir" ] || return 0
  for f in "$models_dir"/*.gguf; do
    [ -e "$f" ] || continue
    info=$("$edgerag" model-info -m "$f" --json 2>/dev/null) || continue
    grep -q '"general.description": "SYNTHETIC' <<<"$info" && continue
    case $role in
      llm) grep -Eq '"general.architecture": "(llama|qwen2|qwen3)"' <<<"$info" &&
             grep -q '"tokenizer.chat_template"' <<<"$info" || continue ;;
      embed) grep -q '"general.architecture": "bert"' <<<"$info" && ! grep -q '"bert.pooling_type": 4' <<<"$info" ||
               continue ;;
      rerank) grep -q '"general.architecture": "bert"' <<<"$info" && grep -q '"bert.pooling_type": 4' <<<"$info" ||
                continue ;;
    esac
    echo "$f"
    return 0
  done
}

step "3/4 models (models directory: ${models_dir:-none})"
llm="${EDGERAG_LLM:-$(find_model llm)}"
embed="${EDGERAG_EMBED:-$(find_model embed)}"
rerank="${EDGERAG_RERANK:-$(find_model rerank)}"
echo "LLM:      ${llm:-none -> extractive answers (best supporting sentences, cited)}"
echo "embedder: ${embed:-none -> BM25 retrieval}"
echo "reranker: ${rerank:-none}"

docs=$(ls -d /usr/share/doc/sqlite3*/ 2>/dev/null | while read -r d; do
  ls "$d"*.html >/dev/null 2>&1 && echo "$d"; done | head -n 1)
[ -n "$docs" ] || { echo "demo: no SQLite HTML documentation under /usr/share/doc/sqlite3*/" >&2; exit 1; }
index="$root/build/demo-index"
step "4/4 index $docs -> $index (files already indexed are skipped)"
ingest=("$edgerag" ingest --index "$index")
[ -n "$embed" ] && ingest+=(--embed "$embed")
echo "(images, stylesheets and archives in that folder are not documents: counted as failed)"
"${ingest[@]}" "$docs" 2>/dev/null

ask=("$edgerag" ask --index "$index")
[ -n "$llm" ] && ask+=(-m "$llm")
[ -n "$embed" ] && ask+=(--embed "$embed")
[ -n "$rerank" ] && ask+=(--rerank "$rerank")

questions=("$@")
if [ ${#questions[@]} -eq 0 ]; then
  questions=(
    "How does write-ahead logging work?"
    "How do I attach another database?"
    "What is the maximum size of a database file?"
    "How do I create a full-text search table with FTS5?"
  )
fi
for q in "${questions[@]}"; do
  step "Q: $q"
  "${ask[@]}" "$q"
done

printf '\nDone. Ask your own: %s "your question"\n' "${ask[*]}"
