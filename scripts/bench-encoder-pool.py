#!/usr/bin/env python3
"""What a remote encoder pool costs a RAG query (docs/SCALING.md). Starts on loopback
an `edgerag serve` worker with the embedder and reranker, and two front ends (no LLM:
extractive answers, so generation does not hide the encoders) that ingest the same 64
documents: one with the encoders loaded, one with --embed-backend / --rerank-backend on
the worker. Then REPS alternated rounds of the same hybrid + rerank /v1/rag/query on each; prints one JSON object: median and p90 ms per front end, their
ratio, and the machine's `uptime` load before and after.
  scripts/bench-encoder-pool.py [REPS] [EMBED] [RERANK]   (from a build in build/)"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the checkout
sys.path.insert(0, os.path.join(root, "tests", "remote"))
from loopback import free_port, ok_json, run, start  # noqa: E402

edgerag = os.environ.get("EDGERAG_BIN", os.path.join(root, "build/tools/edgerag"))
reps = int(sys.argv[1]) if len(sys.argv) > 1 else 40
embed = sys.argv[2] if len(sys.argv) > 2 else "synth-bert-embed"
rerank = sys.argv[3] if len(sys.argv) > 3 else "synth-bert-rerank"


def load():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip().split("load average: ")[-1]


def main(tmp):
    wp, lp, rp = free_port(), free_port(), free_port()
    start([edgerag, "serve", "--embed", embed, "--rerank", rerank, "--port", str(wp)], wp, f"{tmp}/w.log")
    w = f"http://127.0.0.1:{wp}/v1"
    common = [edgerag, "serve", "--embed", embed, "--rerank", rerank]
    start(common + ["--index", f"{tmp}/local", "--port", str(lp)], lp, f"{tmp}/l.log")
    start(common + ["--index", f"{tmp}/remote", "--embed-backend", w, "--rerank-backend", w, "--port", str(rp)], rp,
          f"{tmp}/r.log")
    docs = [{"key": f"d{i}", "text": f"Document {i}. The river {i} flows past the mill. Farmers bring grain {i} in "
                                     f"autumn.\n\nThe bridge {i} was rebuilt after the flood of {1900 + i}."}
            for i in range(64)]
    for port in (lp, rp):
        ok_json(port, "/v1/documents", {"documents": docs})
    q = {"question": "When was the bridge rebuilt after the flood?", "mode": "hybrid",
         "config": {"retrieval": {"rerank": "on", "rerank_top": 16}}}
    before = load()
    ms = {"local": [], "remote": []}
    for i in range(reps + 2):
        for name, port in (("local", lp), ("remote", rp)) if i % 2 == 0 else (("remote", rp), ("local", lp)):
            t = time.perf_counter()
            ok_json(port, "/v1/rag/query", q)
            if i >= 2:  # two warm-up rounds
                ms[name].append((time.perf_counter() - t) * 1000)
    out = {"reps": reps, "embed": embed, "rerank": rerank, "load_before": before, "load_after": load()}
    for name, v in ms.items():
        v.sort()
        out[name] = {"median_ms": round(statistics.median(v), 2), "p90_ms": round(v[int(0.9 * (len(v) - 1))], 2)}
    out["remote_over_local_median"] = round(out["remote"]["median_ms"] / out["local"]["median_ms"], 2)
    print(json.dumps(out))


if __name__ == "__main__":
    run(main)
