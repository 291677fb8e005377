#!/usr/bin/env bash
# Remote embeddings and rerank through an edgerag worker on loopback: `ask
# --embed-backend URL --rerank-backend URL` (hybrid retrieval + rerank, extractive
# answer) returns the same context chunks, citations and answer as the same
# models loaded locally.
#   tests/remote/encoder_backends.sh EDGERAG_BIN SHARED_DIR   ($EDGERAG_SHARED, if set, wins)
set -euo pipefail
edgerag=$1; shared=${EDGERAG_SHARED:-$2}
embed=$shared/models/synth-bert-embed.gguf; rerank=$shared/models/synth-bert-rerank.gguf
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$edgerag" serve --embed "$embed" --rerank "$rerank" --port "$port" >"$tmp/worker.log" 2>&1 &
pid=$!
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/health" >/dev/null || { cat "$tmp/worker.log"; fail "worker did not start"; }

mkdir "$tmp/docs"
for i in 1 2 3 4 5 6; do
  printf 'Document %s. The river %s flows past the mill. Farmers bring grain number %s in autumn.\n\nThe bridge %s was rebuilt after the flood.\n' \
    "$i" "$i" "$i" "$i" >"$tmp/docs/d$i.txt"
done
"$edgerag" ingest --index "$tmp/index" --embed "$embed" --quiet "$tmp/docs" >/dev/null
q="When was the bridge rebuilt?"
ask() { "$edgerag" ask --index "$tmp/index" --embed "$embed" --rerank "$rerank" --rerank-mode on --json "$@" "$q"; }
ask >"$tmp/local.json"
ask --embed-backend "http://127.0.0.1:$port/v1" --rerank-backend "http://127.0.0.1:$port/v1" >"$tmp/remote.json"
pick='{answer, reranked, citations: [.citations[] | .chunk_id]}'
[ "$(jq -c "$pick" "$tmp/local.json")" = "$(jq -c "$pick" "$tmp/remote.json")" ] ||
  fail "local $(jq -c "$pick" "$tmp/local.json") remote $(jq -c "$pick" "$tmp/remote.json")"
[ "$(jq .reranked "$tmp/remote.json")" = true ] || fail "not reranked"
echo "same answer and citations: $(jq -c "$pick" "$tmp/remote.json")"
echo PASS
