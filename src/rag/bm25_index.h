// BM25 top-k whose cost follows the answer, not the corpus: an inverted index
// kept in the index's SQLite file, next to the chunk rows and written in the
// same transactions (so a crash loses or keeps both), evaluated with MaxScore
// and block-max bounds.
//
// Postings are cut into blocks of up to 128 (chunk id, tf, document length),
// each with its id range, largest tf and smallest length: an upper bound of
// any BM25 contribution inside the block that holds whatever the corpus
// statistics become. Scores equal the FTS5 lucene_bm25 scorer (rag/bm25) bit
// for bit: the same tokens (FTS5's own tokenizer chain), statistics, formula
// and summation order; ties go to the lower chunk id, as there.
#pragma once
#include <array>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rag/bm25.h"
#include "rag/sqlite_db.h"

namespace edgerag::rag {

// Transparent hash: string_view lookups into string-keyed maps without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

class Bm25Index {
 public:
  // `tokenizer_spec` is the FTS5 table's tokenize= value (fts_tokenizer_spec).
  Bm25Index(Db& db, const std::string& tokenizer_spec, double k1, double b);

  // Creates the tables if missing and indexes every chunk when the postings are
  // new (an index made before them); call inside the schema transaction.
  void create_or_build();
  // Drops the postings tables (the next create_or_build rebuilds them).
  static void drop(Db& db);

  // The postings of a run of chunks, gathered without the database (on any
  // thread, one Gatherer per thread): the run's terms sorted, each with its
  // (chunk's number in the run, tf, dl), numbers rising.
  struct Run {
    std::vector<std::string> terms;
    std::vector<uint32_t> begin;                    // postings of terms[i]: [begin[i], begin[i + 1])
    std::vector<std::array<uint32_t, 3>> postings;
    int64_t docs = 0, tokens = 0;
  };
  class Gatherer {
   public:
    // Made on the writer's thread (it reads the connection's tokenizers), used on one other.
    explicit Gatherer(const Bm25Index& index);
    // Tokenizes each chunk once (the text, then the headings) and counts its terms.
    Run gather(size_t n, const std::function<std::pair<std::string_view, std::string_view>(size_t)>& chunk);

   private:
    TokenizerChain tokenizer_;
  };

  // Chunks added in one write transaction: runs of postings, each with the ids
  // its chunks were given, merged and written by write(), before the commit.
  // Dropping a batch unwritten (an exception) writes nothing.
  class Batch {
   public:
    explicit Batch(Bm25Index& index) : index_(index) {}
    // `ids[i]`: the chunk id of the run's chunk number i; ids rise across the runs added.
    void add(Run run, std::vector<int64_t> ids);
    void write();

   private:
    Bm25Index& index_;
    std::vector<std::pair<Run, std::vector<int64_t>>> runs_;
  };

  // Removes the postings of a document's chunks; call before their rows go.
  void remove_document(int64_t doc_id);

  // The best `depth` (chunk id, score) for the query terms (query_terms()),
  // restricted to `allowed` (sorted ids) when given; call inside a
  // ReadSnapshot. nullopt when the postings cannot answer exactly: an index
  // without them (read-only, made before them), or a query term FTS5 would
  // turn into other than one token (a phrase). The caller then scores through FTS5.
  std::optional<std::vector<std::pair<int64_t, double>>> search(const std::vector<std::string>& terms, size_t depth,
                                                                const std::vector<int64_t>* allowed);

  // Changes with every write of chunks (for caches of per-chunk data); -1
  // when the index has no postings.
  int64_t generation();

  struct TermList;  // what a query reads of a term (defined in the .cpp)

 private:
  struct Counts {
    std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>> tf;
    int64_t dl = 0;
  };
  Counts count(std::string_view text, std::string_view headings) const;
  void add_stats(int64_t docs, int64_t tokens);
  bool available();

  // A term's df, block list (ranges, bounds) and tail, as a query reads them
  // before any posting. Kept between queries while the postings' generation,
  // read in each query's snapshot, stays the same (another connection's
  // commit changes it; generations start at a random number, so a rebuilt
  // postings table does not repeat an old one); dropped by this connection's
  // writes, and neither used nor filled inside a write transaction, which may
  // still roll back. (TermList is declared public for the query's cursors.)
  std::shared_ptr<const TermList> term_list(const std::string& token, int64_t generation, double avgdl);
  void forget_lists();

  Db& db_;
  std::string spec_;
  TokenizerChain tokenizer_;
  double k1_, b_;
  bool available_ = false;
  std::unordered_map<std::string, std::shared_ptr<const TermList>, StringHash, std::equal_to<>> lists_;
  int64_t lists_generation_ = -1;
  size_t lists_bytes_ = 0;
};

}  // namespace edgerag::rag
