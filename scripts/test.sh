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

# ccache when it is installed (a rerun then mostly links; a clean CI machine
# has an empty cache, so it is not a dependency).
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
# Sanitizer and fuzz builds: -O1 with line tables only (-g1): reports keep
# file:line stacks, compiling and linking skip full debug info (about a fifth
# less compile CPU, objects less than half the size).
checked=(-DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS=-O1 -DCMAKE_C_FLAGS_DEBUG=-g1 -DCMAKE_CXX_FLAGS_DEBUG=-g1
  -DEDGERAG_BENCH=OFF "${launcher[@]}")
# Each stage's wall time, printed at the end.
timings=()
stage_start=$SECONDS
stage() {
  [ -n "${stage_name:-}" ] && timings+=("$stage_name: $((SECONDS - stage_start)) s")
  stage_name=$1
  stage_start=$SECONDS
  [ -n "$1" ] && echo "== $1"
  return 0
}
trap 'stage ""; printf "%s\n" "== stage times" "${timings[@]}"' EXIT

stage "release build + tests"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "${launcher[@]}" >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

[ "$fast" = 1 ] && exit 0

stage "ASan + UBSan build of the unit tests + tests"
cmake -S . -B build-asan -G Ninja "${checked[@]}" -DEDGERAG_SANITIZE=ON >/dev/null
# Only the binaries the `unit` tests run (not the CLI and tools the release
# stage built and ran), as ctest lists them: a GoogleTest binary not built yet
# as a NAME_NOT_BUILT placeholder, a built one (maybe stale) by its path in the
# build tree. The second build picks up unit tests that only the first revealed.
unit_binaries() {
  { ctest --test-dir build-asan -N 2>/dev/null | sed -n 's/^ *Test *#[0-9]*: \(.*\)_NOT_BUILT$/\1/p'
    ctest --test-dir build-asan -N -V -L unit 2>/dev/null | sed -n "s|^.*Test command: $root/build-asan/\([^ ]*\).*\$|\1|p"
  } | sort -u
}
cmake --build build-asan -j "$jobs" --target $(unit_binaries)
cmake --build build-asan -j "$jobs" --target $(unit_binaries)
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  LSAN_OPTIONS=suppressions=$root/scripts/lsan.supp \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -L unit

stage "ThreadSanitizer build + the threaded tests (util: thread pool; runtime: scheduler and speculation; rag: index readers and writer; server: HTTP layer, scheduler, RAG)"
cmake -S . -B build-tsan -G Ninja "${checked[@]}" -DEDGERAG_TSAN=ON >/dev/null
cmake --build build-tsan -j "$jobs" --target test_util test_runtime test_rag test_server
for t in test_util test_runtime test_rag test_server; do
  EDGERAG_SHARED="$root/../shared" TSAN_OPTIONS="halt_on_error=1 suppressions=$root/scripts/tsan.supp" \
    build-tsan/tests/$t --gtest_brief=1
done

stage "libFuzzer smoke runs (GGUF parser, HTTP request framing, JSON request handlers, safetensors, tokenizers, document readers)"
readers="fuzz_reader_html fuzz_reader_pdf fuzz_reader_docx fuzz_reader_pptx fuzz_reader_xlsx fuzz_reader_ods
  fuzz_reader_csv fuzz_reader_jsonl fuzz_reader_md fuzz_reader_txt"
CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja "${checked[@]}" -DEDGERAG_FUZZ=ON -DEDGERAG_TESTS=OFF >/dev/null
cmake --build build-fuzz -j "$jobs" --target fuzz_gguf fuzz_http_request fuzz_json_request \
  fuzz_safetensors fuzz_tokenizer_spm fuzz_tokenizer_bpe fuzz_tokenizer_wpm $readers
bash scripts/fuzz-smoke.sh build-fuzz/fuzz/fuzz_gguf "${EDGERAG_FUZZ_SECONDS:-30}"
for t in fuzz_http_request fuzz_json_request; do
  bash scripts/fuzz-smoke.sh build-fuzz/fuzz/$t "${EDGERAG_FUZZ_SECONDS_SMALL:-15}" fuzz/corpus/$t
done
for t in fuzz_safetensors fuzz_tokenizer_spm fuzz_tokenizer_bpe fuzz_tokenizer_wpm $readers; do
  bash scripts/fuzz-smoke.sh build-fuzz/fuzz/$t "${EDGERAG_FUZZ_SECONDS_READERS:-6}" fuzz/corpus/$t
done
