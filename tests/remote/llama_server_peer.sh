#!/usr/bin/env bash
# edgerag generating through a real OpenAI-compatible peer: llama.cpp's
# llama-server serving stories260K on loopback.
#  - `ask --llm-backend` (token ids from the local GGUF, and from the server's
#    /tokenize without it) gives exactly the text llama-server's own /completion
#    gives for the same prompt ids, and the text local generation gives;
#  - `serve --llm-backend`: /v1/rag/query gives the same answer, streamed deltas
#    add up to it, and /v1/chat/completions streams the peer's chat answer.
#   tests/remote/llama_server_peer.sh EDGERAG_BIN SHARED_DIR   ($EDGERAG_SHARED, if set, wins, as in the unit tests)
set -euo pipefail
edgerag=$1; shared=${EDGERAG_SHARED:-$2}
peer=$shared/peers/llama.cpp/bin
[ -x "$peer/llama-server" ] || { echo "FAIL: the llama.cpp peer is missing: $peer/llama-server (see $shared/peers/README.md)"; exit 1; }
model=$shared/models/stories260K.gguf
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

bash "$(dirname "$0")/../../scripts/peer-lib-links.sh" "$peer" "$tmp/lib"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() {  # url pid
  for _ in $(seq 1 200); do
    curl -sf "$1" >/dev/null 2>&1 && return 0
    kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

lport=$(free_port)
LD_LIBRARY_PATH=$tmp/lib "$peer/llama-server" -m "$model" --host 127.0.0.1 --port "$lport" -t 1 -c 2048 \
  >"$tmp/peer.log" 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$lport/v1/models" "${pids[-1]}" || { cat "$tmp/peer.log"; fail "llama-server did not start"; }
backend=http://127.0.0.1:$lport/v1

mkdir "$tmp/docs"
printf 'Lily had a red ball. She played with the ball in the park every day.\n\nTom liked to eat apples under the big tree.\n' \
  >"$tmp/docs/story.txt"
"$edgerag" ingest --index "$tmp/index" --quiet "$tmp/docs" >/dev/null
q="What did Lily play with?"
ask() { "$edgerag" ask --index "$tmp/index" --json --max-answer-tokens 24 "$@" "$q"; }

ask -m "$model" --llm-backend "$backend" --dump-prompt >"$tmp/remote.json"
ask --llm-backend "$backend" >"$tmp/remote_tokenize.json"
ask -m "$model" >"$tmp/local.json"
answer=$(jq -r .answer "$tmp/remote.json")
[ -n "$answer" ] || fail "empty answer through the backend"
# The peer's own completion of the same prompt ids, trimmed as answers are.
jq -c '{prompt: .prompt_ids, n_predict: 24, temperature: 0}' "$tmp/remote.json" |
  curl -sf "http://127.0.0.1:$lport/completion" -d @- | jq -r '.content | sub("^\\s+"; "") | sub("\\s+$"; "")' >"$tmp/peer.txt"
[ "$answer" = "$(cat "$tmp/peer.txt")" ] || fail "ask through the backend: '$answer'; llama-server: '$(cat "$tmp/peer.txt")'"
[ "$answer" = "$(jq -r .answer "$tmp/remote_tokenize.json")" ] || fail "ask counting with the server's /tokenize differs"
[ "$answer" = "$(jq -r .answer "$tmp/local.json")" ] || fail "ask through the backend differs from local generation"
[ "$(jq .tokens.prompt "$tmp/remote.json")" = "$(jq '.prompt_ids | length' "$tmp/remote.json")" ] || fail "prompt token count"
echo "ask: '$answer' (same as llama-server and local)"

sport=$(free_port)
"$edgerag" serve --index "$tmp/index" --llm-backend "$backend" -m "$model" --port "$sport" >"$tmp/serve.log" 2>&1 &
pids+=($!)
wait_up "http://127.0.0.1:$sport/health" "${pids[-1]}" || { cat "$tmp/serve.log"; fail "edgerag serve did not start"; }
api=http://127.0.0.1:$sport
body=$(jq -nc --arg q "$q" '{question: $q, config: {generation: {max_tokens: 24}}}')
got=$(curl -sf "$api/v1/rag/query" -d "$body" | jq -r .answer)
[ "$got" = "$answer" ] || fail "/v1/rag/query through the backend: '$got'"
curl -sfN "$api/v1/rag/query" -d "$(jq -c '. + {stream: true}' <<<"$body")" >"$tmp/rag_stream.txt"
deltas=$(grep -c '"rag.answer.delta"' "$tmp/rag_stream.txt" || true)
[ "$deltas" -ge 2 ] || fail "/v1/rag/query stream: $deltas deltas"
streamed=$(sed -n 's/^data: //p' "$tmp/rag_stream.txt" | grep -v '^\[DONE\]' | jq -r 'select(.object == "rag.answer") | .answer')
[ "$streamed" = "$answer" ] || fail "streamed answer '$streamed'"
echo "rag query: same answer, $deltas streamed deltas"

chat='{"model": "x", "messages": [{"role": "user", "content": "Once upon a time"}], "max_tokens": 16, "temperature": 0}'
want=$(curl -sf "$backend/chat/completions" -d "$chat" | jq -r '.choices[0].message.content')
model_id=$(curl -sf "$api/v1/models" | jq -r '.data[0].id')
req=$(jq -c --arg m "$model_id" '.model = $m | .stream = true' <<<"$chat")
curl -sfN "$api/v1/chat/completions" -d "$req" >"$tmp/chat_stream.txt"
text=$(sed -n 's/^data: //p' "$tmp/chat_stream.txt" | grep -v '^\[DONE\]' | jq -j '.choices[0].delta.content // empty')
[ -n "$want" ] && [ "$text" = "$want" ] || fail "chat stream through edgerag: '$text'; llama-server: '$want'"
grep -q '"finish_reason":"length"' "$tmp/chat_stream.txt" || fail "chat stream has no finish_reason"
echo "chat stream: same text as llama-server"
echo PASS
