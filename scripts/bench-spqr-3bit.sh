#!/usr/bin/env bash
# SpQR against the other 3-bit methods on stories260K: quantizes with each method
# (calibrated ones on the wikitext test lines after the first 200), then prints
# effective bits per quantized weight (from the bytes stored: codes, group
# parameters, the bilevel type's coded statistics, outlier side tensors with
# fp16 values), the side tensors' share of them, the outlier
# share and chunked perplexity (ctx 128) on the first 200 lines (held out), and
# whether each SpQR row meets the target: a perplexity below every other 3-bit
# row with as many or more bits. Usage: scripts/bench-spqr-3bit.sh [BUILD_DIR] [OUT_DIR]
set -euo pipefail
build=${1:-build}
out=${2:-/tmp/spqr-3bit}
shared=${EDGERAG_SHARED:-$(cd "$(dirname "$0")/../.." && pwd)/shared}
model=$shared/models/stories260K.gguf
text=$shared/data/wikitext-2-raw/wiki.test.raw
mkdir -p "$out"
head -n 200 "$text" > "$out/eval.txt"
tail -n +201 "$text" > "$out/calib.txt"
rows=$out/rows.tsv
: > "$rows"
run() {  # NAME then quantize flags
  local name=$1; shift
  "$build/tools/edgerag" quantize -m "$model" -o "$out/$name.gguf" --calib "$out/calib.txt" --json "$@" > "$out/$name.json"
  "$build/tools/edgerag" eval ppl -m "$out/$name.gguf" --text "$out/eval.txt" --ctx 128 --protocol chunked --json > "$out/$name.ppl.json"
  python3 - "$name" "$out/$name.json" "$out/$name.ppl.json" >> "$rows" <<'PY'
import json, sys
q, p = json.load(open(sys.argv[2])), json.load(open(sys.argv[3]))
print("\t".join([sys.argv[1], "%.3f" % q["method_bits_per_weight"], "%.3f" % q["outlier_bits_per_weight"],
                 "%.2f" % (100 * q["outlier_share"]), "%.3f" % p["ppl"]]))
PY
}
for g in 32 64; do
  for m in rtn hqq gptq awq autoround; do run "$m-3b-g$g" --method "$m" --bits 3 --group "$g" --nsamples 0; done
done
# Group 16: the bilevel ER_Q3_G16_BL type (3-bit scales and zeros over blocks of 64).
for m in rtn gptq; do run "$m-3b-g16bl" --method "$m" --bits 3 --group 16; done
for share in 0.005 0.01 0.015; do run "spqr-3b-g16bl-o$share" --method spqr --bits 3 --group 16 --outliers "$share"; done
for share in 0.005 0.01 0.015 0.02; do run "spqr-3b-g64-o$share" --method spqr --bits 3 --group 64 --outliers "$share"; done
run spqr-3b-g32-o0.01 --method spqr --bits 3 --group 32 --outliers 0.01
run gptq-4b-g32 --method gptq --bits 4 --group 32
python3 - "$rows" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])]
print("| variant | matrix bits/weight | of which outliers | outlier % | PPL | target |")
print("|---|---:|---:|---:|---:|---|")
others = [(float(b), float(p), n) for n, b, _, _, p in rows if "-3b-" in n and not n.startswith("spqr")]
for n, b, ob, share, p in rows:
    verdict = ""
    if n.startswith("spqr"):
        rivals = [(rb, rp, rn) for rb, rp, rn in others if rb >= float(b)]
        best = min(rivals, key=lambda r: r[1]) if rivals else None
        verdict = ("met: below %s (%.3f at %.3f bits)" % (best[2], best[1], best[0]) if best and float(p) < best[1]
                   else "not met: %s has %.3f at %.3f bits" % (best[2], best[1], best[0]) if best
                   else "no other 3-bit row has as many bits")
    print("| %s | %s | %s | %s | %s | %s |" % (n, b, ob, share, p, verdict))
PY
