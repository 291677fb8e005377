// BM25 on SQLite FTS5: a stop-word filtering tokenizer stage, a Lucene-style
// BM25 rank function (title and text scored as one field, as Anserini's
// "flat" BEIR runs do), and the OR-query built from free text.
#pragma once
#include <sqlite3.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace edgerag::rag {

// Registers the "fold" tokenizer (rag/text_fold.h: words, NFKC, case folding,
// diacritics, CJK bigrams; the base of every chain), the "stopwords" tokenizer
// and the lucene_bm25(fts, k1, b) rank function on a connection (needed by
// every connection that reads or writes).
void register_bm25(sqlite3* db);

// The FTS5 `tokenize=` value for these settings, e.g. "porter stopwords fold".
std::string fts_tokenizer_spec(bool stemming, const std::string& stopwords);

// Lucene's English stop words (EnglishAnalyzer), plus "s" for possessives.
const std::vector<std::string>& english_stopwords();

// Query terms as the "fold" tokenizer splits and folds them, stop words
// removed; duplicates are kept since they weigh a term more, as in Lucene.
std::vector<std::string> query_terms(std::string_view query, const std::string& stopwords);

// The FTS5 tokenizer chain of a `tokenize=` spec, driven directly: the tokens
// (already truncated as FTS5 truncates them) FTS5 indexes for a column, or for
// a quoted query phrase. Lets an index outside FTS5 see exactly its tokens.
class TokenizerChain {
 public:
  TokenizerChain(sqlite3* db, const std::string& spec);
  ~TokenizerChain();
  TokenizerChain(const TokenizerChain&) = delete;
  TokenizerChain& operator=(const TokenizerChain&) = delete;
  void tokenize(std::string_view text, bool query, const std::function<void(std::string_view)>& token) const;

 private:
  struct Impl;
  Impl* impl_;
};

// An FTS5 MATCH expression OR-ing the quoted terms; "" when none.
std::string match_expression(const std::vector<std::string>& terms);

}  // namespace edgerag::rag
