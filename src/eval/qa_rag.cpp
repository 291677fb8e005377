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

namespace {

// Every question answered once with `cfg`; the mean answer time in ms.
std::vector<QaRagItem> answer_all(rag::AnswerEngine& engine, const std::vector<QaItem>& items,
                                  const rag::AnswerConfig& cfg, double* ms_per_question) {
  static const std::regex marker(R"(\[\d+\])");
  std::vector<QaRagItem> out;
  Timer t;
  for (const auto& it : items) {
    const rag::Answer a = engine.answer(it.question, cfg);
    const std::string text = std::regex_replace(a.text, marker, "");
    out.push_back({it.id, a.confidence.confidence, exact_match(text, it.answers), f1_score(text, it.answers),
                   answer_contains(text, it.answers)});
  }
  *ms_per_question = t.ms() / static_cast<double>(items.size());
  return out;
}

struct Means {
  double em = 0, f1 = 0, accuracy = 0;
};
Means means(const std::vector<QaRagItem>& r) {
  Means m;
  for (const auto& i : r) m.em += i.em, m.f1 += i.f1, m.accuracy += i.correct;
  const double n = static_cast<double>(r.size());
  return {m.em / n, m.f1 / n, m.accuracy / n};
}

}  // namespace

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
  EDGERAG_CHECK(opt.llm_small.empty() || !opt.llm.empty(), "eval qa: the small LLM (routing) needs -m");
  auto engine = rag::AnswerEngine::open({.index_dir = dir.path,
                                         .llm = opt.llm,
                                         .llm_small = opt.llm_small,
                                         .n_threads = opt.threads,
                                         .embedder = embedder});
  rag::AnswerConfig cfg;
  cfg.max_chunks = opt.max_chunks;
  cfg.max_prompt_tokens = opt.max_prompt_tokens;
  cfg.max_answer_tokens = opt.max_answer_tokens;
  cfg.adaptive.route = "large";  // every stage off: the baseline
  cfg.validate();
  QaRagResult res;
  double ms_off = 0;
  res.items = answer_all(*engine, items, cfg, &ms_off);
  res.n = static_cast<int>(items.size());
  const Means off = means(res.items);
  res.em = off.em, res.f1 = off.f1, res.accuracy = off.accuracy;
  std::vector<double> conf;
  std::vector<bool> correct;
  for (const auto& r : res.items) conf.push_back(r.confidence), correct.push_back(r.correct);
  res.calibration = reliability(conf, correct, opt.bins);
  if (opt.stages) {
    std::vector<std::pair<std::string, rag::AnswerConfig>> stages;
    if (!opt.llm.empty() && embedder) stages.emplace_back("hyde", cfg), stages.back().second.adaptive.hyde = rag::StageMode::On;
    if (!opt.llm_small.empty()) stages.emplace_back("route", cfg), stages.back().second.adaptive.route = "small";
    stages.emplace_back("context", cfg), stages.back().second.adaptive.context = rag::StageMode::On;
    for (const auto& [name, on_cfg] : stages) {
      QaStageResult s{.stage = name, .em_off = off.em, .f1_off = off.f1, .accuracy_off = off.accuracy,
                      .ms_per_question_off = ms_off};
      const std::vector<QaRagItem> on = answer_all(*engine, items, on_cfg, &s.ms_per_question_on);
      const Means m = means(on);
      s.em_on = m.em, s.f1_on = m.f1, s.accuracy_on = m.accuracy;
      for (size_t i = 0; i < on.size(); ++i) {
        s.helped_share += on[i].f1 > res.items[i].f1;
        s.hurt_share += on[i].f1 < res.items[i].f1;
      }
      s.helped_share /= res.n, s.hurt_share /= res.n;
      res.stages.push_back(s);
    }
  }
  res.seconds = timer.seconds();
  return res;
}

nlohmann::json to_json(const QaRagResult& r) {
  nlohmann::json bins = nlohmann::json::array(), items = nlohmann::json::array(), stages = nlohmann::json::array();
  for (const auto& b : r.calibration.bins)
    bins.push_back({{"lo", b.lo}, {"hi", b.hi}, {"n", b.n}, {"mean_confidence", b.mean_confidence}, {"accuracy", b.accuracy}});
  for (const auto& i : r.items)
    items.push_back({{"id", i.id}, {"confidence", i.confidence}, {"em", i.em}, {"f1", i.f1}, {"correct", i.correct}});
  for (const auto& s : r.stages)
    stages.push_back({{"stage", s.stage}, {"em_off", s.em_off}, {"em_on", s.em_on}, {"f1_off", s.f1_off},
                      {"f1_on", s.f1_on}, {"accuracy_off", s.accuracy_off}, {"accuracy_on", s.accuracy_on},
                      {"ms_per_question_off", s.ms_per_question_off}, {"ms_per_question_on", s.ms_per_question_on},
                      {"helped_share", s.helped_share}, {"hurt_share", s.hurt_share}});
  return {{"n", r.n},
          {"em", r.em},
          {"f1", r.f1},
          {"accuracy", r.accuracy},
          {"seconds", r.seconds},
          {"calibration",
           {{"ece", r.calibration.ece}, {"mean_confidence", r.calibration.mean_confidence},
            {"accuracy", r.calibration.accuracy}, {"bins", bins}}},
          {"items", items},
          {"stages", stages}};
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

std::string stages_text(const std::vector<QaStageResult>& stages) {
  std::string s = "stage     EM off  EM on  F1 off  F1 on  acc off  acc on  ms/q off  ms/q on  helped  hurt\n";
  for (const auto& x : stages)
    s += fmt::format("{:<8} {:>7.3f} {:>6.3f} {:>7.3f} {:>6.3f} {:>8.3f} {:>7.3f} {:>9.1f} {:>8.1f} {:>7.2f} {:>5.2f}\n",
                     x.stage, x.em_off, x.em_on, x.f1_off, x.f1_on, x.accuracy_off, x.accuracy_on,
                     x.ms_per_question_off, x.ms_per_question_on, x.helped_share, x.hurt_share);
  return s;
}

}  // namespace edgerag
