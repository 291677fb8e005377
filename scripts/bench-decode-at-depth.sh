#!/usr/bin/env bash
# Decode speed of edgerag and the llama.cpp peer at the same context depth, side by
# side: llama-bench's `-d DEPTH` decodes after DEPTH tokens of context, as
# `edgerag bench gen -p DEPTH` does. (The peer's bench-vs-llamacpp.sh times the peer's
# decode from an empty context, whatever its -p.) The two run alternately, rounds times.
#
#   scripts/bench-decode-at-depth.sh EDGERAG_BIN MODEL.gguf [-d DEPTH] [-n GEN] [-t THREADS] [-r ROUNDS]
#       [--flash-attn on|off|auto] [--llama-bench PATH]
#
# Prints one JSON object: per engine the decode tok/s of every round, their medians and
# the ratio edgerag / llama.cpp. Both engines get the same thread count and their
# default KV cache type (F16); llama-bench its default flash attention unless told.
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,13p "$0"; exit 2; }
edgerag=$1; model=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
bench="$here/../../shared/peers/llama.cpp/bin/llama-bench"
d=3000; n=128; t=2; rounds=3; fa=auto
while [ $# -gt 0 ]; do
  case $1 in
    -d) d=$2; shift 2 ;; -n) n=$2; shift 2 ;; -t) t=$2; shift 2 ;; -r) rounds=$2; shift 2 ;;
    --flash-attn) fa=$2; shift 2 ;; --llama-bench) bench=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
bash "$here/peer-lib-links.sh" "$(dirname "$bench")" "$tmp/lib"
for i in $(seq 1 "$rounds"); do
  LD_LIBRARY_PATH="$tmp/lib" "$bench" -m "$model" -p 0 -n "$n" -d "$d" -t "$t" -fa "$fa" -r 1 -o json >"$tmp/llama.$i.json"
  "$edgerag" bench gen -m "$model" -p "$d" -n "$n" --threads "$t" --reps 1 --no-bandwidth --json \
    >"$tmp/edgerag.$i.json"
done
python3 - "$tmp" "$rounds" "$model" "$d" "$n" "$t" "$fa" <<'PY'
import json, statistics, sys
tmp, rounds, model, d, n, t, fa = sys.argv[1], int(sys.argv[2]), sys.argv[3], *map(int, sys.argv[4:7]), sys.argv[7]
ll = [x["avg_ts"] for i in range(1, rounds + 1) for x in json.load(open(f"{tmp}/llama.{i}.json"))]
er = [json.load(open(f"{tmp}/edgerag.{i}.json"))["decode_tok_s"] for i in range(1, rounds + 1)]
med = {"llama_cpp": statistics.median(ll), "edgerag": statistics.median(er)}
print(json.dumps({"model": model, "depth": d, "gen": n, "threads": t, "rounds": rounds, "flash_attn": fa,
                  "decode_tok_s": {"llama_cpp": ll, "edgerag": er}, "median": med,
                  "ratio_edgerag_over_llama_cpp": round(med["edgerag"] / med["llama_cpp"], 3)}))
PY
