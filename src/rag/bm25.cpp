#include "rag/bm25.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <unordered_set>

#include "rag/text_fold.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

const std::unordered_set<std::string>& stop_set() {
  static const std::unordered_set<std::string> s(english_stopwords().begin(), english_stopwords().end());
  return s;
}

fts5_api* get_fts5_api(sqlite3* db) {
  fts5_api* api = nullptr;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, nullptr) != SQLITE_OK)
    fail("this SQLite build has no FTS5: {}", sqlite3_errmsg(db));
  sqlite3_bind_pointer(st, 1, reinterpret_cast<void*>(&api), "fts5_api_ptr", nullptr);
  sqlite3_step(st);
  sqlite3_finalize(st);
  if (!api) fail("this SQLite build has no FTS5");
  return api;
}

// ---- "stopwords" tokenizer: wraps a parent tokenizer and drops stop words.
struct StopTokenizer {
  fts5_tokenizer parent{};
  Fts5Tokenizer* parent_instance = nullptr;
};

struct StopCallback {
  void* ctx;
  int (*token)(void*, int, const char*, int, int, int);
};

int stop_create(void* api_ptr, const char** args, int n_args, Fts5Tokenizer** out) {
  auto* api = static_cast<fts5_api*>(api_ptr);
  const char* parent_name = n_args > 0 ? args[0] : "fold";
  auto t = std::make_unique<StopTokenizer>();
  void* parent_ctx = nullptr;
  int rc = api->xFindTokenizer(api, parent_name, &parent_ctx, &t->parent);
  if (rc != SQLITE_OK) return rc;
  rc = t->parent.xCreate(parent_ctx, n_args > 0 ? args + 1 : nullptr, n_args > 0 ? n_args - 1 : 0,
                         &t->parent_instance);
  if (rc != SQLITE_OK) return rc;
  *out = reinterpret_cast<Fts5Tokenizer*>(t.release());
  return SQLITE_OK;
}

void stop_delete(Fts5Tokenizer* tok) {
  auto* t = reinterpret_cast<StopTokenizer*>(tok);
  t->parent.xDelete(t->parent_instance);
  delete t;
}

int stop_token(void* ctx, int flags, const char* token, int n, int start, int end) {
  auto* cb = static_cast<StopCallback*>(ctx);
  if (n <= 8 && stop_set().count(std::string(token, static_cast<size_t>(n)))) return SQLITE_OK;
  return cb->token(cb->ctx, flags, token, n, start, end);
}

int stop_tokenize(Fts5Tokenizer* tok, void* ctx, int flags, const char* text, int n,
                  int (*token)(void*, int, const char*, int, int, int)) {
  auto* t = reinterpret_cast<StopTokenizer*>(tok);
  StopCallback cb{ctx, token};
  return t->parent.xTokenize(t->parent_instance, &cb, flags, text, n, stop_token);
}

// ---- "fold" tokenizer: the words of rag/text_fold, the base of every chain.
int fold_create(void*, const char**, int n_args, Fts5Tokenizer** out) {
  if (n_args != 0) return SQLITE_ERROR;
  static int instance = 0;  // stateless
  *out = reinterpret_cast<Fts5Tokenizer*>(&instance);
  return SQLITE_OK;
}

void fold_delete(Fts5Tokenizer*) {}

int fold_tokenize(Fts5Tokenizer*, void* ctx, int, const char* text, int n,
                  int (*token)(void*, int, const char*, int, int, int)) {
  if (!text || n <= 0) return SQLITE_OK;
  int rc = SQLITE_OK;
  fold_tokens(std::string_view(text, static_cast<size_t>(n)), [&](std::string_view t, size_t begin, size_t end) {
    if (rc == SQLITE_OK)
      rc = token(ctx, 0, t.data(), static_cast<int>(t.size()), static_cast<int>(begin), static_cast<int>(end));
  });
  return rc;
}

// ---- lucene_bm25(fts, k1, b): idf = ln(1 + (N - n + 0.5) / (n + 0.5)),
// score = sum over query terms of idf * tf / (tf + k1 * (1 - b + b * dl / avgdl)),
// with tf and dl summed over all columns (one flat field).
struct QueryStats {
  std::vector<double> idf;
  double avgdl = 1;
};

int count_row(const Fts5ExtensionApi*, Fts5Context*, void* user) {
  ++*static_cast<int64_t*>(user);
  return SQLITE_OK;
}

QueryStats* query_stats(const Fts5ExtensionApi* api, Fts5Context* fts) {
  if (auto* s = static_cast<QueryStats*>(api->xGetAuxdata(fts, 0))) return s;
  auto s = std::make_unique<QueryStats>();
  sqlite3_int64 n_rows = 0, n_tokens = 0;
  if (api->xRowCount(fts, &n_rows) != SQLITE_OK || api->xColumnTotalSize(fts, -1, &n_tokens) != SQLITE_OK)
    return nullptr;
  s->avgdl = n_rows > 0 ? std::max(1.0, static_cast<double>(n_tokens) / static_cast<double>(n_rows)) : 1.0;
  int n_phrases = api->xPhraseCount(fts);
  for (int i = 0; i < n_phrases; ++i) {
    int64_t n_hit = 0;
    if (api->xQueryPhrase(fts, i, &n_hit, count_row) != SQLITE_OK) return nullptr;
    double n = static_cast<double>(n_hit), N = static_cast<double>(n_rows);
    s->idf.push_back(std::log(1.0 + (N - n + 0.5) / (n + 0.5)));
  }
  auto* raw = s.release();
  if (api->xSetAuxdata(fts, raw, [](void* p) { delete static_cast<QueryStats*>(p); }) != SQLITE_OK) return nullptr;
  return raw;
}

void lucene_bm25(const Fts5ExtensionApi* api, Fts5Context* fts, sqlite3_context* out, int n_args,
                 sqlite3_value** args) {
  double k1 = n_args > 0 ? sqlite3_value_double(args[0]) : 0.9;
  double b = n_args > 1 ? sqlite3_value_double(args[1]) : 0.4;
  QueryStats* s = query_stats(api, fts);
  if (!s) {
    sqlite3_result_error(out, "lucene_bm25: cannot read FTS statistics", -1);
    return;
  }
  int dl = 0, n_inst = 0;
  if (api->xColumnSize(fts, -1, &dl) != SQLITE_OK || api->xInstCount(fts, &n_inst) != SQLITE_OK) {
    sqlite3_result_error(out, "lucene_bm25: cannot read row statistics", -1);
    return;
  }
  std::vector<int> tf(s->idf.size(), 0);
  for (int i = 0; i < n_inst; ++i) {
    int phrase = 0, col = 0, off = 0;
    if (api->xInst(fts, i, &phrase, &col, &off) == SQLITE_OK && phrase >= 0 &&
        static_cast<size_t>(phrase) < tf.size())
      ++tf[static_cast<size_t>(phrase)];
  }
  double norm = k1 * (1.0 - b + b * dl / s->avgdl), score = 0;
  for (size_t i = 0; i < tf.size(); ++i)
    if (tf[i] > 0) score += s->idf[i] * tf[i] / (tf[i] + norm);
  sqlite3_result_double(out, score);
}

}  // namespace

const std::vector<std::string>& english_stopwords() {
  static const std::vector<std::string> words = {
      "a",  "an",  "and",  "are",   "as",   "at",   "be",    "but",   "by",   "for", "if",
      "in", "into", "is",  "it",    "no",   "not",  "of",    "on",    "or",   "such", "that",
      "the", "their", "then", "there", "these", "they", "this", "to", "was", "will", "with",
      "s"};
  return words;
}

void register_bm25(sqlite3* db) {
  fts5_api* api = get_fts5_api(db);
  static fts5_tokenizer stop_tok = {stop_create, stop_delete, stop_tokenize};
  static fts5_tokenizer fold_tok = {fold_create, fold_delete, fold_tokenize};
  if (api->xCreateTokenizer(api, "fold", nullptr, &fold_tok, nullptr) != SQLITE_OK ||
      api->xCreateTokenizer(api, "stopwords", api, &stop_tok, nullptr) != SQLITE_OK ||
      api->xCreateFunction(api, "lucene_bm25", nullptr, lucene_bm25, nullptr) != SQLITE_OK)
    fail("cannot register BM25 extensions: {}", sqlite3_errmsg(db));
}

std::string fts_tokenizer_spec(bool stemming, const std::string& stopwords) {
  std::string spec = stemming ? "porter " : "";
  if (stopwords == "english") spec += "stopwords ";
  else if (stopwords != "none") fail("unknown stop word list '{}' (english, none)", stopwords);
  return spec + "fold";
}

std::vector<std::string> query_terms(std::string_view query, const std::string& stopwords) {
  std::vector<std::string> terms;
  fold_tokens(query, [&](std::string_view t, size_t, size_t) {
    if (!(stopwords == "english" && stop_set().count(std::string(t)))) terms.emplace_back(t);
  });
  return terms;
}

constexpr int kMaxFtsToken = 32768;  // FTS5_MAX_TOKEN_SIZE: FTS5 cuts longer tokens to this

struct TokenizerChain::Impl {
  fts5_tokenizer api{};
  Fts5Tokenizer* instance = nullptr;
};

TokenizerChain::TokenizerChain(sqlite3* db, const std::string& spec) : impl_(new Impl) {
  std::vector<std::string> words;
  for (size_t i = 0; i < spec.size();) {
    size_t j = spec.find(' ', i);
    if (j == std::string::npos) j = spec.size();
    if (j > i) words.push_back(spec.substr(i, j - i));
    i = j + 1;
  }
  EDGERAG_CHECK(!words.empty(), "empty tokenizer spec");
  std::vector<const char*> args;
  for (size_t i = 1; i < words.size(); ++i) args.push_back(words[i].c_str());
  fts5_api* api = get_fts5_api(db);
  void* ctx = nullptr;
  if (api->xFindTokenizer(api, words[0].c_str(), &ctx, &impl_->api) != SQLITE_OK ||
      impl_->api.xCreate(ctx, args.data(), static_cast<int>(args.size()), &impl_->instance) != SQLITE_OK) {
    delete impl_;
    fail("cannot create the FTS5 tokenizer '{}'", spec);
  }
}

TokenizerChain::~TokenizerChain() {
  impl_->api.xDelete(impl_->instance);
  delete impl_;
}

void TokenizerChain::tokenize(std::string_view text, bool query,
                             const std::function<void(std::string_view)>& token) const {
  auto cb = [](void* ctx, int, const char* t, int n, int, int) {
    (*static_cast<const std::function<void(std::string_view)>*>(ctx))(
        std::string_view(t, static_cast<size_t>(std::min(n, kMaxFtsToken))));
    return SQLITE_OK;
  };
  int rc = impl_->api.xTokenize(impl_->instance, const_cast<std::function<void(std::string_view)>*>(&token),
                                query ? FTS5_TOKENIZE_QUERY : FTS5_TOKENIZE_DOCUMENT, text.data(),
                                static_cast<int>(text.size()), cb);
  if (rc != SQLITE_OK) fail("FTS5 tokenizer failed ({})", rc);
}

std::string match_expression(const std::vector<std::string>& terms) {
  std::string q;
  for (const auto& t : terms) {
    if (!q.empty()) q += " OR ";
    q += '"' + t + '"';  // terms hold only letters and digits: no quote to escape
  }
  return q;
}

}  // namespace edgerag::rag
