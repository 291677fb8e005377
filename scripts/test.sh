#!/usr/bin/env bash
# The test command: install deps, configure, build, run every test with ctest,
# then the same unit tests under ASan+UBSan, the threaded ones under
# ThreadSanitizer, and bounded libFuzzer smoke runs.
#   scripts/test.sh          full run (what CI does)
#   scripts/test.sh --fast   release build + ctest only
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc)
fast=0
[ "${1:-}" = "--fast" ] && fast=1

bash scripts/setup-deps.sh
export EDGERAG_MODELS="${EDGERAG_MODELS:-$root/../shared/models}"

echo "== release build + tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

[ "$fast" = 1 ] && exit 0

echo "== ASan + UBSan build + tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS=-O1 \
  -DEDGERAG_SANITIZE=ON -DEDGERAG_BENCH=OFF >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LSAN_OPTIONS=suppressions=$root/scripts/lsan.supp \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -L unit

echo "== ThreadSanitizer build + the threaded tests (util: thread pool; runtime: scheduler and speculation; rag: index readers and writer; server: HTTP layer, scheduler, RAG)"
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS=-O1 \
  -DEDGERAG_TSAN=ON -DEDGERAG_BENCH=OFF >/dev/null
cmake --build build-tsan -j "$jobs" --target test_util test_runtime test_rag test_server
for t in test_util test_runtime test_rag test_server; do
  EDGERAG_SHARED="$root/../shared" TSAN_OPTIONS="halt_on_error=1 suppressions=$root/scripts/tsan.supp" \
    build-tsan/tests/$t --gtest_brief=1
done

echo "== libFuzzer smoke runs (GGUF parser, HTTP request framing, JSON request handlers, safetensors, tokenizers, document readers)"
readers="fuzz_reader_html fuzz_reader_pdf fuzz_reader_docx fuzz_reader_pptx fuzz_reader_xlsx fuzz_reader_ods
  fuzz_reader_csv fuzz_reader_jsonl fuzz_reader_md fuzz_reader_txt"
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS=-O1 \
  -DEDGERAG_FUZZ=ON -DEDGERAG_TESTS=OFF -DEDGERAG_BENCH=OFF >/dev/null
cmake --build build-fuzz -j "$jobs" --target fuzz_gguf fuzz_http_request fuzz_json_request \
  fuzz_safetensors fuzz_tokenizer_spm fuzz_tokenizer_bpe fuzz_tokenizer_wpm $readers
bash scripts/fuzz-smoke.sh build-fuzz/fuzz/fuzz_gguf "${EDGERAG_FUZZ_SECONDS:-30}"
for t in fuzz_http_request fuzz_json_request; do
  bash scripts/fuzz-smoke.sh build-fuzz/fuzz/$t "${EDGERAG_FUZZ_SECONDS_SMALL:-15}" fuzz/corpus/$t
done
for t in fuzz_safetensors fuzz_tokenizer_spm fuzz_tokenizer_bpe fuzz_tokenizer_wpm $readers; do
  bash scripts/fuzz-smoke.sh build-fuzz/fuzz/$t "${EDGERAG_FUZZ_SECONDS_READERS:-6}" fuzz/corpus/$t
done
