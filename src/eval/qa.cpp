#include "eval/qa.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "eval/attention_metrics.h"
#include "eval/correlation.h"
#include "runtime/generator.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"
#include "util/timer.h"

namespace edgerag {
namespace {

std::vector<std::string> words(std::string_view s) {
  std::vector<std::string> out;
  std::istringstream ss{std::string(squad_normalize(s))};
  for (std::string w; ss >> w;) out.push_back(w);
  return out;
}

void add_answers(const nlohmann::json& a, std::vector<std::string>& out) {
  if (a.is_string()) out.push_back(a.get<std::string>());
  else if (a.is_array())
    for (const auto& x : a) add_answers(x, out);
}

// Over the padded lengths that answered something.
Degradation degradation(const std::vector<QaScore>& s, double QaScore::*field) {
  std::vector<std::pair<int, double>> points;
  for (const auto& x : s)
    if (x.n > 0) points.emplace_back(x.context_tokens, x.*field);
  return context_degradation(points);
}

}  // namespace

std::string squad_normalize(std::string_view s) {
  std::string t;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::ispunct(u)) continue;
    t += static_cast<char>(std::tolower(u));
  }
  std::istringstream ss(t);
  std::string out;
  for (std::string w; ss >> w;) {
    if (w == "a" || w == "an" || w == "the") continue;
    out += (out.empty() ? "" : " ") + w;
  }
  return out;
}

double exact_match(std::string_view prediction, const std::vector<std::string>& answers) {
  const std::string p = squad_normalize(prediction);
  for (const auto& a : answers)
    if (squad_normalize(a) == p) return 1;
  return 0;
}

double f1_score(std::string_view prediction, const std::vector<std::string>& answers) {
  const auto pw = words(prediction);
  double best = 0;
  for (const auto& a : answers) {
    const auto aw = words(a);
    if (pw.empty() || aw.empty()) {
      best = std::max(best, pw == aw ? 1.0 : 0.0);
      continue;
    }
    std::map<std::string, int> count;
    for (const auto& w : aw) ++count[w];
    int common = 0;
    for (const auto& w : pw)
      if (count[w]-- > 0) ++common;
    if (common == 0) continue;
    const double prec = static_cast<double>(common) / pw.size(), rec = static_cast<double>(common) / aw.size();
    best = std::max(best, 2 * prec * rec / (prec + rec));
  }
  return best;
}

std::vector<QaItem> load_qa(const std::string& path, size_t max_items) {
  std::ifstream f(path, std::ios::binary);
  EDGERAG_CHECK(f, "cannot read QA file {}", path);
  std::vector<QaItem> items;
  const int first = f.peek();
  try {
    if (first == '{' && path.size() > 5 && path.substr(path.size() - 5) == ".json" && path.find("rgb") == std::string::npos) {
      const auto j = nlohmann::json::parse(f);
      for (const auto& article : j.at("data")) {
        std::vector<std::string> paragraphs;
        for (const auto& p : article.at("paragraphs")) paragraphs.push_back(p.at("context").get<std::string>());
        for (size_t pi = 0; pi < paragraphs.size(); ++pi)
          for (const auto& q : article.at("paragraphs")[pi].at("qas")) {
            if (q.value("is_impossible", false)) continue;
            QaItem it;
            it.id = q.at("id").get<std::string>();
            it.question = q.at("question").get<std::string>();
            for (const auto& a : q.at("answers")) it.answers.push_back(a.at("text").get<std::string>());
            if (it.answers.empty()) continue;
            it.gold_passage = paragraphs[pi];
            for (size_t k = 0; k < paragraphs.size(); ++k)
              if (k != pi) it.distractors.push_back(paragraphs[k]);
            items.push_back(std::move(it));
            if (max_items && items.size() >= max_items) return items;
          }
      }
      return items;
    }
    std::string line;
    for (size_t ln = 1; std::getline(f, line); ++ln) {
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const auto j = nlohmann::json::parse(line);
      QaItem it;
      it.id = j.contains("id") ? j["id"].dump() : std::to_string(ln);
      it.question = j.contains("query") ? j["query"].get<std::string>() : j.at("question").get<std::string>();
      add_answers(j.at("answer"), it.answers);
      if (j.contains("positive") && !j["positive"].empty()) it.gold_passage = j["positive"][0].get<std::string>();
      if (j.contains("negative"))
        for (const auto& n : j["negative"]) it.distractors.push_back(n.get<std::string>());
      EDGERAG_CHECK(!it.answers.empty(), "{}:{}: no answer", path, ln);
      items.push_back(std::move(it));
      if (max_items && items.size() >= max_items) break;
    }
  } catch (const nlohmann::json::exception& e) {
    fail("{}: not SQuAD JSON / NQ-open / RGB JSONL: {}", path, e.what());
  }
  return items;
}

QaResult eval_qa(const Model& model, const std::vector<QaItem>& items, const QaOptions& opt, ThreadPool* pool) {
  EDGERAG_CHECK(opt.mode == "closed" || opt.mode == "gold", "unknown QA mode '{}' (closed, gold)", opt.mode);
  Timer timer;
  auto tok = Tokenizer::from_gguf(model.gguf());
  Generator gen(model, *tok, pool, 0, opt.kv_type);
  GenerationParams gp;
  gp.max_tokens = opt.max_new_tokens;
  gp.sampling.temperature = 0;  // greedy
  gp.stop = {"\n"};
  QaResult res;
  res.mode = opt.mode;
  std::vector<int> lengths = opt.context_tokens;
  if (lengths.empty() || opt.mode == "closed") lengths = {0};
  auto n_tokens = [&](const std::string& s) { return static_cast<int>(tok->encode(s, false).size()); };
  for (int target : lengths) {
    QaScore sc;
    sc.context_tokens = target;
    std::vector<double> shares, drifts, f1s, ranks;  // per answered item, with attention
    for (size_t i = 0; i < items.size(); ++i) {
      const QaItem& it = items[i];
      std::vector<std::string> passages;
      size_t gold = 0;
      if (opt.mode == "gold") {
        int used = n_tokens(it.gold_passage);
        // Distractors: the item's own, then other items' gold passages.
        std::vector<const std::string*> pool_p;
        for (const auto& d : it.distractors) pool_p.push_back(&d);
        for (size_t k = 1; k < items.size(); ++k) pool_p.push_back(&items[(i + k) % items.size()].gold_passage);
        for (const std::string* d : pool_p) {
          if (target <= 0) break;
          const int n = n_tokens(*d) + 2;
          if (d->empty() || used + n > target) continue;
          passages.push_back(*d);
          used += n;
        }
        gold = std::min(static_cast<size_t>(std::lround(opt.gold_position * passages.size())), passages.size());
        passages.insert(passages.begin() + gold, it.gold_passage);
      }
      // Token spans of the passages: lengths of the growing prompt prefix (within a token of exact).
      std::string prompt = passages.empty() ? "" : "Context:\n";
      std::vector<TokenSpan> spans;
      for (const auto& p : passages) {
        TokenSpan sp;
        if (opt.attention) sp.begin = static_cast<int32_t>(tok->encode(prompt, true).size());
        prompt += p + "\n\n";
        if (opt.attention) sp.end = static_cast<int32_t>(tok->encode(prompt, true).size());
        spans.push_back(sp);
      }
      prompt += "Question: " + it.question + "\nAnswer:";
      const auto ids = tok->encode(prompt, true);
      if (static_cast<int>(ids.size()) + opt.max_new_tokens > gen.n_ctx()) {
        ++sc.skipped;
        continue;
      }
      const bool traced = opt.attention && !spans.empty();
      if (traced) {
        const AttentionTrace t = trace_attention(model, ids, spans, gold, std::min(opt.max_new_tokens, 8), pool);
        sc.gold_attention_share += t.at_prompt_end.gold_share;
        sc.gold_rank += t.at_prompt_end.gold_rank;
        sc.attention_drift += t.drift;
        sc.gold_precision_at_1 += t.at_prompt_end.gold_rank == 1;
        sc.attention_gini += t.at_prompt_end.gini;
        ranks.push_back(t.at_prompt_end.gold_rank);
        shares.push_back(t.at_prompt_end.gold_share);
        drifts.push_back(t.drift);
      }
      const auto out = gen.generate_ids(ids, gp);
      const double em = exact_match(out.text, it.answers), f1 = f1_score(out.text, it.answers);
      sc.em += em;
      sc.f1 += f1;
      ++sc.n;
      if (traced) {
        f1s.push_back(f1);
        (em > 0 ? sc.drift_correct : sc.drift_wrong) += drifts.back();
        sc.n_correct += em > 0;
      }
    }
    if (sc.n) {
      for (double* v : {&sc.em, &sc.f1, &sc.gold_attention_share, &sc.gold_rank, &sc.attention_drift,
                        &sc.gold_precision_at_1, &sc.attention_gini})
        *v /= sc.n;
    }
    if (!ranks.empty()) {
      std::sort(ranks.begin(), ranks.end());
      const size_t h = ranks.size() / 2;
      sc.gold_rank_median = ranks.size() % 2 ? ranks[h] : (ranks[h - 1] + ranks[h]) / 2;
    }
    if (!f1s.empty()) {
      sc.share_f1_pearson = pearson(shares, f1s), sc.share_f1_spearman = spearman(shares, f1s);
      sc.drift_f1_pearson = pearson(drifts, f1s), sc.drift_f1_spearman = spearman(drifts, f1s);
      const int n_wrong = static_cast<int>(f1s.size()) - sc.n_correct;
      if (sc.n_correct) sc.drift_correct /= sc.n_correct;
      if (n_wrong) sc.drift_wrong /= n_wrong;
    }
    res.scores.push_back(sc);
  }
  res.em_degradation = degradation(res.scores, &QaScore::em);
  res.f1_degradation = degradation(res.scores, &QaScore::f1);
  res.em_slope_per_1k = res.em_degradation.slope_per_1k;
  res.f1_slope_per_1k = res.f1_degradation.slope_per_1k;
  res.seconds = timer.seconds();
  return res;
}

}  // namespace edgerag
