#!/usr/bin/env bash
# A read-only replica as a real process: `edgerag index snapshot` publishes a
# writer's index (refusing to overwrite without --force), `serve --read-only`
# refuses writes with 403, and SIGHUP switches it to the newer snapshot the
# index symlink names (the process keeps serving).
#   tests/server/replica_sighup.sh EDGERAG_BIN
set -euo pipefail
edgerag=$1
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$tmp/serve.log" ] && cat "$tmp/serve.log"; exit 1; }

mkdir -p "$tmp/docs" "$tmp/snaps"
echo "The Bell Rock lighthouse was built between 1807 and 1810 on a reef." >"$tmp/docs/lighthouse.txt"
"$edgerag" ingest --index "$tmp/writer" --quiet "$tmp/docs" >/dev/null
"$edgerag" index snapshot --index "$tmp/writer" -o "$tmp/snaps/1" --json >"$tmp/snap1.json"
[ "$(jq .documents "$tmp/snap1.json")" = 1 ] || fail "snapshot 1: $(cat "$tmp/snap1.json")"
if "$edgerag" index snapshot --index "$tmp/writer" -o "$tmp/snaps/1" 2>"$tmp/err"; then fail "overwrote a snapshot"; fi
grep -q "exists (replace it with --force)" "$tmp/err" || fail "unclear refusal: $(cat "$tmp/err")"
ln -s "$tmp/snaps/1" "$tmp/current"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$edgerag" serve --index "$tmp/current" --read-only --port "$port" >"$tmp/serve.log" 2>&1 &
pid=$!
url=http://127.0.0.1:$port
for _ in $(seq 1 100); do curl -sf "$url/health" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$url/health" >/dev/null || fail "serve did not start"

status=$(curl -s -o "$tmp/refused.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  -d '{"documents":[{"key":"k","text":"new"}]}' "$url/v1/documents")
[ "$status" = 403 ] && [ "$(jq -r .error.code "$tmp/refused.json")" = read_only ] || fail "write answered $status: $(cat "$tmp/refused.json")"

cited() { curl -sf -H 'Content-Type: application/json' -d '{"question":"Where does the Aletsch glacier flow?"}' \
  "$url/v1/rag/query" | jq -r '[.citations[].file] | join(",")'; }
case "$(cited)" in *glacier*) fail "glacier cited before it was published";; esac

echo "The Aletsch glacier flows south from the Jungfrau." >"$tmp/docs/glacier.txt"
"$edgerag" ingest --index "$tmp/writer" --quiet "$tmp/docs" >/dev/null
"$edgerag" index snapshot --index "$tmp/writer" -o "$tmp/snaps/2" >/dev/null
ln -s "$tmp/snaps/2" "$tmp/current.new" && mv -T "$tmp/current.new" "$tmp/current"
case "$(cited)" in *glacier*) fail "switched before SIGHUP";; esac

kill -HUP "$pid"
for _ in $(seq 1 100); do case "$(cited)" in *glacier*) break;; esac; sleep 0.1; done
case "$(cited)" in *glacier*) ;; *) fail "SIGHUP did not switch to the new snapshot";; esac
kill -0 "$pid" || fail "serve exited on SIGHUP"
grep -q "SIGHUP: .*\"documents\":2.*snaps/2" "$tmp/serve.log" || fail "no reload line in the log"
echo PASS
