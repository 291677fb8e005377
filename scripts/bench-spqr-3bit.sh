#!/usr/bin/env bash
# SpQR against the other 3-bit methods on stories260K: quantizes with each method
# (calibrated ones on the wikitext test lines after the first 200), then prints
# effective bits per quantized weight, outlier share and chunked perplexity (ctx
# 128) on the first 200 lines (held out). Usage: scripts/bench-spqr-3bit.sh [BUILD_DIR] [OUT_DIR]
set -euo pipefail
build=${1:-build}
out=${2:-/tmp/spqr-3bit}
shared=${EDGERAG_SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
model=$shared/models/stories260K.gguf
text=$shared/data/wikitext-2-raw/wiki.test.raw
mkdir -p "$out"
head -n 200 "$text" > "$out/eval.txt"
tail -n +201 "$text" > "$out/calib.txt"
run() {  # NAME then quantize flags
  local name=$1; shift
  local q
  q=$("$build/tools/edgerag" quantize -m "$model" -o "$out/$name.gguf" --calib "$out/calib.txt" --json "$@")
  local ppl
  ppl=$("$build/tools/edgerag" eval ppl -m "$out/$name.gguf" --text "$out/eval.txt" --ctx 128 --protocol chunked --json |
    python3 -c 'import json,sys; print("%.3f" % json.load(sys.stdin)["ppl"])')
  echo "$q" | python3 -c 'import json,sys; j=json.load(sys.stdin); print("| %s | %.3f | %.2f |" % (sys.argv[1], j["method_bits_per_weight"], 100*j["outlier_share"]), end="")' "$name"
  echo " $ppl |"
}
echo "| variant | matrix bits/weight | outlier % | PPL |"
echo "|---|---:|---:|---:|"
for g in 32 64; do
  for m in rtn hqq gptq awq autoround; do run "$m-3b-g$g" --method "$m" --bits 3 --group "$g" --nsamples 0; done
done
for share in 0.005 0.01; do run "spqr-3b-g64-o$share" --method spqr --bits 3 --group 64 --outliers "$share"; done
run spqr-3b-g32-o0.01 --method spqr --bits 3 --group 32 --outliers 0.01
run gptq-4b-g32 --method gptq --bits 4 --group 32
