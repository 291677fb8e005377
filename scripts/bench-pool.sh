#!/usr/bin/env bash
# Throughput of a replica pool and the prefix-affinity effect (docs/SCALING.md).
# Starts three `edgerag serve` workers of MODEL on loopback (--threads each), then
#  - for 1, 2 and 3 workers: a front end `serve --llm-backend` over the first N and
#    `bench serve --server` against it (streaming chat clients, tokens/s and TTFT);
#  - over all workers: the shared-system-prompt run with --affinity-tokens 256 and 0,
#    each on freshly started workers (cold prefix caches), alternated REPS times.
# Prints one JSON object per measurement, each with the machine's `uptime` load.
#   scripts/bench-pool.sh [MODEL] [THREADS_PER_WORKER] [REPS]   (from a build in build/)
# Environment: CLIENTS (1,4,16), REQUESTS per client (4), MAX_TOKENS (64), SYSTEM_WORDS (100).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
B=${EDGERAG_BIN:-$root/build/tools/edgerag}
model=${1:-stories260K}; threads=${2:-1}; reps=${3:-2}
clients=${CLIENTS:-1,4,16}; requests=${REQUESTS:-4}; max_tokens=${MAX_TOKENS:-64}
system_words=${SYSTEM_WORDS:-100}  # stories260K's 512-piece vocabulary: 100 words are about 700 tokens
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
serve() {  # port args... ; the pid lands in $last
  local port=$1; shift
  "$B" serve --port "$port" "$@" >"$tmp/$port.log" 2>&1 &
  last=$!
  pids+=("$last")
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0; sleep 0.1; done
  cat "$tmp/$port.log" >&2
  return 1
}
stop() { kill "$1"; wait "$1" 2>/dev/null || true; }
load() { uptime | sed 's/.*load average: //'; }
workers() {  # n: starts n fresh workers, their URLs in $urls and pids in $wpids
  urls=; wpids=()
  for _ in $(seq 1 "$1"); do
    local p; p=$(free_port)
    serve "$p" -m "$model" --threads "$threads"
    wpids+=("$last"); urls+=${urls:+,}http://127.0.0.1:$p/v1
  done
}

workers 3
all=$urls
for n in 1 2 3; do
  front=$(free_port)
  serve "$front" -m "$model" --llm-backend "$(cut -d, -f1-"$n" <<<"$all")"
  "$B" bench serve --server "127.0.0.1:$front" -m "$model" --clients "$clients" --requests "$requests" \
    --max-tokens "$max_tokens" --json |
    jq -c --arg n "$n" --arg load "$(load)" '{run: "throughput", workers: ($n | tonumber), threads_per_worker: '"$threads"',
      concurrency: [.concurrency[] | {clients, requests, errors, tokens_per_s, ttft_ms_mean, ttft_ms_p50}], uptime_load: $load}'
  stop "$last"
done
for p in "${wpids[@]}"; do stop "$p"; done

for _ in $(seq 1 "$reps"); do
  for affinity in 256 0; do
    workers 3
    front=$(free_port)
    serve "$front" -m "$model" --llm-backend "$urls" --affinity-tokens "$affinity"
    "$B" bench serve --server "127.0.0.1:$front" -m "$model" --clients 1 --requests "$requests" \
      --max-tokens "$max_tokens" --system-words "$system_words" --json >"$tmp/run.json"
    hits=$(curl -sf "http://127.0.0.1:$front/metrics" | awk '/^edgerag_replica_affinity_hits_total/ {s += $2} END {print s + 0}')
    jq -c --arg a "$affinity" --arg load "$(load)" --arg hits "$hits" '{run: "affinity", affinity_tokens: ($a | tonumber),
      workers: 3, shared_prefix: (.shared_prefix | {requests, errors, ttft_ms_mean, ttft_ms_p50, ttft_ms_p90, prompt_tokens,
      cached_prompt_tokens, tokens_per_s}), affinity_hits: ($hits | tonumber), uptime_load: $load}' "$tmp/run.json"
    stop "$last"
    for p in "${wpids[@]}"; do stop "$p"; done
  done
done
