#!/usr/bin/env bash
# The reference deployment on loopback: Debian's nginx with deploy/nginx.conf.in
# in front of two `edgerag serve --read-only` front ends over one snapshot.
# Requests spread over both; after one is killed (SIGKILL) every request still
# succeeds on the other; started again, it gets requests again.
#   tests/server/nginx_front.sh EDGERAG_BIN SOURCE_DIR
set -euo pipefail
edgerag=$1; src=$2
nginx=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx" ] || { echo "FAIL: nginx not found (scripts/setup-deps.sh installs nginx-light)"; exit 1; }
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; for f in "$tmp"/*.log "$tmp"/run/*.log; do [ -f "$f" ] && { echo "== $f"; tail -20 "$f"; }; done; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 100); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; return 1; }

mkdir -p "$tmp/docs"
echo "The Bell Rock lighthouse was built between 1807 and 1810 on a reef." >"$tmp/docs/lighthouse.txt"
"$edgerag" ingest --index "$tmp/writer" --quiet "$tmp/docs" >/dev/null
"$edgerag" index snapshot --index "$tmp/writer" -o "$tmp/snap" >/dev/null

serve() {  # serve PORT: a front end, its pid appended to pids
  "$edgerag" serve --index "$tmp/snap" --read-only --port "$1" >>"$tmp/serve-$1.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$1/health" || fail "front end on $1 did not start"
}
p1=$(free_port); p2=$(free_port); lb=$(free_port)
serve "$p1"; pid1=${pids[-1]}
serve "$p2"

# The balancer: the repository's config rendered for this run, nginx in the foreground.
# As root it drops to nobody itself (setpriv), so no worker switches users.
mkdir -p "$tmp/run"
upstreams="server 127.0.0.1:$p1 max_fails=1 fail_timeout=2s; server 127.0.0.1:$p2 max_fails=1 fail_timeout=2s;"
sed -e "s|@RUN_DIR@|$tmp/run|g" -e "s|@LISTEN@|127.0.0.1:$lb|g" -e "s|@UPSTREAMS@|$upstreams|g" \
  "$src/deploy/nginx.conf.in" >"$tmp/run/nginx.conf"
grep -q @ "$tmp/run/nginx.conf" && grep -n @ "$tmp/run/nginx.conf" | grep -v '^[0-9]*:#' && fail "unrendered placeholder"
run_as=()
if [ "$(id -u)" = 0 ]; then
  chown -R 65534:65534 "$tmp/run"; chmod 755 "$tmp"
  run_as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
"${run_as[@]}" "$nginx" -p "$tmp/run" -e "$tmp/run/error.log" -c "$tmp/run/nginx.conf" >"$tmp/nginx.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$lb/health" || fail "nginx did not start"

# N queries through the balancer: "STATUS UPSTREAM" per line.
query() {
  for _ in $(seq 1 "$1"); do
    curl -s -o "$tmp/answer.json" -D "$tmp/head" -w '%{http_code} ' -H 'Content-Type: application/json' \
      -d '{"question":"When was the Bell Rock lighthouse built?"}' "http://127.0.0.1:$lb/v1/rag/query"
    tr -d '\r' <"$tmp/head" | awk 'tolower($1) == "x-edgerag-upstream:" { print $NF }'
    jq -e '.citations[0].file | endswith("lighthouse.txt")' "$tmp/answer.json" >/dev/null || fail "wrong answer $(cat "$tmp/answer.json")"
  done
}
query 20 >"$tmp/spread"
[ "$(grep -c "^200 127.0.0.1:$p1$" "$tmp/spread")" -ge 5 ] && [ "$(grep -c "^200 127.0.0.1:$p2$" "$tmp/spread")" -ge 5 ] ||
  fail "not spread over both front ends: $(sort "$tmp/spread" | uniq -c | tr '\n' ';')"
echo "spread: $(sort "$tmp/spread" | uniq -c | tr '\n' ';')"

# A dead front end is skipped: no request fails, all end on the other one.
kill -9 "$pid1"; wait "$pid1" 2>/dev/null || true
query 20 >"$tmp/dead"
[ "$(grep -c "^200 127.0.0.1:$p2$" "$tmp/dead")" = 20 ] || fail "with $p1 dead: $(sort "$tmp/dead" | uniq -c | tr '\n' ';')"
echo "one dead: $(sort "$tmp/dead" | uniq -c | tr '\n' ';')"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$lb/admin/reload")" = 403 ] ||
  fail "the balancer passed /admin/ on"

# Back again: after fail_timeout it gets requests again.
serve "$p1"
for _ in $(seq 1 40); do
  query 4 >"$tmp/back"
  grep -q "^200 127.0.0.1:$p1$" "$tmp/back" && { echo "recovered"; echo PASS; exit 0; }
  sleep 0.25
done
fail "the restarted front end got no requests"
