#include "eval/qa_rag.h"

#include <regex>
#include <set>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "eval/temp_dir.h"
#include "rag/answer.h"
#include "rag/embedder.h"
#include "rag/index.h"
#include "util/error.h"
#include "util/timer.h"

namespace edgerag {

bool answer_contains(std::string_view answer, const std::vector<std::string>& gold) {
  const std::string a = " " + squad_normalize(answer) + " ";
  for (const auto& g : gold) {
    const std::string n = squad_normalize(g);
    if (!n.empty() && a.find(" " + n + " ") != std::string::npos) return true;
  }
  return false;
}

QaRagResult eval_qa_rag(const std::vector<QaItem>& items, const QaRagOptions& opt) {
  Timer timer;
  EDGERAG_CHECK(!items.empty(), "eval qa: no questions");
  // Every distinct passage once: gold passages and distractors.
  std::vector<rag::TextDocument> docs;
  std::set<std::string> seen;
  auto add = [&](const std::string& text) {
    if (!text.empty() && seen.insert(text).second)
      docs.push_back({.key = fmt::format("passage-{}", docs.size()), .title = "", .text = text});
  };
  for (const auto& it : items) {
    add(it.gold_passage);
    for (const auto& d : it.distractors) add(d);
  }
  EDGERAG_CHECK(!docs.empty(), "eval qa --mode rag: the file has no passages to index (NQ-open has none)");
  TempDir dir("edgerag-qa");
  std::shared_ptr<rag::Embedder> embedder = opt.embed.empty() ? nullptr : rag::load_embedder(opt.embed);
  {
    auto idx = rag::Index::open(dir.path, {.writable = true});
    if (embedder) idx->set_embedder(embedder);
    idx->ingest_texts(docs, rag::IngestOptions{});
  }
  auto engine = rag::AnswerEngine::open(
      {.index_dir = dir.path, .llm = opt.llm, .n_threads = opt.threads, .embedder = embedder});
  rag::AnswerConfig cfg;
  cfg.max_chunks = opt.max_chunks;
  cfg.max_prompt_tokens = opt.max_prompt_tokens;
  cfg.max_answer_tokens = opt.max_answer_tokens;
  cfg.validate();
  static const std::regex marker(R"(\[\d+\])");
  QaRagResult res;
  std::vector<double> conf;
  std::vector<bool> correct;
  for (const auto& it : items) {
    const rag::Answer a = engine->answer(it.question, cfg);
    const std::string text = std::regex_replace(a.text, marker, "");
    QaRagItem r{it.id, a.confidence.confidence, exact_match(text, it.answers), f1_score(text, it.answers),
                answer_contains(text, it.answers)};
    res.em += r.em, res.f1 += r.f1, res.accuracy += r.correct;
    conf.push_back(r.confidence);
    correct.push_back(r.correct);
    res.items.push_back(std::move(r));
  }
  res.n = static_cast<int>(items.size());
  res.em /= res.n, res.f1 /= res.n, res.accuracy /= res.n;
  res.calibration = reliability(conf, correct, opt.bins);
  res.seconds = timer.seconds();
  return res;
}

nlohmann::json to_json(const QaRagResult& r) {
  nlohmann::json bins = nlohmann::json::array(), items = nlohmann::json::array();
  for (const auto& b : r.calibration.bins)
    bins.push_back({{"lo", b.lo}, {"hi", b.hi}, {"n", b.n}, {"mean_confidence", b.mean_confidence}, {"accuracy", b.accuracy}});
  for (const auto& i : r.items)
    items.push_back({{"id", i.id}, {"confidence", i.confidence}, {"em", i.em}, {"f1", i.f1}, {"correct", i.correct}});
  return {{"n", r.n},
          {"em", r.em},
          {"f1", r.f1},
          {"accuracy", r.accuracy},
          {"seconds", r.seconds},
          {"calibration",
           {{"ece", r.calibration.ece}, {"mean_confidence", r.calibration.mean_confidence},
            {"accuracy", r.calibration.accuracy}, {"bins", bins}}},
          {"items", items}};
}

std::string reliability_text(const Reliability& r) {
  std::string s = "confidence    answers  mean confidence  accuracy\n";
  for (const auto& b : r.bins)
    s += b.n ? fmt::format("[{:.2f}, {:.2f}{} {:>7}  {:>15.3f}  {:>8.3f}\n", b.lo, b.hi, b.hi >= 1 ? "]" : ")", b.n,
                           b.mean_confidence, b.accuracy)
             : fmt::format("[{:.2f}, {:.2f}{} {:>7}  {:>15}  {:>8}\n", b.lo, b.hi, b.hi >= 1 ? "]" : ")", 0, "-", "-");
  s += fmt::format("ECE {:.4f} over {} answers (mean confidence {:.3f}, accuracy {:.3f})\n", r.ece, r.n,
                   r.mean_confidence, r.accuracy);
  return s;
}

}  // namespace edgerag
