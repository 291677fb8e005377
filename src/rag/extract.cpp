#include "rag/extract.h"

#include <algorithm>
#include <map>
#include <set>

#include "rag/bm25.h"
#include "rag/chunker.h"
#include "rag/sqlite_db.h"
#include "util/error.h"

namespace edgerag::rag {

namespace {

struct Candidate {
  int chunk;
  size_t begin, end;
};

// BM25 of every text against the terms, from an in-memory FTS5 table with the
// index's tokenizer and rank function. Returns text index -> score for the
// texts matching at least one term.
std::map<size_t, double> lexical_scores(const std::vector<std::string>& texts, const std::vector<std::string>& terms) {
  std::map<size_t, double> scores;
  if (terms.empty() || texts.empty()) return scores;
  Db db(":memory:", true);
  register_bm25(db.handle());
  db.exec("CREATE VIRTUAL TABLE s USING fts5(t, tokenize='" + fts_tokenizer_spec(true, "english") + "')");
  db.exec("BEGIN");
  Stmt ins = db.prepare("INSERT INTO s(rowid, t) VALUES (?, ?)");
  for (size_t i = 0; i < texts.size(); ++i) {
    ins.bind(1, static_cast<int64_t>(i)).bind(2, std::string_view(texts[i]));
    ins.run();
    ins.reset();
  }
  db.exec("COMMIT");
  Stmt q = db.prepare("SELECT rowid, lucene_bm25(s) FROM s WHERE s MATCH ?");
  q.bind(1, std::string_view(match_expression(terms)));
  while (q.step()) scores[static_cast<size_t>(q.i64(0))] = q.f64(1);
  return scores;
}

// Words that say what kind of answer is wanted (or who asks), not what it is about.
bool is_question_word(const std::string& t) {
  static const std::set<std::string> words = {"what", "which", "who",   "whom", "whose", "why", "how",  "when",
                                              "where", "do",   "does",  "did",  "can",   "could", "should", "would",
                                              "i",    "me",    "my",    "we",   "our",   "you",  "your"};
  return words.count(t) != 0;
}

// Share of the smaller sentence's terms found in the other above which the two
// say the same thing (one may add a clause).
constexpr double kNearDuplicate = 0.8;

double overlap(const std::set<std::string>& a, const std::set<std::string>& b) {
  size_t common = 0;
  for (const auto& t : a) common += b.count(t);
  const size_t smaller = std::min(a.size(), b.size());
  return smaller == 0 ? 1.0 : static_cast<double>(common) / static_cast<double>(smaller);
}

}  // namespace

std::vector<std::string> question_terms(const std::string& question) {
  std::vector<std::string> all = query_terms(question, "english"), kept;
  for (auto& t : all)
    if (!is_question_word(t)) kept.push_back(t);
  return kept.empty() ? all : kept;  // "what does it do?" still matches something
}

std::vector<ScoredSentence> best_sentences(const std::vector<SearchHit>& chunks, const std::string& question,
                                           const ExtractOptions& options, Embedder* embedder) {
  std::vector<Candidate> cands;
  std::vector<std::string> texts;
  for (size_t c = 0; c < chunks.size(); ++c) {
    const std::string& text = chunks[c].text;
    for (auto [b, e] : split_sentences(text)) {
      std::string s = text.substr(b, e - b);
      if (static_cast<int>(query_terms(s, "none").size()) < options.min_words) continue;
      cands.push_back({static_cast<int>(c) + 1, b, e});
      texts.push_back(std::move(s));
    }
  }
  std::map<size_t, double> lexical = lexical_scores(texts, question_terms(question));

  // Final score per candidate: BM25, or RRF of the BM25 and cosine rankings.
  std::vector<std::pair<double, size_t>> ranked;
  if (embedder && !texts.empty()) {
    auto qv = embedder->embed({question}, true).at(0);
    auto sv = embedder->embed(texts, false);
    std::vector<std::pair<double, size_t>> by_cos, by_lex;
    for (size_t i = 0; i < sv.size(); ++i) {
      double dot = 0;
      for (size_t d = 0; d < qv.size() && d < sv[i].size(); ++d) dot += static_cast<double>(qv[d]) * sv[i][d];
      by_cos.push_back({dot, i});
    }
    for (const auto& [i, s] : lexical) by_lex.push_back({s, i});
    std::vector<double> fused(texts.size(), 0.0);
    for (auto* list : {&by_cos, &by_lex}) {
      std::stable_sort(list->begin(), list->end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      for (size_t r = 0; r < list->size(); ++r) fused[(*list)[r].second] += 1.0 / (options.rrf_k + r + 1);
    }
    for (size_t i = 0; i < fused.size(); ++i) ranked.push_back({fused[i], i});
  } else {
    for (const auto& [i, s] : lexical) ranked.push_back({s, i});
  }
  // Ties go to the earlier candidate: the better-ranked chunk, then text order.
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });

  // Overlapping chunks and pages that repeat themselves give the same sentence
  // more than once, sometimes reworded a little: skip near-duplicates.
  std::vector<ScoredSentence> out;
  std::vector<std::set<std::string>> chosen;
  for (const auto& [score, i] : ranked) {
    if (static_cast<int>(out.size()) >= options.max_sentences) break;
    auto words = query_terms(texts[i], "english");
    std::set<std::string> terms(words.begin(), words.end());
    if (std::any_of(chosen.begin(), chosen.end(), [&](const auto& c) { return overlap(c, terms) >= kNearDuplicate; }))
      continue;
    chosen.push_back(std::move(terms));
    out.push_back({cands[i].chunk, cands[i].begin, cands[i].end, texts[i], score});
  }
  return out;
}

std::string extractive_answer_text(const std::vector<ScoredSentence>& sentences) {
  if (sentences.empty()) return "No passage in the index supports an answer to this question.";
  std::string out;
  for (const auto& s : sentences) {
    if (!out.empty()) out += ' ';
    out += s.text + " [" + std::to_string(s.chunk) + "]";
  }
  return out;
}

}  // namespace edgerag::rag
