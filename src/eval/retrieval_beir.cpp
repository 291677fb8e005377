#include "eval/retrieval_beir.h"

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "format/json_file.h"
#include "util/error.h"
#include "util/timer.h"

namespace edgerag::eval {
namespace {

// BEIR records are flat objects: lines are bounded in size and shape before
// parsing, and an `_id` is a string or a number.
template <typename Fn>
void for_each_json_line(const std::string& path, const Fn& fn) {
  std::ifstream f(path);
  if (!f) fail("cannot open {}", path);
  std::string line;
  size_t n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (line.size() > (size_t{16} << 20) ||
        check_json_shape(line, {.depth = 8, .keys_per_object = 256}) != JsonShapeExcess::kNone)
      fail("{}:{}: record too large or too deeply nested", path, n);
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("_id") || !(j["_id"].is_string() || j["_id"].is_number()))
      fail("{}:{}: not a BEIR record", path, n);
    fn(j);
  }
}

std::string id_of(const nlohmann::json& j) {
  const auto& v = j["_id"];
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string str_field(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

BeirDataset load_beir(const std::string& dir, const std::string& split) {
  BeirDataset d;
  std::string qrels_path = dir + "/qrels/" + split + ".tsv";
  std::ifstream q(qrels_path);
  if (!q) fail("cannot open {} (a BEIR data set has corpus.jsonl, queries.jsonl and qrels/)", qrels_path);
  std::string line;
  size_t n = 0;
  while (std::getline(q, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (n == 1 && line.rfind("query-id", 0) == 0)) continue;
    std::istringstream ss(line);
    std::string qid, did;
    int rel = 0;
    if (!std::getline(ss, qid, '\t') || !std::getline(ss, did, '\t') || !(ss >> rel))
      fail("{}:{}: expected query-id<TAB>corpus-id<TAB>score", qrels_path, n);
    d.qrels[qid][did] = rel;
  }
  for_each_json_line(dir + "/corpus.jsonl", [&](const nlohmann::json& j) {
    d.corpus.push_back({id_of(j), str_field(j, "title"), str_field(j, "text"), "beir"});
  });
  std::set<std::string> with_text;
  for_each_json_line(dir + "/queries.jsonl", [&](const nlohmann::json& j) {
    std::string id = id_of(j), text = str_field(j, "text");
    if (!d.qrels.count(id) || text.find_first_not_of(" \t\r\n") == std::string::npos) return;
    if (with_text.insert(id).second) d.queries.emplace_back(std::move(id), std::move(text));
  });
  d.judged_without_text = d.qrels.size() - with_text.size();
  if (d.corpus.empty()) fail("{}/corpus.jsonl has no documents", dir);
  if (d.queries.empty()) fail("no query of {}/queries.jsonl with text is judged in {}", dir, qrels_path);
  return d;
}

std::vector<std::pair<std::string, std::string>> read_beir_queries(const std::string& path, size_t limit) {
  std::vector<std::pair<std::string, std::string>> out;
  for_each_json_line(path, [&](const nlohmann::json& j) {
    std::string text = str_field(j, "text");
    if ((limit == 0 || out.size() < limit) && text.find_first_not_of(" \t\r\n") != std::string::npos)
      out.emplace_back(id_of(j), std::move(text));
  });
  if (out.empty()) fail("{}: no query with text", path);
  return out;
}

BeirResult run_beir(rag::Index& index, const BeirDataset& data, const BeirRunOptions& opt) {
  rag::SearchOptions so = opt.search;
  so.filter.collections = {kBeirCollection};
  // Documents may span several chunks: fetch more chunks, keep each document's best.
  so.k = opt.depth * 2;
  so.bm25_depth = std::max(so.bm25_depth, so.k);
  so.dense_depth = std::max(so.dense_depth, so.k);
  Run run;
  Qrels ran;  // the judgements of the queries that run: the means are over these
  std::vector<double> latency;
  for (const auto& [qid, text] : data.queries) {
    ran[qid] = data.qrels.at(qid);
    Timer t;
    auto res = index.search(text, so);
    latency.push_back(t.ms());
    std::unordered_map<std::string, double> best;
    std::vector<std::string> order;
    for (size_t i = 0; i < res.hits.size(); ++i) {
      const std::string& doc = res.hits[i].provenance.path;
      if (opt.ignore_identical_ids && doc == qid) continue;
      // After a rerank of the head, scores of the head and tail are not comparable: use ranks.
      double score = res.reranked ? -static_cast<double>(i) : res.hits[i].score;
      auto [it, added] = best.emplace(doc, score);
      if (added) order.push_back(doc);
    }
    Scored scored;
    for (size_t i = 0; i < order.size() && i < opt.depth; ++i) scored.emplace_back(order[i], best[order[i]]);
    run[qid] = std::move(scored);
  }
  BeirResult r;
  r.metrics = evaluate_run(ran, run);
  r.skipped_queries = data.judged_without_text;
  r.latency_p50_ms = percentile(latency, 50);
  r.latency_p95_ms = percentile(latency, 95);
  double sum = 0;
  for (double l : latency) sum += l;
  r.latency_mean_ms = latency.empty() ? 0 : sum / static_cast<double>(latency.size());
  return r;
}

}  // namespace edgerag::eval
