// Index::search: BM25 and dense retrieval, fusion, neighbour expansion and
// cross-encoder reranking, each stage timed.
#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "rag/bm25.h"
#include "rag/fusion.h"
#include "rag/index_impl.h"
#include "util/deadline.h"
#include "util/error.h"
#include "util/timer.h"

namespace edgerag::rag {
namespace {

bool has_filter(const SearchFilter& f) {
  return !f.path_prefix.empty() || !f.file_types.empty() || !f.collections.empty();
}

// SQL condition on documents `d` for a filter; its parameters are numbered
// from `first` in the order they are appended to `params`.
std::string filter_sql(const SearchFilter& f, int first, std::vector<std::string>& params) {
  std::string sql = "1";
  auto param = [&](const std::string& v) {
    params.push_back(v);
    return fmt::format("?{}", first + static_cast<int>(params.size()) - 1);
  };
  if (!f.path_prefix.empty()) {
    std::string p = param(f.path_prefix);
    sql += fmt::format(" AND substr(d.path, 1, length({0})) = {0}", p);
  }
  auto in_list = [&](const char* column, const std::vector<std::string>& values) {
    if (values.empty()) return;
    sql += fmt::format(" AND {} IN (", column);
    for (size_t i = 0; i < values.size(); ++i) sql += (i ? "," : "") + param(values[i]);
    sql += ")";
  };
  in_list("d.file_type", f.file_types);
  in_list("d.collection", f.collections);
  return sql;
}

// (1 - w) * a + w * b, L2-normalized (HyDE's passage and question embeddings).
std::vector<float> mix_vectors(const std::vector<float>& a, const std::vector<float>& b, double w) {
  std::vector<float> v(a.size());
  double n = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    v[i] = static_cast<float>((1 - w) * a[i] + w * b[i]);
    n += static_cast<double>(v[i]) * v[i];
  }
  if (n > 0)
    for (float& x : v) x = static_cast<float>(x / std::sqrt(n));
  return v;
}

}  // namespace

SearchMode parse_search_mode(const std::string& s) {
  if (s == "bm25") return SearchMode::Bm25;
  if (s == "dense") return SearchMode::Dense;
  if (s == "hybrid") return SearchMode::Hybrid;
  fail("unknown search mode '{}' (bm25, dense, hybrid)", s);
}

const char* search_mode_name(SearchMode m) {
  switch (m) {
    case SearchMode::Bm25: return "bm25";
    case SearchMode::Dense: return "dense";
    case SearchMode::Hybrid: return "hybrid";
  }
  return "?";
}

std::vector<std::pair<int64_t, double>> IndexImpl::bm25(const std::string& query, size_t depth,
                                                        const SearchFilter& f, bool exhaustive) {
  std::vector<std::pair<int64_t, double>> out;
  auto terms = query_terms(query, stopwords_);
  if (!exhaustive) {
    ReadSnapshot snapshot(*db_);
    if (auto top = postings_->search(terms, depth, has_filter(f) ? &allowed_chunks(f) : nullptr))
      return std::move(*top);
  }
  std::string match = match_expression(terms);
  if (match.empty() || depth == 0) return out;
  complete_fts();
  std::vector<std::string> params;
  // Filters apply after matching: constraining the FTS table's rowid would make
  // FTS5 re-run the query once per allowed row.
  std::string sql =
      "WITH m AS MATERIALIZED (SELECT rowid AS id, lucene_bm25(chunks_fts, ?1, ?2) AS s FROM chunks_fts "
      "WHERE chunks_fts MATCH ?3) SELECT m.id, m.s FROM m";
  if (has_filter(f))
    sql += " JOIN chunks c ON c.id = m.id JOIN documents d ON d.id = c.doc_id WHERE " + filter_sql(f, 5, params);
  auto st = db_->prepare(sql + " ORDER BY m.s DESC, m.id LIMIT ?4");
  st.bind(1, opt_.bm25_k1).bind(2, opt_.bm25_b).bind(3, match).bind(4, static_cast<int64_t>(depth));
  for (size_t i = 0; i < params.size(); ++i) st.bind(static_cast<int>(5 + i), params[i]);
  while (st.step()) out.emplace_back(st.i64(0), st.f64(1));
  return out;
}

std::vector<int64_t> IndexImpl::filtered_chunks(const SearchFilter& f) {
  std::vector<std::string> params;
  auto st = db_->prepare("SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE " +
                         filter_sql(f, 1, params));
  for (size_t i = 0; i < params.size(); ++i) st.bind(static_cast<int>(1 + i), params[i]);
  std::vector<int64_t> ids;
  while (st.step()) ids.push_back(st.i64(0));
  return ids;
}

const std::vector<int64_t>& IndexImpl::allowed_chunks(const SearchFilter& f) {
  std::string key = f.path_prefix;
  for (const auto* list : {&f.file_types, &f.collections}) {
    key += fmt::format("\x1f{}", list->size());
    for (const auto& v : *list) key += "\x1f" + v;
  }
  int64_t generation = postings_->generation();
  if (generation < 0 || generation != allowed_.generation || key != allowed_.key) {
    allowed_.ids = filtered_chunks(f);
    std::sort(allowed_.ids.begin(), allowed_.ids.end());
    allowed_.key = std::move(key);
    allowed_.generation = generation;
  }
  return allowed_.ids;
}

std::vector<std::pair<int64_t, double>> IndexImpl::dense(const std::vector<float>& q, size_t depth,
                                                         const SearchOptions& o) {
  std::vector<std::pair<int64_t, double>> out;
  VectorIndex* v = vectors();
  if (!v) return out;
  std::vector<int64_t> only;
  const bool filtered = has_filter(o.filter);
  if (filtered) only = allowed_chunks(o.filter);
  for (auto [id, s] : v->search(q.data(), depth, o.ef_search, filtered ? &only : nullptr, o.rescore_depth))
    out.emplace_back(id, s);
  return out;
}

std::optional<SearchHit> IndexImpl::chunk(int64_t chunk_id) {
  auto st = db_->prepare(
      "SELECT c.text, c.headings, c.page, c.row_begin, c.row_end, c.byte_begin, c.byte_end, c.seq, "
      "d.id, d.collection, d.path, d.file_type, d.title FROM chunks c JOIN documents d ON d.id = c.doc_id "
      "WHERE c.id = ?1");
  st.bind(1, chunk_id);
  if (!st.step()) return std::nullopt;
  SearchHit h;
  h.chunk_id = chunk_id;
  h.text = st.text(0);
  Provenance& p = h.provenance;
  p.headings = st.text(1);
  p.page = static_cast<int>(st.i64(2));
  p.row_begin = st.i64(3);
  p.row_end = st.i64(4);
  p.byte_begin = st.i64(5);
  p.byte_end = st.i64(6);
  p.chunk_index = static_cast<int>(st.i64(7));
  p.doc_id = st.i64(8);
  p.collection = st.text(9);
  p.path = st.text(10);
  p.file_type = st.text(11);
  p.title = st.text(12);
  return h;
}

std::vector<int64_t> IndexImpl::chunk_ids(const std::string& collection) {
  auto st = db_->prepare(
      "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE d.collection = ?1 ORDER BY d.id, c.seq");
  st.bind(1, collection);
  std::vector<int64_t> ids;
  while (st.step()) ids.push_back(st.i64(0));
  return ids;
}

void IndexImpl::expand_neighbors(std::vector<SearchHit>& hits, size_t n) {
  std::unordered_set<int64_t> present;
  for (const auto& h : hits) present.insert(h.chunk_id);
  std::vector<SearchHit> out;
  auto st = db_->prepare("SELECT id FROM chunks WHERE doc_id = ?1 AND seq BETWEEN ?2 AND ?3 ORDER BY seq");
  for (auto& h : hits) {
    const int64_t seq = h.provenance.chunk_index;
    st.bind(1, h.provenance.doc_id).bind(2, seq - static_cast<int64_t>(n)).bind(3, seq + static_cast<int64_t>(n));
    std::vector<int64_t> ids;
    while (st.step()) ids.push_back(st.i64(0));
    st.reset();
    // Neighbours go around their hit in document order.
    std::vector<SearchHit> before, after;
    for (int64_t id : ids) {
      if (id == h.chunk_id || !present.insert(id).second) continue;
      auto nb = chunk(id);
      if (!nb) continue;
      nb->neighbor = true;
      nb->score = h.score;
      (nb->provenance.chunk_index < seq ? before : after).push_back(std::move(*nb));
    }
    for (auto& b : before) out.push_back(std::move(b));
    out.push_back(std::move(h));
    for (auto& a : after) out.push_back(std::move(a));
  }
  hits = std::move(out);
}

SearchResponse IndexImpl::search(const std::string& query, const SearchOptions& o) {
  std::lock_guard lock(mu_);
  Timer total;
  SearchResponse res;
  const bool use_bm25 = o.mode != SearchMode::Dense, use_dense = o.mode != SearchMode::Bm25;
  if (use_dense && !embedder_)
    fail("{} search needs an embedding model{}", search_mode_name(o.mode),
         meta("embedder").empty() ? " (and an index built with one)" : " (the index used " + meta("embedder") + ")");
  if (use_dense && !vectors() && meta("embedder").empty())
    fail("index {} has no dense vectors: ingest with an embedding model first", dir_);

  // Seen between the stages below and inside the long ones: every encoder
  // pass and layer of the query embedding and of the rerank.
  DeadlineScope scope(o.deadline);
  std::vector<std::pair<int64_t, double>> lexical, semantic, hyde;
  if (use_bm25) {
    if (o.bm25_exhaustive) complete_fts();  // before the stage's timer: ingest's deferred work
    Timer t;
    lexical = bm25(query, o.mode == SearchMode::Bm25 ? std::max(o.k, o.bm25_depth) : o.bm25_depth, o.filter,
                   o.bm25_exhaustive);
    res.timings.bm25_ms = t.ms();
  }
  if (use_dense) {
    check_deadline("search (bm25)");
    Timer t;
    if (o.query_vector.empty()) {
      auto q = embedder_->embed({query}, true);
      EDGERAG_CHECK(q.size() == 1, "embedder returned no query vector");
      res.query_vector = std::move(q[0]);
    } else {
      EDGERAG_CHECK(o.query_vector.size() == static_cast<size_t>(embedder_->dim()),
                    "search: the query vector has {} dimensions, the embedder {}", o.query_vector.size(),
                    embedder_->dim());
      res.query_vector = o.query_vector;
    }
    res.timings.embed_ms = t.ms();
    t.reset();
    const size_t depth = o.mode == SearchMode::Dense ? std::max(o.k, o.dense_depth) : o.dense_depth;
    if (!o.hyde_vector.empty()) {
      EDGERAG_CHECK(o.hyde_vector.size() == res.query_vector.size(), "search: the HyDE vector has {} dimensions, not {}",
                    o.hyde_vector.size(), res.query_vector.size());
      hyde = dense(mix_vectors(o.hyde_vector, res.query_vector, o.hyde_question_weight), depth, o);
    }
    if (o.mode == SearchMode::Hybrid || o.hyde_vector.empty()) semantic = dense(res.query_vector, depth, o);
    res.timings.dense_ms = t.ms();
  }

  // Candidates in ranking order with their per-stage scores.
  Timer t;
  std::unordered_map<int64_t, StageScores> stage;
  std::vector<int64_t> lex_ids, sem_ids;
  for (size_t i = 0; i < lexical.size(); ++i) {
    stage[lexical[i].first].bm25 = lexical[i].second;
    stage[lexical[i].first].bm25_rank = i + 1;
    lex_ids.push_back(lexical[i].first);
  }
  for (size_t i = 0; i < semantic.size(); ++i) {
    stage[semantic[i].first].dense = semantic[i].second;
    stage[semantic[i].first].dense_rank = i + 1;
    sem_ids.push_back(semantic[i].first);
  }
  std::vector<int64_t> hyde_ids;
  for (size_t i = 0; i < hyde.size(); ++i) {
    stage[hyde[i].first].hyde = hyde[i].second;
    stage[hyde[i].first].hyde_rank = i + 1;
    hyde_ids.push_back(hyde[i].first);
  }
  std::vector<std::pair<int64_t, double>> ranked;
  if (o.mode == SearchMode::Hybrid) {
    ranked = hyde.empty() ? reciprocal_rank_fusion({lex_ids, sem_ids}, o.rrf_k)
                          : reciprocal_rank_fusion({lex_ids, sem_ids, hyde_ids}, o.rrf_k);
    for (auto& [id, s] : ranked) stage[id].fused = s;
    res.agreement = top_overlap(lex_ids, sem_ids, std::min<size_t>(o.k, 10));
  } else {
    ranked = use_bm25 ? lexical : hyde.empty() ? semantic : hyde;
  }
  res.timings.fuse_ms = t.ms();

  check_deadline("search (retrieval)");
  // Cross-encoder rerank of the head, unless both retrievers already agree.
  if (reranker_ && o.rerank && o.rerank_top > 0 && !ranked.empty()) {
    const double agreement = std::max(0.0, res.agreement);
    if (agreement >= o.rerank_skip_agreement) {
      res.rerank_note = fmt::format("skipped: BM25 and dense top results agree ({:.2f} >= {:.2f})", agreement,
                                    o.rerank_skip_agreement);
    } else {
      t.reset();
      size_t n = std::min(o.rerank_top, ranked.size());
      std::vector<std::string> passages;
      for (size_t i = 0; i < n; ++i) {
        auto c = chunk(ranked[i].first);
        passages.push_back(c ? passage_text(c->provenance.headings, c->text) : std::string());
      }
      const std::vector<float> scores = reranker_->score(query, passages);
      EDGERAG_CHECK(scores.size() == n, "reranker returned {} scores for {} passages", scores.size(), n);
      for (size_t i = 0; i < n; ++i) {
        ranked[i].second = scores[i];
        stage[ranked[i].first].rerank = scores[i];
      }
      std::stable_sort(ranked.begin(), ranked.begin() + static_cast<ptrdiff_t>(n),
                       [](const auto& a, const auto& b) { return a.second > b.second; });
      res.reranked = true;
      res.timings.rerank_ms = t.ms();
    }
  }

  for (size_t i = 0; i < ranked.size() && res.hits.size() < o.k; ++i) {
    auto h = chunk(ranked[i].first);
    if (!h) continue;  // removed by a concurrent writer
    h->score = ranked[i].second;
    h->scores = stage[ranked[i].first];
    res.hits.push_back(std::move(*h));
  }
  if (o.expand_neighbors > 0) {
    t.reset();
    expand_neighbors(res.hits, o.expand_neighbors);
    res.timings.expand_ms = t.ms();
  }
  res.timings.total_ms = total.ms();
  return res;
}

}  // namespace edgerag::rag
