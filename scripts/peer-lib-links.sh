#!/usr/bin/env bash
# Fills DIR with links to the llama.cpp peer's shared libraries in PEER_BIN, for
# LD_LIBRARY_PATH: the peer's own library links may be stored as small text files
# naming their targets (docs/PERFORMANCE.md), which the loader cannot follow.
#   scripts/peer-lib-links.sh PEER_BIN DIR
set -euo pipefail
peer=$1; dir=$2
mkdir -p "$dir"
for f in "$peer"/*.so*; do
  n=$(basename "$f")
  if [ "$(stat -c %s "$f")" -lt 200 ] && ! head -c 4 "$f" | grep -q ELF; then ln -sf "$peer/$(cat "$f")" "$dir/$n"
  else ln -sf "$f" "$dir/$n"; fi
done
