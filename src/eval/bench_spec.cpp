#include "eval/bench_spec.h"

#include <algorithm>
#include <fstream>

#include "format/json_file.h"
#include "runtime/spec_generate.h"
#include "util/error.h"
#include "util/timer.h"

namespace edgerag {
namespace {

std::vector<std::string> read_prompts(const std::string& path) {
  std::ifstream in(path);
  EDGERAG_CHECK(in.good(), "bench spec: cannot open {}", path);
  constexpr size_t kMaxLine = 1 << 20, kMaxPrompts = 10000;
  std::vector<std::string> out;
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{} line {}", path, n);
    EDGERAG_CHECK(line.size() <= kMaxLine && out.size() < kMaxPrompts, "{}: over {} bytes or {} prompts", where,
                  kMaxLine, kMaxPrompts);
    EDGERAG_CHECK(check_json_shape(line, {.depth = 8, .values = 4096, .keys_per_object = 64}) == JsonShapeExcess::kNone,
                  "{}: JSON too deep or too large", where);
    const auto j = parse_json_text(line, where);
    EDGERAG_CHECK(j.is_object() && j.contains("prompt") && j["prompt"].is_string() && !j["prompt"].get<std::string>().empty(),
                  "{}: expected an object with a non-empty \"prompt\" string", where);
    out.push_back(j["prompt"].get<std::string>());
  }
  EDGERAG_CHECK(!out.empty(), "bench spec: no prompts in {}", path);
  return out;
}

// Decode speed of a run: tokens after the first over the time after it.
struct Timed {
  int tokens = 0;
  double ms = 0;
  double tok_s() const { return ms > 0 ? tokens * 1000.0 / ms : 0; }
};
Timed decode_time(const GenResult& g) { return {std::max(0, g.n_generated - 1), g.total_ms - g.ttft_ms}; }
Timed median(std::vector<Timed> v) {
  std::sort(v.begin(), v.end(), [](const Timed& a, const Timed& b) { return a.ms < b.ms; });
  return v[v.size() / 2];
}

void finish_row(SpecBenchRow& r, const Timed& base, const Timed& spec) {
  r.base_tok_s = base.tok_s();
  r.spec_tok_s = spec.tok_s();
  r.speedup = r.base_tok_s > 0 ? r.spec_tok_s / r.base_tok_s : 0;
  r.acceptance_rate = r.drafted ? static_cast<double>(r.accepted) / r.drafted : 0;
  r.mean_accepted = r.verify_steps ? static_cast<double>(r.accepted) / r.verify_steps : 0;
}

}  // namespace

SpecBenchResult bench_spec(const SpecBenchOptions& opts) {
  EDGERAG_CHECK(opts.n_gen >= 2, "bench spec: need at least 2 generated tokens, got {}", opts.n_gen);
  EDGERAG_CHECK(opts.spec.mode != SpecMode::Off, "bench spec: --speculative must not be off");
  EDGERAG_CHECK(opts.pairs >= 1, "bench spec: need at least one run pair per prompt, got {}", opts.pairs);
  const auto prompts = read_prompts(opts.prompts_file);
  auto model = Model::load(opts.model);
  auto tok = Tokenizer::from_gguf(model->gguf());
  ThreadPool pool(opts.n_threads > 0 ? opts.n_threads : default_thread_count());
  std::vector<std::vector<int32_t>> ids;
  size_t longest = 0;
  for (const auto& p : prompts) {
    ids.push_back(tok->encode(p, true));
    longest = std::max(longest, ids.back().size());
  }
  SpecEngine engine(*model, *tok, &pool, static_cast<int64_t>(longest) + opts.n_gen + 64, opts.spec);
  SamplerParams greedy;
  greedy.temperature = 0;
  const SpecOptions off;
  engine.generate(ids.front(), 8, greedy, opts.spec, false);  // warm-up: caches, pages, the draft model
  SpecBenchResult res;
  res.total.identical = true;
  Timed base_total, spec_total;
  for (const auto& prompt : ids) {
    std::vector<Timed> base_runs, spec_runs;
    SpecEngine::Run spec;
    bool identical = true;
    for (int pair = 0; pair < opts.pairs; ++pair) {
      const auto base = engine.generate(prompt, opts.n_gen, greedy, off, false);
      spec = engine.generate(prompt, opts.n_gen, greedy, opts.spec, false);
      identical = identical && base.tokens == spec.tokens;
      base_runs.push_back(decode_time(base.result));
      spec_runs.push_back(decode_time(spec.result));
    }
    SpecBenchRow r;
    r.n_prompt = static_cast<int>(prompt.size());
    r.n_gen = spec.result.n_generated;
    r.drafted = spec.result.n_drafted;
    r.accepted = spec.result.n_accepted;
    r.verify_steps = spec.result.n_verify;
    r.identical = identical;
    const Timed b = median(std::move(base_runs)), s = median(std::move(spec_runs));
    finish_row(r, b, s);
    res.prompts.push_back(r);
    SpecBenchRow& t = res.total;
    t.n_prompt += r.n_prompt;
    t.n_gen += r.n_gen;
    t.drafted += r.drafted;
    t.accepted += r.accepted;
    t.verify_steps += r.verify_steps;
    t.identical = t.identical && r.identical;
    base_total = {base_total.tokens + b.tokens, base_total.ms + b.ms};
    spec_total = {spec_total.tokens + s.tokens, spec_total.ms + s.ms};
  }
  finish_row(res.total, base_total, spec_total);
  return res;
}

std::vector<VerifyCostRow> bench_verify_cost(const VerifyCostOptions& opts) {
  EDGERAG_CHECK(opts.n_ctx > 0 && opts.k_max >= 0 && opts.k_max <= 32 && opts.reps > 0,
                "bench spec: invalid verification-cost options (ctx {}, k max {}, reps {})", opts.n_ctx, opts.k_max,
                opts.reps);
  auto model = Model::load(opts.model);
  ThreadPool pool(opts.n_threads > 0 ? opts.n_threads : default_thread_count());
  const int32_t nv = model->hparams().n_vocab;
  auto cache = model->make_cache(opts.n_ctx + opts.k_max + 1, default_kv_type());  // as the commands decode
  Batch batch;
  for (int32_t i = 0; i < opts.n_ctx; ++i) batch.add((i * 7919 + 13) % nv, i, 0, false);
  batch.tokens.back().logits = true;
  model->forward(batch, *cache, &pool);
  std::vector<std::vector<double>> ms(opts.k_max + 1);
  for (int rep = -1; rep < opts.reps; ++rep) {  // rep -1 warms up
    for (int k = 0; k <= opts.k_max; ++k) {
      batch.clear();
      for (int32_t j = 0; j <= k; ++j) batch.add((j * 31 + 7) % nv, opts.n_ctx + j, 0, true);
      Timer t;
      model->forward(batch, *cache, &pool);
      if (rep >= 0) ms[k].push_back(t.ms());
      cache->truncate(0, opts.n_ctx);
    }
  }
  std::vector<VerifyCostRow> rows;
  for (int k = 0; k <= opts.k_max; ++k) {
    std::sort(ms[k].begin(), ms[k].end());
    rows.push_back({k, ms[k][ms[k].size() / 2], 0});
    rows.back().ratio = rows.back().ms / rows.front().ms;
  }
  return rows;
}

}  // namespace edgerag
