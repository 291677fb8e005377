#!/usr/bin/env python3
"""Upper bound of prompt-lookup speculation on a prompts file (docs/PERFORMANCE.md).

Generates each prompt's greedy continuation with `edgerag generate --json`, then
replays it with an oracle drafter: at every step it drafts exactly the longest
run of upcoming tokens that follows any earlier occurrence (in prompt + output)
of any suffix n-gram of length >= --min-ngram, so no drafted token is ever
rejected. With a forward over 1 + k tokens costing 1 + C*k decode steps
(C from `bench spec --verify-cost`), it prints the decode speed-up no lookup
drafter can beat for these outputs: tokens / step-equivalents.

Usage: scripts/spec-lookup-bound.py EDGERAG MODEL PROMPTS.jsonl [-n 128] [--cost C] [--min-ngram 1]
"""
import argparse
import json
import subprocess


def greedy(edgerag, model, prompt, n):
    out = subprocess.run([edgerag, "generate", "-m", model, "-p", prompt, "-n", str(n), "--temp", "0",
                          "-t", "1", "--json"], capture_output=True, text=True, check=True).stdout
    j = json.loads(out)
    return j["prompt_ids"], j["tokens"]


def oracle_steps(prompt, gen, min_ngram, cost):
    """Step-equivalents to decode gen[1:] (gen[0] comes from the prefill) and tokens drafted."""
    h = list(prompt) + gen[:1]
    i, steps, drafted = 1, 0.0, 0
    while i < len(gen):
        best = 0
        for n in range(min_ngram, len(h)):
            tail, found = h[-n:], False
            for j in range(len(h) - n - 1, -1, -1):
                if h[j:j + n] != tail:
                    continue
                found = True
                a = 0
                while i + a < len(gen) - 1 and j + n + a < len(h) and h[j + n + a] == gen[i + a]:
                    a += 1
                best = max(best, a)
            if not found:
                break
        steps += 1 + cost * best
        drafted += best
        h += gen[i:i + best + 1]
        i += best + 1
    return steps, drafted


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("edgerag")
    ap.add_argument("model")
    ap.add_argument("prompts")
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("--cost", type=float, default=0.35, help="cost of one draft row, in decode steps")
    ap.add_argument("--min-ngram", type=int, default=1)
    a = ap.parse_args()
    tokens, steps, drafted = 0, 0.0, 0
    for line in open(a.prompts):
        if line.strip():
            prompt, gen = greedy(a.edgerag, a.model, json.loads(line)["prompt"], a.n)
            s, d = oracle_steps(prompt, gen, a.min_ngram, a.cost)
            tokens, steps, drafted = tokens + len(gen) - 1, steps + s, drafted + d
    print(json.dumps({"prompts": a.prompts, "cost_per_draft": a.cost, "min_ngram": a.min_ngram, "tokens": tokens,
                      "accepted_drafts": drafted, "step_equivalents": round(steps, 1),
                      "max_speedup": round(tokens / steps, 3)}))


if __name__ == "__main__":
    main()
