#!/usr/bin/env bash
# Serving throughput of `edgerag serve` and the llama.cpp peer's `llama-server -np 8` on
# the same GGUF file, driven by one load client (below, Python standard library only):
# for each concurrency level C, C chat requests at once that share a system prompt
# (~230 tokens) and differ in the question, each generating -n tokens (greedy).
# "cold": a system prompt the server has not seen; "warm": the same wave again, its
# prefix now cached (edgerag's prefix cache, llama-server's per-slot prompt cache).
# The servers run one after the other with the same thread count; nothing else
# should run meanwhile.
#
#   scripts/bench-serve-vs-llamacpp.sh EDGERAG_BIN MODEL.gguf [-t THREADS] [-n GEN]
#       [-c "8 16"] [--llama-server PATH] [--port PORT]
#
# Prints one JSON object: per engine and level, generated tok/s (completion tokens of
# the wave / wall seconds of the wave) cold and warm, and the ratios edgerag / llama.cpp.
# llama-server defaults to ../shared/peers/llama.cpp/bin/llama-server (see its README:
# LD_LIBRARY_PATH may need to name a folder of real links to the peer's libraries).
set -euo pipefail
[ $# -ge 2 ] || { sed -n 2,17p "$0"; exit 2; }
edgerag=$1; model=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
server="$here/../../shared/peers/llama.cpp/bin/llama-server"
t=2; n=64; levels="8 16"; port=18431
while [ $# -gt 0 ]; do
  case $1 in
    -t) t=$2; shift 2 ;; -n) n=$2; shift 2 ;; -c) levels=$2; shift 2 ;;
    --llama-server) server=$2; shift 2 ;; --port) port=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
max_level=$(tr ' ' '\n' <<< "$levels" | sort -n | tail -1)
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

# Starts a server command in the background and waits until it answers /v1/models.
start() {
  "$@" >"$tmp/server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$tmp/server.log" >&2; return 1; }
    sleep 0.5
  done
  echo "server on port $port did not come up" >&2; return 1
}
stop() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; }

client() {  # engine name -> $tmp/<name>.json
  python3 - "$port" "$n" "$levels" >"$tmp/$1.json" <<'PY'
import json, sys, threading, time, urllib.request
port, n, levels = int(sys.argv[1]), int(sys.argv[2]), [int(c) for c in sys.argv[3].split()]
words = ("retrieval augmented generation answers questions from documents chunks passages "
         "citations sources context window prompt tokens engine server client").split()
def system_prompt(tag):  # ~230 tokens, distinct per tag so a new one is never cached
    body = " ".join(words[(i * 7 + tag) % len(words)] for i in range(200))
    return f"[{tag}] You are a careful assistant. Answer from the context only. {body}"
# The served model's name (edgerag checks it).
name = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=60))["data"][0]["id"]
def request(system, q, out, i):
    body = json.dumps({"model": name, "max_tokens": n, "temperature": 0, "ignore_eos": True, "stream": False,
                       "messages": [{"role": "system", "content": system},
                                    {"role": "user", "content": f"Question {q}: what do the sources say about item {q}?"}]})
    req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", body.encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=1800) as r:
        out[i] = json.load(r)["usage"]["completion_tokens"]
def wave(system, c):
    out = [0] * c
    th = [threading.Thread(target=request, args=(system, i, out, i)) for i in range(c)]
    t0 = time.perf_counter()
    for x in th: x.start()
    for x in th: x.join()
    wall = time.perf_counter() - t0
    return {"completion_tokens": sum(out), "wall_s": round(wall, 3), "gen_tok_s": round(sum(out) / wall, 2)}
request(system_prompt(0), 0, [0], 0)  # warm-up: weights paged in, first-request costs paid
res = {}
for k, c in enumerate(levels):
    system = system_prompt(k + 1)
    res[str(c)] = {"cold": wave(system, c), "warm": wave(system, c)}
print(json.dumps(res))
PY
}

start "$edgerag" serve -m "$model" --port "$port" --threads "$t" --max-running "$max_level"
client edgerag
stop
port=$((port + 1))  # the first server's socket may linger
start "$server" -m "$model" --port "$port" -t "$t" -np 8 -c $((8 * 1024)) --no-webui
client llama_cpp
stop

python3 - "$tmp" "$model" "$t" "$n" <<'PY'
import json, sys
d, model, t, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
e, l = json.load(open(f"{d}/edgerag.json")), json.load(open(f"{d}/llama_cpp.json"))
ratio = {c: {k: round(e[c][k]["gen_tok_s"] / l[c][k]["gen_tok_s"], 3) for k in ("cold", "warm")} for c in e}
print(json.dumps({"model": model, "threads": t, "gen": n, "llama_server_slots": 8,
                  "edgerag": e, "llama_cpp": l, "ratio_edgerag_over_llama_cpp": ratio}))
PY
