#!/usr/bin/env python3
"""A front end whose encoders and LLM are remote, real processes on loopback: an
`edgerag serve` worker with local models (stories260K, synth-bert-embed,
synth-bert-rerank) and a front end `serve --embed-backend W --rerank-backend W
--llm-backend W` (its --embed / --rerank / -m only name the GGUFs).
 - the same documents uploaded to both (/v1/documents: the front end's chunks
   are embedded on the worker) give, for dense and hybrid queries with rerank,
   the same context chunk ids and per-stage scores (float tolerance) and the
   same answer as the worker answering locally;
 - the front end's /v1/embeddings and /v1/rerank (relevance and raw scores)
   answer as the worker's own;
 - the front end's /metrics counts the encoder pools' requests per replica;
 - SIGHUP reloads the front end's index and leaves it running;
 - the worker killed with SIGKILL: the front end answers queries, embeddings,
   rerank and uploads with a 502 naming the backend (a streamed upload ends
   with that error event), and keeps running.
   tests/remote/serve_encoder_backends.py EDGERAG_BIN SHARED_DIR   ($EDGERAG_SHARED, if set, wins)"""
import http.client
import json
import os
import re
import signal
import sys
import time

from loopback import fail, free_port, ok_json as ok, procs, request, run, start

edgerag = sys.argv[1]
shared = os.environ.get("EDGERAG_SHARED") or sys.argv[2]
models = os.path.join(shared, "models")
llm, embed, rerank = (os.path.join(models, m + ".gguf") for m in ("stories260K", "synth-bert-embed", "synth-bert-rerank"))


def alive(port, proc):
    try:
        return proc.poll() is None and request(port, "GET", "/health")[0] == 200
    except OSError:
        return False


def upload_stream(port, name, content):
    """A multipart upload with stream=true; its server-sent events."""
    boundary = "edgerag-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"stream\"\r\n\r\ntrue\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: text/plain\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/v1/documents", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    r = c.getresponse()
    text = r.read().decode()
    c.close()
    if r.status != 200:
        fail(f"streamed upload: HTTP {r.status} {text[:300]}")
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: {")]


def close(a, b, what, tol=1e-4):
    if abs(a - b) > tol * max(1.0, abs(a)):
        fail(f"{what}: {a} vs {b}")


def same_context(local, remote, what):
    lc, rc = local["debug"]["context"], remote["debug"]["context"]
    if [h["chunk_id"] for h in lc] != [h["chunk_id"] for h in rc] or not lc:
        fail(f"{what}: context chunks {[h['chunk_id'] for h in lc]} vs {[h['chunk_id'] for h in rc]}")
    for lh, rh in zip(lc, rc):
        if sorted(lh["scores"]) != sorted(rh["scores"]):
            fail(f"{what}: score stages {sorted(lh['scores'])} vs {sorted(rh['scores'])}")
        close(lh["score"], rh["score"], f"{what}: chunk {lh['chunk_id']} score")
        for stage, v in lh["scores"].items():
            close(v, rh["scores"][stage], f"{what}: chunk {lh['chunk_id']} {stage}")
    if local["answer"] != remote["answer"] or not local["answer"]:
        fail(f"{what}: answers differ:\n{local['answer']!r}\n{remote['answer']!r}")
    if not remote["reranked"]:
        fail(f"{what}: not reranked")
    return lc


def main(tmp):
    wp, fp = free_port(), free_port()
    worker = start([edgerag, "serve", "--index", f"{tmp}/worker-index", "-m", llm, "--embed", embed, "--rerank", rerank,
                    "--threads", "1", "--debug-prompt", "--port", str(wp)], wp, f"{tmp}/worker.log")
    w = f"http://127.0.0.1:{wp}/v1"
    start([edgerag, "serve", "--index", f"{tmp}/front-index", "-m", llm, "--embed", embed, "--rerank", rerank,
           "--embed-backend", w, "--rerank-backend", w, "--llm-backend", w, "--debug-prompt", "--port", str(fp)],
          fp, f"{tmp}/front.log")

    docs = [{"key": f"d{i}", "title": f"Doc {i}",
             "text": f"Document {i}. The river {i} flows past the mill. Farmers bring grain number {i} in autumn.\n\n"
                     f"The bridge {i} was rebuilt after the flood of year {1900 + 7 * i}. Lily played by bridge {i}."}
            for i in range(1, 9)]
    for port in (wp, fp):  # the same uploads: the same chunk ids
        report = ok(port, "/v1/documents", {"documents": docs})
        if report["added"] != len(docs) or report["failed"] != 0:
            fail(f"upload on port {port}: {report}")

    question = "When was the bridge rebuilt after the flood?"
    config = {"retrieval": {"rerank": "on", "rerank_top": 8}, "generation": {"max_tokens": 24}}
    for mode in ("hybrid", "dense"):
        q = {"question": question, "mode": mode, "config": config, "debug": True}
        local, remote = ok(wp, "/v1/rag/query", q), ok(fp, "/v1/rag/query", q)
        ctx = same_context(local, remote, mode)
        if not all("dense" in h["scores"] and "rerank" in h["scores"] for h in ctx):
            fail(f"{mode}: a context chunk without dense or rerank score: {[h['scores'] for h in ctx]}")
        print(f"{mode}: same {len(ctx)} chunks {[h['chunk_id'] for h in ctx]}, scores and answer {remote['answer']!r}")

    inputs = {"model": "synth-bert-embed", "input": ["The bridge was rebuilt.", "Farmers bring grain in autumn."]}
    le, re_ = ok(wp, "/v1/embeddings", inputs), ok(fp, "/v1/embeddings", inputs)
    for a, b in zip(le["data"], re_["data"]):
        for x, y in zip(a["embedding"], b["embedding"]):
            close(x, y, "embedding", 1e-5)
    if le["usage"] != re_["usage"] or re_["model"] != "synth-bert-embed":
        fail(f"embeddings: usage {le['usage']} vs {re_['usage']}, model {re_['model']}")
    for raw in (False, True):
        rq = {"query": question, "documents": [d["text"] for d in docs[:4]], "raw_scores": raw}
        lr, rr = ok(wp, "/v1/rerank", rq)["results"], ok(fp, "/v1/rerank", rq)["results"]
        if [r["index"] for r in lr] != [r["index"] for r in rr]:
            fail(f"rerank order {lr} vs {rr}")
        for a, b in zip(lr, rr):
            close(a["relevance_score"], b["relevance_score"], "rerank relevance", 1e-5)
    print("embeddings and rerank: the worker's")

    metrics = ok(fp, "/metrics")
    for backend, least in (("embed", len(docs) // 8 + 3), ("rerank", 4)):
        m = re.search(r'^edgerag_replica_requests_total\{backend="%s",replica="%s"\} (\S+)$' % (backend, re.escape(w)),
                      metrics, re.M)
        if not m or float(m.group(1)) < least:
            fail(f"front end /metrics: {backend} requests {m and m.group(1)} (expected >= {least})")
        print(f"front end /metrics: {m.group(0)}")

    # SIGHUP (index reload) goes to the waiting thread, never to a backend's health-check thread
    # (which would take its default action and end the process).
    for _ in range(5):
        procs[1].send_signal(signal.SIGHUP)
        time.sleep(0.05)
    if not alive(fp, procs[1]):
        fail("SIGHUP ended the front end")

    worker.kill()
    worker.wait()
    for path, body in (("/v1/rag/query", {"question": question}), ("/v1/embeddings", inputs),
                       ("/v1/rerank", {"query": question, "documents": ["a", "b"]})):
        status, data = request(fp, "POST", path, body)
        err = json.loads(data).get("error", {})
        if status != 502 or err.get("code") != "backend_unavailable" or "backend" not in err.get("message", ""):
            fail(f"{path} with the worker dead: HTTP {status} {data[:300]}")
        print(f"worker dead: {path} -> {status} {err['message']}")
    status, data = request(fp, "POST", "/v1/documents", {"documents": [{"key": "late", "text": "A late document."}]})
    if status != 502 or "embed backend" not in data:
        fail(f"an upload with the worker dead: HTTP {status} {data[:300]}")
    # A streamed upload has sent its 200 when the embedder fails: its last event is the error.
    events = upload_stream(fp, "late.txt", b"A late document about the mill.")
    if "error" not in events[-1] or events[-1]["error"]["code"] != "backend_unavailable":
        fail(f"a streamed upload with the worker dead ended with {events[-1:]}")
    print(f"worker dead: uploads -> 502 / a stream ending with {events[-1]['error']['message']!r}")
    if not alive(fp, procs[1]):
        fail("the front end did not survive its backend")
    print("PASS")


if __name__ == "__main__":
    run(main)
