#include "eval/adaptive_eval.h"

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <set>

#include <nlohmann/json.hpp>

#include "eval/energy.h"
#include "eval/retrieval_beir.h"
#include "eval/temp_dir.h"
#include "rag/answer.h"
#include "rag/answer_cache.h"
#include "util/error.h"
#include "util/timer.h"

namespace edgerag::eval {
namespace {

using nlohmann::json;

// Documents of ranked chunks, first occurrence kept (a document may have several chunks).
std::vector<std::string> ranked_docs(const std::vector<rag::SearchHit>& hits, size_t n) {
  std::vector<std::string> docs;
  std::set<std::string> seen;
  for (size_t i = 0; i < hits.size() && i < n; ++i)
    if (seen.insert(hits[i].provenance.path).second) docs.push_back(hits[i].provenance.path);
  return docs;
}

struct Arm {  // one query with a stage off or on
  double ndcg = 0, recall = 0, ms = 0;
};

double mean(const std::vector<double>& v) { return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / v.size(); }

// Per-stage summary of paired off/on measurements.
json stage_json(const std::vector<Arm>& off, const std::vector<Arm>& on, const std::vector<double>& difficulty,
                const EnergyReading& e_off, const EnergyReading& e_on) {
  std::vector<double> gain, nd_off, nd_on, rc_off, rc_on, ms_off, ms_on;
  size_t helped = 0, hurt = 0;
  for (size_t i = 0; i < off.size(); ++i) {
    gain.push_back(on[i].ndcg - off[i].ndcg);
    helped += gain.back() > 1e-12;
    hurt += gain.back() < -1e-12;
    nd_off.push_back(off[i].ndcg), nd_on.push_back(on[i].ndcg);
    rc_off.push_back(off[i].recall), rc_on.push_back(on[i].recall);
    ms_off.push_back(off[i].ms), ms_on.push_back(on[i].ms);
  }
  const double n = std::max<size_t>(1, off.size());
  const double t = best_threshold(difficulty, gain);
  double auto_ndcg = 0;
  size_t auto_runs = 0;
  for (size_t i = 0; i < off.size(); ++i) {
    const bool run = difficulty[i] >= t;
    auto_ndcg += run ? on[i].ndcg : off[i].ndcg;
    auto_runs += run;
  }
  json j = {{"ndcg_at_10_off", mean(nd_off)},
            {"ndcg_at_10_on", mean(nd_on)},
            {"ndcg_at_10_gain", mean(nd_on) - mean(nd_off)},
            {"recall_at_k_off", mean(rc_off)},
            {"recall_at_k_on", mean(rc_on)},
            {"extra_ms_per_query", mean(ms_on) - mean(ms_off)},
            {"helped_share", helped / n},
            {"hurt_share", hurt / n},
            {"auto_threshold", t > 1 ? json("never") : json(t)},
            {"auto_ndcg_at_10", auto_ndcg / n},
            {"auto_run_share", auto_runs / n}};
  if (e_off.valid() && e_on.valid()) j["extra_joules_per_query"] = (e_on.joules - e_off.joules) / n;
  return j;
}

}  // namespace

double best_threshold(const std::vector<double>& difficulty, const std::vector<double>& gain) {
  EDGERAG_CHECK(difficulty.size() == gain.size(), "best_threshold: {} difficulties for {} gains", difficulty.size(),
                gain.size());
  std::vector<double> candidates = difficulty;
  candidates.push_back(2.0);  // never run
  std::sort(candidates.begin(), candidates.end(), std::greater<>());
  double best = 2.0, best_gain = 0;
  for (double t : candidates) {
    double g = 0;
    for (size_t i = 0; i < gain.size(); ++i)
      if (difficulty[i] >= t) g += gain[i];
    if (g > best_gain + 1e-12) best = t, best_gain = g;  // strictly better: ties keep the higher threshold
  }
  return best;
}

json run_adaptive_eval(const AdaptiveEvalOptions& opt) {
  EDGERAG_CHECK(!opt.embed.empty(), "eval adaptive: needs an embedding model (--embed)");
  EDGERAG_CHECK(opt.k >= 1 && opt.k <= 1000, "eval adaptive: k must be 1..1000");
  BeirDataset data = load_beir(opt.beir_dir, opt.split);
  if (opt.limit > 0 && data.queries.size() > opt.limit) data.queries.resize(opt.limit);
  if (opt.corpus_limit > 0) {
    std::set<std::string> keep;
    for (const auto& [qid, text] : data.queries)
      for (const auto& [doc, rel] : data.qrels[qid]) keep.insert(doc);
    std::vector<rag::TextDocument> sub;
    for (auto& d : data.corpus)
      if (keep.count(d.key) || sub.size() < opt.corpus_limit) sub.push_back(std::move(d));
    data.corpus = std::move(sub);
  }

  TempDir dir("edgerag-adaptive");
  auto embedder = rag::load_embedder(opt.embed);
  {
    auto idx = rag::Index::open(dir.path, {.writable = true});
    idx->set_embedder(embedder);
    rag::IngestOptions ing;
    ing.collection = kBeirCollection;
    idx->ingest_texts(data.corpus, ing);
  }
  auto cache = std::make_shared<rag::AnswerCache>();
  auto engine = rag::AnswerEngine::open({.index_dir = dir.path,
                                         .llm = opt.llm,
                                         .llm_small = opt.small_llm,
                                         .n_threads = opt.threads,
                                         .embedder = embedder,
                                         .cache = cache});
  rag::AnswerConfig base = opt.config;
  base.max_chunks = opt.k;
  base.adaptive.hyde = rag::StageMode::Off;
  base.adaptive.context = rag::StageMode::Off;
  base.adaptive.cache = false;
  base.adaptive.min_confidence = 0;
  const rag::LlmTargets llms = engine->llms();
  EnergyMeter meter(opt.tdp_watts);

  // One retrieval of every query with `cfg`; the supplied chunks are the first `max_chunks`.
  auto run_all = [&](const rag::AnswerConfig& cfg, std::vector<Arm>& arms, std::vector<rag::Answer>* answers) {
    meter.start();
    for (const auto& [qid, text] : data.queries) {
      rag::Answer a;
      Timer t;
      rag::AdaptiveRetrieval r = engine->retrieve(text, cfg, llms, {}, a);
      const double ms = t.ms();
      const Judgments& rel = data.qrels[qid];
      const auto supplied = ranked_docs(r.hits, static_cast<size_t>(r.max_chunks));
      arms.push_back({ndcg_at(ranked_docs(r.hits, r.hits.size()), rel, 10), recall_at(supplied, rel, opt.k), ms});
      if (answers) answers->push_back(std::move(a));
    }
    return meter.stop();
  };

  json stages = json::object();
  std::vector<Arm> off, on;
  std::vector<rag::Answer> first;
  const EnergyReading e_off = run_all(base, off, &first);
  std::vector<double> difficulty;
  for (const auto& a : first) difficulty.push_back(a.signals.difficulty);

  if (engine->has_llm()) {
    rag::AnswerConfig c = base;
    c.adaptive.hyde = rag::StageMode::On;
    const EnergyReading e_on = run_all(c, on, nullptr);
    stages["hyde"] = stage_json(off, on, difficulty, e_off, e_on);
  } else {
    stages["hyde"] = {{"skipped", "needs an LLM (-m)"}};
  }

  {
    rag::AnswerConfig c = base;
    c.adaptive.context = rag::StageMode::On;
    std::vector<Arm> trimmed;
    const EnergyReading e_on = run_all(c, trimmed, nullptr);
    // Trimming changes what is supplied, not the ranking: recall of the supplied chunks is what it costs,
    // and it pays in prompt tokens (prefill time) once an LLM answers.
    json j = stage_json(off, trimmed, difficulty, e_off, e_on);
    // `auto` trims below its threshold: the highest one under which no query lost recall.
    double t = 1, lost = 0;
    for (size_t i = 0; i < off.size(); ++i)
      if (off[i].recall - trimmed[i].recall > 1e-12) t = std::min(t, difficulty[i]), ++lost;
    double auto_recall = 0;
    for (size_t i = 0; i < off.size(); ++i) auto_recall += difficulty[i] < t ? trimmed[i].recall : off[i].recall;
    const double n = std::max<size_t>(1, off.size());
    j.erase("auto_ndcg_at_10");
    j["auto_threshold"] = t;
    j["auto_run_share"] = std::count_if(difficulty.begin(), difficulty.end(), [t](double d) { return d < t; }) / n;
    j["auto_recall_at_k"] = auto_recall / n;
    j["recall_loss_share"] = lost / n;
    j["supplied_chunks_off"] = opt.k;
    j["supplied_chunks_on"] = rag::easy_context_chunks(c.adaptive, opt.k);
    stages["context"] = std::move(j);
  }

  if (engine->has_llm() && !opt.small_llm.empty()) {
    std::vector<double> large_ms, small_ms;
    size_t routed_small = 0;
    rag::AnswerConfig c = base;
    c.max_answer_tokens = opt.answer_tokens;
    EnergyReading e[2];
    for (int pass = 0; pass < 2; ++pass) {
      c.adaptive.route = pass == 0 ? "large" : "small";
      meter.start();
      for (const auto& [qid, text] : data.queries) {
        Timer t;
        (void)engine->answer(text, c);
        (pass == 0 ? large_ms : small_ms).push_back(t.ms());
      }
      e[pass] = meter.stop();
    }
    for (double d : difficulty) routed_small += d < base.adaptive.route_threshold;
    const double n = std::max<size_t>(1, difficulty.size());
    json j = {{"answer_ms_large", mean(large_ms)},
              {"answer_ms_small", mean(small_ms)},
              {"speedup_small", mean(small_ms) > 0 ? mean(large_ms) / mean(small_ms) : 0.0},
              {"route_threshold", base.adaptive.route_threshold},
              {"routed_small_share", routed_small / n},
              {"quality", "needs a QA file with answers: edgerag eval qa"}};
    if (e[0].valid() && e[1].valid()) j["joules_saved_per_small_answer"] = (e[0].joules - e[1].joules) / n;
    stages["route"] = std::move(j);
  } else {
    stages["route"] = {{"skipped", "needs -m and --small"}};
  }

  {
    rag::AnswerConfig c = base;
    c.adaptive.cache = true;
    c.max_answer_tokens = opt.answer_tokens;
    std::vector<double> miss, hit;
    for (const auto& [qid, text] : data.queries) {
      Timer t;
      const rag::Answer a = engine->answer(text, c);
      miss.push_back(t.ms());
      t.reset();
      const rag::Answer b = engine->answer(text, c);
      hit.push_back(t.ms());
      EDGERAG_CHECK(b.cached && b.text == a.text, "eval adaptive: a repeated query was not answered from the cache");
    }
    stages["cache"] = {{"answer_ms_miss", mean(miss)}, {"answer_ms_hit", mean(hit)}, {"entries", cache->size()},
                       {"bytes", cache->bytes()}};
  }

  json per_query = json::array();
  for (size_t i = 0; i < data.queries.size(); ++i) {
    json q = {{"id", data.queries[i].first},
              {"difficulty", difficulty[i]},
              {"form", rag::question_form_name(first[i].signals.form)},
              {"ndcg_at_10", off[i].ndcg},
              {"ms", off[i].ms}};
    if (!on.empty()) q["hyde"] = {{"ndcg_at_10", on[i].ndcg}, {"ms", on[i].ms}};
    per_query.push_back(std::move(q));
  }
  return {{"dataset", std::filesystem::path(opt.beir_dir).filename().string()},
          {"queries", data.queries.size()},
          {"corpus_documents", data.corpus.size()},
          {"k", opt.k},
          {"energy_method", e_off.method},
          {"thresholds",
           {{"hyde", base.adaptive.hyde_threshold},
            {"route", base.adaptive.route_threshold},
            {"context", base.adaptive.context_threshold}}},
          {"stages", std::move(stages)},
          {"per_query", std::move(per_query)}};
}

}  // namespace edgerag::eval
