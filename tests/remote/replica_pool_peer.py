#!/usr/bin/env python3
"""A replica pool of real processes on loopback: two `edgerag serve` workers and
llama.cpp's llama-server (stories260K) behind `edgerag serve --llm-backend A,B,C`.
 - 32 concurrent completions through the front end give the greedy text one
   worker gives alone for each prompt;
 - requests sharing a prefix go to one replica (front end over the two workers,
   --affinity-tokens 32): its prefix-cache hits rise in its own /metrics;
 - a worker killed with SIGKILL while 32 streams run: every request that had
   not streamed anything completes (retried elsewhere) with the greedy text
   of the engine that served it (worker or peer, each alone),
   the ones it was streaming end with an error event naming the replica;
 - the worker comes back on its port: the pool sends it requests again.
   tests/remote/replica_pool_peer.py EDGERAG_BIN SHARED_DIR   ($EDGERAG_SHARED, if set, wins)"""
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

from loopback import fail, free_port, procs, request, run, start

edgerag = sys.argv[1]
shared = os.environ.get("EDGERAG_SHARED") or sys.argv[2]
peer_bin = os.path.join(shared, "peers/llama.cpp/bin")
model = os.path.join(shared, "models/stories260K.gguf")

# Workers keep F32 KV: with it they give llama-server's greedy text on every prompt
# below; with F16 one near tie (the frog named Sue) breaks the other way.
def worker(port, tmp):
    return start([edgerag, "serve", "-m", model, "--port", str(port), "--threads", "1", "--kv-type", "f32"], port,
                 f"{tmp}/w{port}.log")


def metric(port, name, labels=""):
    text = request(port, "GET", "/metrics")[1]
    m = re.search(r"^" + re.escape(name + labels) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def completion(port, prompt, max_tokens):
    s, data = request(port, "POST", "/v1/completions",
                      {"model": "stories260K", "prompt": prompt, "max_tokens": max_tokens, "temperature": 0})
    if s != 200:
        fail(f"port {port}: HTTP {s}: {data}")
    return json.loads(data)["choices"][0]["text"]


def stream(port, prompt, max_tokens, out):
    """Streams one completion; out gets its pieces, text and error event (if any)."""
    out.update(pieces=0, text="", error=None, status=None)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("POST", "/v1/completions", json.dumps({"model": "stories260K", "prompt": prompt, "max_tokens": max_tokens,
                                                     "temperature": 0, "stream": True}),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    out["status"] = r.status
    for raw in r:
        line = raw.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        ev = json.loads(line[6:])
        if "error" in ev:
            out["error"] = ev["error"].get("message", str(ev["error"]))
        elif ev.get("choices") and ev["choices"][0].get("text"):
            out["pieces"] += 1
            out["text"] += ev["choices"][0]["text"]
    c.close()


def run_all(fn, n):
    ts = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    return ts


def main(tmp):
    if not os.access(os.path.join(peer_bin, "llama-server"), os.X_OK):
        fail(f"the llama.cpp peer is missing: {peer_bin}/llama-server (see {shared}/peers/README.md)")
    links = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "peer-lib-links.sh")
    subprocess.run(["bash", links, peer_bin, f"{tmp}/lib"], check=True)

    w1, w2, pp, front, front2 = (free_port() for _ in range(5))
    worker(w1, tmp)
    worker(w2, tmp)
    start([f"{peer_bin}/llama-server", "-m", model, "--host", "127.0.0.1", "--port", str(pp), "-t", "1", "-c", "2048",
           "-np", "1"], pp, f"{tmp}/peer.log", env=dict(os.environ, LD_LIBRARY_PATH=f"{tmp}/lib"))
    # One slot: llama-server's batched decoding is not batch-invariant (a near tie can
    # break differently with other requests in the batch); edgerag's is.
    urls = [f"http://127.0.0.1:{p}/v1" for p in (w1, w2, pp)]
    start([edgerag, "serve", "-m", model, "--llm-backend", ",".join(urls), "--port", str(front),
           "--backend-health-interval", "200"], front, f"{tmp}/front.log")

    # 1. 32 concurrent requests: the text one worker gives alone.
    prompts = [f"Once upon a time, there was a {w} named {n}." for w in ("cat", "dog", "bird", "girl", "boy", "fish",
                                                                           "frog", "bear") for n in ("Tim", "Sue", "Max", "Lily")]
    want = [completion(w1, p, 24) for p in prompts]
    got = [None] * len(prompts)

    def one(i):
        got[i] = completion(front, prompts[i], 24)
    for t in run_all(one, len(prompts)):
        t.join()
    bad = [i for i in range(len(prompts)) if got[i] != want[i]]
    if bad:
        fail(f"{len(bad)} of 32 differ, e.g. '{got[bad[0]]}' vs one worker '{want[bad[0]]}'")
    served = {u: metric(front, "edgerag_replica_requests_total", f'{{backend="llm",replica="{u}"}}') for u in urls}
    print("32 concurrent: same greedy text as one worker; requests per replica", list(served.values()))
    if min(served.values()) < 1:
        fail(f"a replica got nothing: {served}")

    # 2. Prefix affinity over the two workers: shared-prefix requests go to one, whose prefix cache hits rise.
    start([edgerag, "serve", "-m", model, "--llm-backend", ",".join(urls[:2]), "--port", str(front2),
           "--affinity-tokens", "32"], front2, f"{tmp}/front2.log")
    prefix = "Once upon a time, there was a little girl named Lily. She loved to play in the park with her red ball. " * 2
    cached0 = {p: metric(p, "edgerag_prompt_tokens_cached_total") for p in (w1, w2)}
    for i in range(8):
        completion(front2, prefix + f"One day number {i},", 8)
    hits = {u: metric(front2, "edgerag_replica_affinity_hits_total", f'{{backend="llm",replica="{u}"}}') for u in urls[:2]}
    reqs = {u: metric(front2, "edgerag_replica_requests_total", f'{{backend="llm",replica="{u}"}}') for u in urls[:2]}
    home = max(hits, key=hits.get)
    if hits[home] != 7 or reqs[home] != 8:
        fail(f"affinity: hits {hits}, requests {reqs}")
    hport = w1 if home == urls[0] else w2
    rose = metric(hport, "edgerag_prompt_tokens_cached_total") - cached0[hport]
    if rose < 7 * 16:
        fail(f"affinity: the replica's prefix-cache hits rose by {rose} tokens only")
    print(f"affinity: 8 shared-prefix requests on one replica, 7 affinity hits, its cached prompt tokens +{rose:.0f}")

    # 3. SIGKILL a worker while 32 streams run.
    long_n = 160
    # After this many tokens llama.cpp's and edgerag's float sums may break a near tie
    # differently: a request has the greedy text of the engine that served it, alone.
    want_long = [completion(w1, p, long_n) for p in prompts]
    peer_long = [completion(pp, p, long_n) for p in prompts]
    outs = [dict() for _ in prompts]
    threads = run_all(lambda i: stream(front, prompts[i], long_n, outs[i]), len(prompts))
    deadline = time.time() + 20
    while sum(1 for o in outs if o.get("pieces")) < 6 and time.time() < deadline:
        time.sleep(0.01)
    victim = procs[1]  # the second worker
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    for t in threads:
        t.join()
    cut = [o for o in outs if o["error"]]
    for i, o in enumerate(outs):
        if o["status"] != 200:
            fail(f"stream {i}: HTTP {o['status']}")
        if o["error"]:
            if o["pieces"] == 0:
                fail(f"stream {i} was lost before streaming anything: {o['error']}")
            if "mid-stream" not in o["error"] or urls[1] not in o["error"]:
                fail(f"stream {i}: unclear error '{o['error']}'")
            if not want_long[i].startswith(o["text"]):
                fail(f"stream {i}: its pieces before the error differ")
        elif o["text"] not in (want_long[i], peer_long[i]):
            fail(f"stream {i}: '{o['text']}' vs one worker '{want_long[i]}'")
    if not cut:
        fail("the killed worker was streaming nothing: the test did not exercise a cut stream")
    retries = metric(front, "edgerag_backend_retries_total", '{backend="llm"}')
    print(f"SIGKILL: {len(outs) - len(cut)} complete with the greedy text, {len(cut)} cut mid-stream with an error "
          f"naming the replica, {retries:.0f} retried")

    # 4. The worker comes back on its port: health checks close its breaker and it serves again.
    procs.remove(victim)
    worker(w2, tmp)
    label = f'{{backend="llm",replica="{urls[1]}"}}'
    deadline = time.time() + 15
    while metric(front, "edgerag_replica_up", label) != 1 and time.time() < deadline:
        time.sleep(0.1)
    if metric(front, "edgerag_replica_up", label) != 1:
        fail("the restarted worker is not back in the pool")
    before = metric(front, "edgerag_replica_requests_total", label)
    got = [None] * 12

    def again(i):
        got[i] = completion(front, prompts[i], 24)
    for t in run_all(again, 12):
        t.join()
    if got != want[:12]:
        fail("after recovery the texts differ")
    if metric(front, "edgerag_replica_requests_total", label) <= before:
        fail("the restarted worker gets no requests")
    print("recovery: the restarted worker serves again")
    print("PASS")


if __name__ == "__main__":
    run(main)
