#!/bin/bash
# Long-context figures of docs/PERFORMANCE.md ("Attention: query rows as vector
# lanes"): the context sweep (prefill and decode tok/s at 512..4096 tokens of
# context) of one or more edgerag binaries, run in turn ROUNDS times so a busy
# machine's load falls on all of them alike; each line is the bench's JSON with
# the binary, the round and the 1-minute load average put in front. Then, with
# PROFILE=1, each binary's 1-thread `perf record` share of attention in a
# 4,096-token prefill (attention samples / all samples, and / matmul samples).
# Usage: scripts/bench-attention.sh MODEL ROUNDS BINARY...   (THREADS=2 REPS=1 PROFILE=0)
set -euo pipefail
model=$1 rounds=$2
shift 2
threads=${THREADS:-2} reps=${REPS:-1}
load() { cut -d' ' -f1 /proc/loadavg; }
for ((r = 1; r <= rounds; ++r)); do
  for bin in "$@"; do
    l=$(load)
    out=$("$bin" bench gen -m "$model" -p 512 -n 16 --ctx-sweep 512,1024,2048,4096 --threads "$threads" \
      --reps "$reps" --no-bandwidth --json)
    echo "$out" | sed "s|^{|{\"binary\":\"$bin\",\"round\":$r,\"load_before\":$l,\"load_after\":$(load),|"
  done
done
[ "${PROFILE:-0}" = 1 ] || exit 0
for bin in "$@"; do
  data=$(mktemp)
  perf record -q -F 999 -o "$data" -- "$bin" bench gen -m "$model" -p 4096 -n 2 --threads 1 --reps 1 --no-bandwidth \
    >/dev/null 2>&1
  perf report -i "$data" --no-children --sort symbol -F sample,symbol 2>/dev/null | grep -v '^#' |
    awk -v bin="$bin" '$1 ~ /^[0-9]+$/ { all += $1 }
      /attn::|edgerag::attention\(/ { attn += $1 }
      /block_group_tile|matmul|gemv|gemm/ { mm += $1 }
      END { printf "{\"binary\":\"%s\",\"samples\":%d,\"attention_share\":%.3f,\"attention_per_matmul\":%.3f}\n",
                   bin, all, attn / all, attn / mm }'
  rm -f "$data"
done
