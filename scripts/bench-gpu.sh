#!/usr/bin/env bash
# Decode and prefill speed on a Vulkan GPU (docs/PERFORMANCE.md, "GPU").
# Builds, writes the synthetic models, runs `bench gen --device vulkan` (batch 1,
# 512-token prompt, 128 generated tokens) on qwen2.5-0.5b and the 7B shapes in
# Q4_0, Q8_0 and Q4_K, and prints one JSON object per run with the fraction of
# the card's memory-bandwidth bound: decode_tok_s * bytes_per_token / bandwidth.
#   GPU_BW_GBS=<the card's memory bandwidth in GB/s, e.g. 320 for a T4> scripts/bench-gpu.sh [MODELS_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
: "${GPU_BW_GBS:?set GPU_BW_GBS to the card's memory bandwidth in GB/s}"
dir=${1:-$root/build/gpu-models}
mkdir -p "$dir"
cmake -S "$root" -B "$root/build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build" --target edgerag
B=$root/build/tools/edgerag
for preset in qwen2.5-0.5b qwen2.5-7b mistral-7b; do
  for type in q4_0 q8_0 q4_k; do
    # qwen2.5-0.5b's 896-wide rows are no multiple of 256: its q4_k is mostly Q5_0, which
    # has no shader (docs/PERFORMANCE.md, "GPU").
    [ "$preset-$type" = qwen2.5-0.5b-q4_k ] && continue
    m=$dir/$preset-$type.gguf
    [ -f "$m" ] || "$B" synth --preset "$preset" --type "$type" -o "$m" >&2
    "$B" bench gen -m "$m" --device vulkan -p 512 -n 128 --reps 3 --no-bandwidth --json |
      python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
bw = float(sys.argv[1]) * 1e9
r["gpu_bandwidth_gb_s"] = bw / 1e9
r["gpu_decode_bound_fraction"] = r["decode_tok_s"] * r["bytes_per_token"] / bw
r["preset"], r["type"] = sys.argv[2], sys.argv[3]
print(json.dumps(r))' "$GPU_BW_GBS" "$preset" "$type"
  done
done
