#include "rag/bm25_index.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <sqlite3.h>

#include "util/deadline.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

constexpr size_t kBlock = 128;  // postings per block
// Bounds are compared with a relative slack so that rounding never prunes a
// chunk whose exactly computed score would have entered the top-k.
constexpr double kSlack = 1 + 1e-9;
// Memory for the block lists kept between queries (a term in every chunk of
// 1M has ~8,000 blocks, ~400 KB).
constexpr size_t kListCacheBytes = size_t{64} << 20;

// A term's row holds its document frequency and its newest postings (the
// tail, fewer than a block), so adding chunks touches one row per term; full
// blocks are sealed into bm25_data, and the term's list of sealed blocks (id
// range, bounds, data row) is packed into one bm25_skips row: a query reads
// it with one lookup however long the list.
const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS bm25_stats(id INTEGER PRIMARY KEY CHECK (id = 0), docs INTEGER NOT NULL,
  tokens INTEGER NOT NULL, generation INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS bm25_terms(term TEXT PRIMARY KEY, df INTEGER NOT NULL, tail BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bm25_skips(term TEXT PRIMARY KEY, blocks BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS bm25_data(id INTEGER PRIMARY KEY, postings BLOB NOT NULL);
)";

struct Posting {
  int64_t id, tf, dl;
};

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

uint64_t get_varint(const unsigned char*& p, const unsigned char* end) {
  uint64_t v = 0;
  for (int shift = 0; p < end && shift < 64; shift += 7) {
    unsigned char c = *p++;
    v |= static_cast<uint64_t>(c & 0x7f) << shift;
    if (!(c & 0x80)) return v;
  }
  fail("corrupt BM25 postings block");
}

// Postings of one block: ids as gaps from the block key (its first id when written).
std::string encode(int64_t first_id, const std::vector<Posting>& ps) {
  std::string out;
  int64_t prev = first_id;
  for (const Posting& p : ps) {
    put_varint(out, static_cast<uint64_t>(p.id - prev));
    put_varint(out, static_cast<uint64_t>(p.tf));
    put_varint(out, static_cast<uint64_t>(p.dl));
    prev = p.id;
  }
  return out;
}

void decode(int64_t first_id, const void* data, size_t bytes, std::vector<Posting>& out) {
  out.clear();
  auto* p = static_cast<const unsigned char*>(data);
  const unsigned char* end = p + bytes;
  int64_t id = first_id;
  while (p < end) {
    id += static_cast<int64_t>(get_varint(p, end));
    int64_t tf = static_cast<int64_t>(get_varint(p, end));
    int64_t dl = static_cast<int64_t>(get_varint(p, end));
    out.push_back({id, tf, dl});
  }
}

// A sealed block: its id range (first = the key its gaps start from), bounds
// and data row; a tail in a query's list has data_id 0.
struct BlockMeta {
  int64_t first = 0, last = 0, max_tf = 0, min_dl = 0, data_id = 0;
};

// The block of `ps` (ids rising) stored under `first`.
BlockMeta summarize(int64_t first, int64_t data_id, const std::vector<Posting>& ps) {
  BlockMeta m{first, ps.back().id, 0, std::numeric_limits<int64_t>::max(), data_id};
  for (const Posting& p : ps) {
    m.max_tf = std::max(m.max_tf, p.tf);
    m.min_dl = std::min(m.min_dl, p.dl);
  }
  return m;
}

std::string encode_skips(const std::vector<BlockMeta>& blocks) {
  std::string out;
  int64_t prev = 0;
  for (const BlockMeta& m : blocks) {
    for (int64_t v : {m.first - prev, m.last - m.first, m.max_tf, m.min_dl, m.data_id})
      put_varint(out, static_cast<uint64_t>(v));
    prev = m.last;
  }
  return out;
}

void decode_skips(const void* data, size_t bytes, std::vector<BlockMeta>& out) {
  out.clear();
  auto* p = static_cast<const unsigned char*>(data);
  const unsigned char* end = p + bytes;
  int64_t prev = 0;
  while (p < end) {
    BlockMeta m;
    m.first = prev + static_cast<int64_t>(get_varint(p, end));
    m.last = m.first + static_cast<int64_t>(get_varint(p, end));
    m.max_tf = static_cast<int64_t>(get_varint(p, end));
    m.min_dl = static_cast<int64_t>(get_varint(p, end));
    m.data_id = static_cast<int64_t>(get_varint(p, end));
    out.push_back(m);
    prev = m.last;
  }
}

// Reads and writes sealed blocks and the packed block lists.
class Blocks {
 public:
  explicit Blocks(Db& db) : db_(db) {}

  void read(const BlockMeta& m, std::vector<Posting>& out) {
    Stmt& st = db_.cached("SELECT postings FROM bm25_data WHERE id = ?1");
    st.bind(1, m.data_id);
    if (!st.step()) fail("BM25 postings block {} is missing", m.data_id);
    size_t bytes = 0;
    const void* data = st.blob(0, &bytes);
    decode(m.first, data, bytes, out);
    st.reset();
  }

  void read_list(const std::string& term, std::vector<BlockMeta>& out) {
    Stmt& st = db_.cached("SELECT blocks FROM bm25_skips WHERE term = ?1");
    st.bind(1, term);
    out.clear();
    if (st.step()) {
      size_t bytes = 0;
      const void* data = st.blob(0, &bytes);
      decode_skips(data, bytes, out);
    }
    st.reset();
  }

  void write_list(const std::string& term, const std::vector<BlockMeta>& blocks) {
    if (blocks.empty()) {
      db_.cached("DELETE FROM bm25_skips WHERE term = ?1").bind(1, term).run();
      return;
    }
    std::string data = encode_skips(blocks);
    db_.cached("INSERT OR REPLACE INTO bm25_skips(term, blocks) VALUES(?1, ?2)")
        .bind(1, term)
        .bind_blob(2, data.data(), data.size())
        .run();
  }

  // Rewrites block `m` with the postings left in it (deleted when none);
  // false when it is gone.
  bool rewrite(BlockMeta& m, const std::vector<Posting>& ps) {
    if (ps.empty()) {
      db_.cached("DELETE FROM bm25_data WHERE id = ?1").bind(1, m.data_id).run();
      return false;
    }
    std::string data = encode(m.first, ps);
    db_.cached("UPDATE bm25_data SET postings = ?2 WHERE id = ?1")
        .bind(1, m.data_id)
        .bind_blob(2, data.data(), data.size())
        .run();
    m = summarize(m.first, m.data_id, ps);
    return true;
  }

  // Seals the full blocks at the front of a tail into `list`, leaving fewer than a block.
  void seal(std::vector<Posting>& tail, std::vector<BlockMeta>& list) {
    size_t i = 0;
    for (; tail.size() - i >= kBlock; i += kBlock) {
      std::vector<Posting> block(tail.begin() + static_cast<ptrdiff_t>(i),
                                 tail.begin() + static_cast<ptrdiff_t>(i + kBlock));
      std::string data = encode(block.front().id, block);
      db_.cached("INSERT INTO bm25_data(postings) VALUES(?1)").bind_blob(1, data.data(), data.size()).run();
      list.push_back(summarize(block.front().id, db_.last_insert_id(), block));
    }
    tail.erase(tail.begin(), tail.begin() + static_cast<ptrdiff_t>(i));
  }

 private:
  Db& db_;
};

}  // namespace

struct Bm25Index::TermList {
  int64_t df = 0;
  std::vector<BlockMeta> blocks;  // sealed blocks, then the tail (data_id 0) if any
  std::vector<Posting> tail;
  // Per block, the largest tf / (tf + k1 * (1 - b + b * dl / avgdl)) its
  // bounds allow at the generation's avgdl (a query's bound is its term
  // weight times this), and the largest of them.
  std::vector<double> factor;
  double max_factor = 0;

  size_t bytes() const {
    return sizeof(TermList) + blocks.size() * (sizeof(BlockMeta) + sizeof(double)) + tail.size() * sizeof(Posting);
  }
};

namespace {

// Reads sealed blocks for a query through one incremental-blob handle moved
// from row to row (a B-tree seek each, no statement step); closed with the
// reader, inside the query's read transaction.
class BlockReader {
 public:
  explicit BlockReader(Db& db) : db_(db) {}
  ~BlockReader() {
    if (blob_) sqlite3_blob_close(blob_);
  }
  BlockReader(const BlockReader&) = delete;
  BlockReader& operator=(const BlockReader&) = delete;

  void read(const BlockMeta& m, std::vector<Posting>& out) {
    const int rc = blob_ ? sqlite3_blob_reopen(blob_, m.data_id)
                         : sqlite3_blob_open(db_.handle(), "main", "bm25_data", "postings", m.data_id, 0, &blob_);
    if (rc != SQLITE_OK) fail("BM25 postings block {} is missing: {}", m.data_id, sqlite3_errstr(rc));
    bytes_.resize(static_cast<size_t>(sqlite3_blob_bytes(blob_)));
    if (sqlite3_blob_read(blob_, bytes_.data(), static_cast<int>(bytes_.size()), 0) != SQLITE_OK)
      fail("BM25 postings block {} is unreadable", m.data_id);
    decode(m.first, bytes_.data(), bytes_.size(), out);
  }

 private:
  Db& db_;
  sqlite3_blob* blob_ = nullptr;
  std::vector<unsigned char> bytes_;
};

// A term's postings walked in id order, blocks decoded only when entered.
class Cursor {
 public:
  using Meta = BlockMeta;
  std::shared_ptr<const Bm25Index::TermList> list;
  double weight = 0;  // idf times the term's multiplicity in the query
  double ub = 0;      // bound of any contribution in any block
  size_t unique = 0;  // index of the term among the query's unique tokens

  // Bound of any contribution in the current block.
  double bound() const { return weight * list->factor[bi_]; }
  bool done() const { return bi_ >= list->blocks.size(); }
  // The current id; while a move is pending (block not decoded yet), a lower
  // bound of it: the block's first id or the target, whichever is larger.
  int64_t doc() const {
    if (done()) return std::numeric_limits<int64_t>::max();
    return pending_ ? std::max(target_, list->blocks[bi_].first) : buf_[pi_].id;
  }
  bool pending() const { return pending_; }
  const Posting& posting() const { return buf_[pi_]; }
  const Meta& block() const { return list->blocks[bi_]; }

  // Moves to the first block that may hold `target` or later ids; the block
  // is decoded only when resolve() needs its postings.
  void advance(int64_t target) {
    if (done()) return;
    const auto& blocks = list->blocks;
    if (blocks[bi_].last < target) {
      bi_ = static_cast<size_t>(std::partition_point(blocks.begin() + static_cast<ptrdiff_t>(bi_), blocks.end(),
                                                     [&](const Meta& m) { return m.last < target; }) -
                                blocks.begin());
      pending_ = true;
    } else if (!pending_ && buf_[pi_].id >= target) {
      return;
    }
    target_ = pending_ ? std::max(target_, target) : target;
    pending_ = true;
  }
  // Whether a block covers `target` (then the cursor is on it).
  bool covering(int64_t target) {
    advance(target);
    return !done() && list->blocks[bi_].first <= target;
  }
  // Completes a pending move: the first posting with id >= the target.
  void resolve(BlockReader& io) {
    while (pending_ && !done()) {
      if (decoded_ != bi_) load(io);
      pi_ = static_cast<size_t>(std::partition_point(buf_.begin() + static_cast<ptrdiff_t>(pi_), buf_.end(),
                                                     [&](const Posting& p) { return p.id < target_; }) -
                                buf_.begin());
      if (pi_ < buf_.size()) pending_ = false;
      else ++bi_;  // only after deletes left the block's recorded range wider than its postings
    }
  }
  void seek(int64_t target, BlockReader& io) {
    advance(target);
    resolve(io);
  }
  void next() {
    if (++pi_ < buf_.size()) return;
    ++bi_;
    pending_ = true;
    target_ = 0;
  }

 private:
  void load(BlockReader& io) {
    const Meta& m = list->blocks[bi_];
    if (m.data_id == 0) buf_ = list->tail;
    else io.read(m, buf_);
    EDGERAG_CHECK(!buf_.empty(), "empty BM25 postings block");
    decoded_ = bi_;
    pi_ = 0;
  }
  bool pending_ = true;
  int64_t target_ = 0;
  size_t bi_ = 0, decoded_ = std::numeric_limits<size_t>::max(), pi_ = 0;
  std::vector<Posting> buf_;
};

// Term -> its number in a run, numbers given in order of first sight. Open
// addressing over slots holding the number and the term's first 12 bytes
// (zero-padded; tokens hold no NUL), the terms in a vector: a lookup of a
// short term touches one slot (a node-based map chased pointers for every
// token of the corpus).
class TermNumbers {
 public:
  std::vector<std::string> terms;  // by number

  uint32_t operator()(std::string_view t) {
    Slot key;
    std::memcpy(key.head, t.data(), std::min(t.size(), sizeof key.head));
    const size_t mask = slots_.size() - 1;
    for (size_t i = std::hash<std::string_view>{}(t) & mask;; i = (i + 1) & mask) {
      Slot& s = slots_[i];
      if (s.number == kFree) {
        s = key;
        s.number = static_cast<uint32_t>(terms.size());
        terms.emplace_back(t);
        if (2 * terms.size() > slots_.size()) grow();  // at most half full
        return static_cast<uint32_t>(terms.size() - 1);
      }
      if (std::memcmp(s.head, key.head, sizeof key.head) == 0 && (t.size() <= sizeof key.head || terms[s.number] == t))
        return s.number;
    }
  }

 private:
  static constexpr uint32_t kFree = std::numeric_limits<uint32_t>::max();
  struct Slot {
    uint32_t number = kFree;
    char head[12] = {};
  };
  void grow() {
    std::vector<Slot> old(2 * slots_.size());
    old.swap(slots_);
    const size_t mask = slots_.size() - 1;
    for (const Slot& s : old) {
      if (s.number == kFree) continue;
      size_t i = std::hash<std::string_view>{}(terms[s.number]) & mask;
      while (slots_[i].number != kFree) i = (i + 1) & mask;
      slots_[i] = s;
    }
  }
  std::vector<Slot> slots_ = std::vector<Slot>(1 << 12);
};

}  // namespace

Bm25Index::Bm25Index(Db& db, const std::string& tokenizer_spec, double k1, double b)
    : db_(db), spec_(tokenizer_spec), tokenizer_(db.handle(), tokenizer_spec), k1_(k1), b_(b) {
  // Queries read postings block by block: mapped pages spare a read() copy
  // each. As much of the file as SQLite maps (its default limit, 2 GB: a 1M-chunk
  // index is ~1.9 GB; past the limit pages are read as before).
  db_.exec("PRAGMA mmap_size = 2147418112; PRAGMA cache_size = -65536");
}

Bm25Index::Counts Bm25Index::count(std::string_view text, std::string_view headings) const {
  Counts c;
  auto add = [&](std::string_view t) {
    auto it = c.tf.find(t);
    if (it == c.tf.end()) it = c.tf.emplace(std::string(t), 0).first;
    ++it->second;
    ++c.dl;
  };
  tokenizer_.tokenize(text, false, add);
  tokenizer_.tokenize(headings, false, add);
  return c;
}

void Bm25Index::add_stats(int64_t docs, int64_t tokens) {
  forget_lists();
  db_.cached("UPDATE bm25_stats SET docs = docs + ?1, tokens = tokens + ?2, generation = generation + 1 WHERE id = 0")
      .bind(1, docs)
      .bind(2, tokens)
      .run();
}

std::shared_ptr<const Bm25Index::TermList> Bm25Index::term_list(const std::string& token, int64_t generation,
                                                                 double avgdl) {
  // Inside a write transaction the generation may yet roll back to one whose
  // lists differ, so nothing read there is kept.
  const bool keep = sqlite3_txn_state(db_.handle(), "main") != SQLITE_TXN_WRITE;
  if (keep && generation != lists_generation_) {
    forget_lists();
    lists_generation_ = generation;
  }
  if (keep)
    if (auto it = lists_.find(token); it != lists_.end()) return it->second;
  Stmt& term = db_.cached("SELECT df, tail FROM bm25_terms WHERE term = ?1");
  term.bind(1, token);
  if (!term.step()) {
    term.reset();
    return nullptr;
  }
  auto list = std::make_shared<TermList>();
  list->df = term.i64(0);
  size_t bytes = 0;
  const void* data = term.blob(1, &bytes);
  decode(0, data, bytes, list->tail);
  term.reset();
  Blocks(db_).read_list(token, list->blocks);
  if (!list->tail.empty()) list->blocks.push_back(summarize(list->tail.front().id, 0, list->tail));
  list->factor.reserve(list->blocks.size());
  for (const BlockMeta& m : list->blocks) {
    auto tf = static_cast<double>(m.max_tf);
    list->factor.push_back(tf / (tf + k1_ * (1.0 - b_ + b_ * static_cast<double>(m.min_dl) / avgdl)));
    list->max_factor = std::max(list->max_factor, list->factor.back());
  }
  if (keep) {
    // Bounded: past the budget the lists of earlier queries go, all at once.
    if (lists_bytes_ + list->bytes() > kListCacheBytes) forget_lists();
    lists_bytes_ += list->bytes();
    lists_.emplace(token, list);
  }
  return list;
}

void Bm25Index::forget_lists() {
  lists_.clear();
  lists_bytes_ = 0;
  lists_generation_ = -1;
}

bool Bm25Index::available() {
  if (!available_) available_ = db_.prepare("SELECT 1 FROM sqlite_master WHERE name = 'bm25_stats'").step();
  return available_;
}

int64_t Bm25Index::generation() {
  if (!available()) return -1;
  Stmt& st = db_.cached("SELECT docs, tokens, generation FROM bm25_stats WHERE id = 0");
  int64_t gen = st.step() ? st.i64(2) : -1;
  st.reset();
  return gen;
}

void Bm25Index::create_or_build() {
  db_.exec(kSchema);
  if (db_.prepare("SELECT 1 FROM bm25_stats").step()) return;
  // A random first generation (below 2^52): lists kept by readers of a dropped
  // and rebuilt postings table are not taken for the new one's.
  db_.exec("INSERT INTO bm25_stats(id, docs, tokens, generation) VALUES(0, 0, 0, abs(random() % 4503599627370496))");
  // An index made before the postings: index its chunks, in bounded batches.
  Gatherer gatherer(*this);
  int64_t after = 0;
  while (true) {
    std::vector<int64_t> ids;
    std::vector<std::string> texts;  // text, headings of each chunk
    auto st = db_.prepare("SELECT id, text, headings FROM chunks WHERE id > ?1 ORDER BY id LIMIT 4096");
    st.bind(1, after);
    while (st.step()) {
      ids.push_back(after = st.i64(0));
      texts.push_back(st.text(1));
      texts.push_back(st.text(2));
    }
    if (ids.empty()) return;
    Batch batch(*this);
    Run run = gatherer.gather(ids.size(), [&](size_t i) {
      return std::pair<std::string_view, std::string_view>(texts[2 * i], texts[2 * i + 1]);
    });
    batch.add(std::move(run), std::move(ids));
    batch.write();
  }
}

void Bm25Index::drop(Db& db) {
  db.exec("DROP TABLE IF EXISTS bm25_stats; DROP TABLE IF EXISTS bm25_terms; DROP TABLE IF EXISTS bm25_skips; "
          "DROP TABLE IF EXISTS bm25_data;");
}

Bm25Index::Gatherer::Gatherer(const Bm25Index& index) : tokenizer_(index.db_.handle(), index.spec_) {}

Bm25Index::Run Bm25Index::Gatherer::gather(
    size_t n, const std::function<std::pair<std::string_view, std::string_view>(size_t)>& chunk) {
  EDGERAG_CHECK(n <= std::numeric_limits<uint32_t>::max(), "too many chunks in one run");
  // Each chunk's tokens as term numbers, sorted and counted into (term, chunk,
  // tf, dl) rows, chunk numbers rising; then the rows are placed term by term.
  TermNumbers number;
  std::vector<std::array<uint32_t, 4>> rows;
  std::vector<uint32_t> seen;
  Run run;
  auto add = [&](std::string_view t) { seen.push_back(number(t)); };
  for (size_t c = 0; c < n; ++c) {
    seen.clear();
    const auto [text, headings] = chunk(c);
    tokenizer_.tokenize(text, false, add);
    tokenizer_.tokenize(headings, false, add);
    std::sort(seen.begin(), seen.end());
    const auto dl = static_cast<uint32_t>(seen.size());
    for (size_t i = 0; i < seen.size();) {
      size_t j = i;
      while (j < seen.size() && seen[j] == seen[i]) ++j;
      rows.push_back({seen[i], static_cast<uint32_t>(c), static_cast<uint32_t>(j - i), dl});
      i = j;
    }
    ++run.docs;
    run.tokens += dl;
  }
  // Terms in key order; a counting sort of the rows by their term's place keeps chunk order.
  std::vector<std::string>& terms = number.terms;
  std::vector<uint32_t> order(terms.size()), place(terms.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return terms[a] < terms[b]; });
  for (uint32_t r = 0; r < order.size(); ++r) place[order[r]] = r;
  run.begin.assign(terms.size() + 1, 0);
  for (const auto& row : rows) ++run.begin[place[row[0]] + 1];
  for (size_t i = 1; i < run.begin.size(); ++i) run.begin[i] += run.begin[i - 1];
  std::vector<uint32_t> next(run.begin.begin(), run.begin.end() - 1);
  run.postings.resize(rows.size());
  for (const auto& row : rows) run.postings[next[place[row[0]]]++] = {row[1], row[2], row[3]};
  run.terms.reserve(terms.size());
  for (uint32_t t : order) run.terms.push_back(std::move(terms[t]));
  return run;
}

void Bm25Index::Batch::add(Run run, std::vector<int64_t> ids) {
  EDGERAG_CHECK(static_cast<size_t>(run.docs) == ids.size(), "a run of {} chunks given {} ids", run.docs, ids.size());
  EDGERAG_CHECK(runs_.empty() || runs_.back().second.empty() || ids.empty() || runs_.back().second.back() < ids.front(),
                "BM25 runs added out of id order");
  runs_.emplace_back(std::move(run), std::move(ids));
}

void Bm25Index::Batch::write() {
  Bm25Index& ix = index_;
  Blocks io(ix.db_);
  Stmt& find = ix.db_.cached("SELECT df, tail FROM bm25_terms WHERE term = ?1");
  std::vector<Posting> tail;
  std::vector<BlockMeta> sealed;
  int64_t docs = 0, tokens = 0;
  for (const auto& [run, ids] : runs_) {
    docs += run.docs;
    tokens += run.tokens;
  }
  // The runs' sorted terms merged: each term once, in key order (the B-tree
  // pages of bm25_terms are visited once, in sequence), its postings run by run.
  std::vector<size_t> at(runs_.size(), 0);
  while (true) {
    const std::string* term = nullptr;
    for (size_t r = 0; r < runs_.size(); ++r)
      if (at[r] < runs_[r].first.terms.size() && (!term || runs_[r].first.terms[at[r]] < *term))
        term = &runs_[r].first.terms[at[r]];
    if (!term) break;
    find.bind(1, *term);
    const bool known = find.step();
    int64_t df = 0;
    tail.clear();
    if (known) {
      df = find.i64(0);
      size_t bytes = 0;
      const void* data = find.blob(1, &bytes);
      decode(0, data, bytes, tail);
    }
    find.reset();
    const size_t before = tail.size();
    const std::string& key = *term;
    for (size_t r = 0; r < runs_.size(); ++r) {
      const auto& [run, ids] = runs_[r];
      if (at[r] >= run.terms.size() || run.terms[at[r]] != key) continue;
      for (uint32_t p = run.begin[at[r]]; p < run.begin[at[r] + 1]; ++p) {
        const auto& [c, tf, dl] = run.postings[p];
        EDGERAG_CHECK(tail.empty() || tail.back().id < ids[c], "BM25 postings appended out of order");
        tail.push_back({ids[c], tf, dl});
      }
      ++at[r];
    }
    df += static_cast<int64_t>(tail.size() - before);
    if (tail.size() >= kBlock) {
      io.read_list(key, sealed);
      io.seal(tail, sealed);
      io.write_list(key, sealed);
    }
    std::string data = encode(0, tail);
    ix.db_.cached(known ? "UPDATE bm25_terms SET df = ?2, tail = ?3 WHERE term = ?1"
                 : "INSERT INTO bm25_terms(term, df, tail) VALUES(?1, ?2, ?3)")
        .bind(1, key)
        .bind(2, df)
        .bind_blob(3, data.data(), data.size())
        .run();
  }
  ix.add_stats(docs, tokens);
  runs_.clear();
}

void Bm25Index::remove_document(int64_t doc_id) {
  std::map<std::string, std::vector<int64_t>> ids;  // term -> chunk ids, rising
  int64_t docs = 0, tokens = 0;
  {
    auto st = db_.prepare("SELECT id, text, headings FROM chunks WHERE doc_id = ?1 ORDER BY id");
    st.bind(1, doc_id);
    while (st.step()) {
      Counts c = count(st.text(1), st.text(2));
      for (auto& [term, tf] : c.tf) ids[term].push_back(st.i64(0));
      ++docs;
      tokens += c.dl;
    }
  }
  if (docs == 0) return;
  Blocks io(db_);
  Stmt& find = db_.cached("SELECT df, tail FROM bm25_terms WHERE term = ?1");
  std::vector<Posting> tail, ps;
  std::vector<BlockMeta> sealed;
  // Removes the ids of gone[i, j) from ps; false unless all were there.
  auto erase = [](std::vector<Posting>& ps, const std::vector<int64_t>& gone, size_t i, size_t j) {
    size_t before = ps.size();
    std::erase_if(ps, [&](const Posting& p) {
      return std::binary_search(gone.begin() + static_cast<ptrdiff_t>(i), gone.begin() + static_cast<ptrdiff_t>(j), p.id);
    });
    return ps.size() + (j - i) == before;
  };
  for (auto& [term, gone] : ids) {
    find.bind(1, term);
    if (!find.step()) fail("BM25 postings lack the term '{}' of document {}", term, doc_id);
    int64_t df = find.i64(0);
    size_t bytes = 0;
    const void* data = find.blob(1, &bytes);
    decode(0, data, bytes, tail);
    find.reset();
    // Ids from the tail's first on are in the tail; earlier ones in sealed blocks.
    size_t in_blocks = tail.empty() ? gone.size()
                                    : static_cast<size_t>(std::lower_bound(gone.begin(), gone.end(), tail.front().id) -
                                                          gone.begin());
    if (!erase(tail, gone, in_blocks, gone.size())) fail("BM25 postings of '{}' lack a chunk of document {}", term, doc_id);
    if (in_blocks > 0) {
      io.read_list(term, sealed);
      std::vector<BlockMeta> kept;
      size_t i = 0;
      for (BlockMeta& m : sealed) {
        size_t j = i;
        while (j < in_blocks && gone[j] <= m.last) ++j;
        if (j > i) {  // every id of this document in this block goes in one rewrite
          if (gone[i] < m.first) break;
          io.read(m, ps);
          if (!erase(ps, gone, i, j)) fail("BM25 postings of '{}' lack a chunk of document {}", term, doc_id);
          i = j;
          if (!io.rewrite(m, ps)) continue;
        }
        kept.push_back(m);
      }
      if (i != in_blocks) fail("BM25 postings of '{}' lack chunk {}", term, gone[i]);
      io.write_list(term, kept);
    }
    df -= static_cast<int64_t>(gone.size());
    if (df == 0) {
      db_.cached("DELETE FROM bm25_terms WHERE term = ?1").bind(1, term).run();
    } else {
      std::string enc = encode(0, tail);
      db_.cached("UPDATE bm25_terms SET df = ?2, tail = ?3 WHERE term = ?1")
          .bind(1, term)
          .bind(2, df)
          .bind_blob(3, enc.data(), enc.size())
          .run();
    }
  }
  add_stats(-docs, -tokens);
}

std::optional<std::vector<std::pair<int64_t, double>>> Bm25Index::search(const std::vector<std::string>& terms,
                                                                         size_t depth,
                                                                         const std::vector<int64_t>* allowed) {
  std::vector<std::pair<int64_t, double>> out;
  if (!available()) return std::nullopt;
  // Each query term is one FTS5 phrase; only single-token phrases are scored here.
  std::vector<std::string> tokens;      // unique tokens
  std::vector<size_t> phrase_token;     // query term -> index in tokens
  for (const auto& t : terms) {
    std::vector<std::string> got;
    tokenizer_.tokenize(t, true, [&](std::string_view s) { got.emplace_back(s); });
    if (got.size() != 1) return std::nullopt;
    auto it = std::find(tokens.begin(), tokens.end(), got[0]);
    phrase_token.push_back(static_cast<size_t>(it - tokens.begin()));
    if (it == tokens.end()) tokens.push_back(got[0]);
  }
  if (tokens.empty() || depth == 0) return out;

  double n_docs = 0, avgdl = 1;
  int64_t generation = 0;
  {
    Stmt& st = db_.cached("SELECT docs, tokens, generation FROM bm25_stats WHERE id = 0");
    if (!st.step()) fail("BM25 postings have no statistics row");
    n_docs = static_cast<double>(st.i64(0));
    if (st.i64(0) > 0) avgdl = std::max(1.0, static_cast<double>(st.i64(1)) / n_docs);
    generation = st.i64(2);
    st.reset();
  }
  std::vector<double> idf(tokens.size(), 0);
  std::vector<Cursor> cursors;
  for (size_t u = 0; u < tokens.size(); ++u) {
    Cursor c;
    c.list = term_list(tokens[u], generation, avgdl);
    if (!c.list) continue;
    auto n = static_cast<double>(c.list->df);
    idf[u] = std::log(1.0 + (n_docs - n + 0.5) / (n + 0.5));
    c.unique = u;
    c.weight = idf[u] * static_cast<double>(std::count(phrase_token.begin(), phrase_token.end(), u));
    c.ub = c.weight * c.list->max_factor;
    if (!c.list->blocks.empty()) cursors.push_back(std::move(c));
  }
  // Ascending bound: a prefix whose bounds sum to no more than the k-th score
  // cannot make a chunk enter on its own (non-essential, MaxScore); chunks are
  // enumerated from the other, essential lists only.
  std::sort(cursors.begin(), cursors.end(), [](const Cursor& a, const Cursor& b) { return a.ub < b.ub; });
  std::vector<double> prefix(cursors.size() + 1, 0);
  for (size_t i = 0; i < cursors.size(); ++i) prefix[i + 1] = prefix[i] + cursors[i].ub;

  BlockReader io(db_);
  // Cursors start pending at their first block: nothing is decoded before it is needed.
  // Top-k heap, worst on top: lower score, then higher id (ties go to the lower id).
  auto better = [](const std::pair<int64_t, double>& a, const std::pair<int64_t, double>& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  double theta = -1;  // k-th best score once the heap is full
  size_t first_essential = 0;
  std::vector<int64_t> tf(tokens.size(), 0);
  std::vector<double> before(cursors.size() + 1, 0);
  std::vector<uint8_t> covers(cursors.size(), 0);
  for (uint64_t step = 1;; ++step) {
    if (step % 4096 == 0) check_deadline("bm25");  // a many-term query over a large index
    int64_t d = std::numeric_limits<int64_t>::max();
    for (size_t i = first_essential; i < cursors.size(); ++i) d = std::min(d, cursors[i].doc());
    if (d == std::numeric_limits<int64_t>::max()) break;
    if (theta >= 0) {
      // Block-max: when no chunk up to the end of the essential lists' current
      // blocks can beat the k-th score, skip past them without scoring.
      double window = prefix[first_essential];
      int64_t end = std::numeric_limits<int64_t>::max();
      for (size_t i = first_essential; i < cursors.size(); ++i) {
        if (cursors[i].done()) continue;
        window += cursors[i].bound();
        end = std::min(end, cursors[i].block().last);
      }
      if (window * kSlack <= theta) {
        for (size_t i = first_essential; i < cursors.size(); ++i) cursors[i].advance(end + 1);
        continue;
      }
    }
    // Decode the lists that may sit at d; if none does after all, look again.
    bool moved = false;
    for (size_t i = first_essential; i < cursors.size(); ++i)
      if (cursors[i].pending() && cursors[i].doc() == d) {
        cursors[i].resolve(io);
        moved |= cursors[i].doc() != d;
      }
    if (moved) continue;
    bool allow = !allowed || std::binary_search(allowed->begin(), allowed->end(), d);
    int64_t dl = 0;
    double bound = 0;
    std::fill(tf.begin(), tf.end(), 0);
    for (size_t i = first_essential; i < cursors.size() && allow; ++i)
      if (cursors[i].doc() == d) {
        const Posting& p = cursors[i].posting();
        tf[cursors[i].unique] = p.tf;
        dl = p.dl;
        auto t = static_cast<double>(p.tf);
        bound += cursors[i].weight * t / (t + k1_ * (1.0 - b_ + b_ * static_cast<double>(p.dl) / avgdl));
      }
    // Non-essential lists, largest bound first: their block bounds at d, then
    // their postings only while the chunk can still enter. `before[i]`: the
    // block bounds of lists 0..i-1, what they may still add once list i is read.
    const bool full = out.size() == depth;
    if (allow && full) {
      for (size_t i = 0; i < first_essential; ++i) {
        covers[i] = cursors[i].covering(d);
        before[i + 1] = before[i] + (covers[i] ? cursors[i].bound() : 0);
      }
      allow = (bound + before[first_essential]) * kSlack > theta;
    }
    const double norm = k1_ * (1.0 - b_ + b_ * static_cast<double>(dl) / avgdl);
    for (size_t i = first_essential; allow && i-- > 0;) {
      if (full && !covers[i]) continue;
      cursors[i].seek(d, io);
      if (cursors[i].doc() == d) {
        const Posting& p = cursors[i].posting();
        tf[cursors[i].unique] = p.tf;
        auto t = static_cast<double>(p.tf);
        bound += cursors[i].weight * t / (t + norm);
      }
      if (full) allow = (bound + before[i]) * kSlack > theta;
    }
    if (allow) {
      // The score exactly as lucene_bm25 sums it: query terms in order.
      double score = 0;
      for (size_t p = 0; p < phrase_token.size(); ++p) {
        int64_t t = tf[phrase_token[p]];
        if (t > 0) score += idf[phrase_token[p]] * static_cast<double>(t) / (static_cast<double>(t) + norm);
      }
      if (out.size() < depth || score > theta) {
        if (out.size() == depth) {
          std::pop_heap(out.begin(), out.end(), better);
          out.pop_back();
        }
        out.emplace_back(d, score);
        std::push_heap(out.begin(), out.end(), better);
        if (out.size() == depth) {
          theta = out.front().second;
          while (first_essential < cursors.size() && prefix[first_essential + 1] * kSlack <= theta) ++first_essential;
        }
      }
    }
    for (size_t i = first_essential; i < cursors.size(); ++i)
      if (cursors[i].doc() == d) cursors[i].next();
  }
  std::sort(out.begin(), out.end(), better);
  return out;
}

}  // namespace edgerag::rag
