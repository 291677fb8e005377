#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <unordered_map>

#include "rag/bm25.h"
#include "rag/index_impl.h"
#include "rag/text_fold.h"
#include "rag/reader.h"
#include "util/error.h"
#include "util/log.h"
#include "util/sha256.h"
#include "util/timer.h"

namespace fs = std::filesystem;

namespace edgerag::rag {
namespace {

constexpr int kSchemaVersion = 1;

const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  collection TEXT NOT NULL, path TEXT NOT NULL, file_type TEXT NOT NULL, title TEXT NOT NULL,
  content_hash TEXT NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL, is_file INTEGER NOT NULL,
  n_chunks INTEGER NOT NULL, ingested_at INTEGER NOT NULL,
  UNIQUE(collection, path));
CREATE TABLE IF NOT EXISTS chunks(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  doc_id INTEGER NOT NULL, seq INTEGER NOT NULL, text TEXT NOT NULL, headings TEXT NOT NULL,
  page INTEGER NOT NULL, row_begin INTEGER NOT NULL, row_end INTEGER NOT NULL,
  byte_begin INTEGER NOT NULL, byte_end INTEGER NOT NULL, n_tokens INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(doc_id, seq);
CREATE TABLE IF NOT EXISTS vectors(chunk_id INTEGER PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS collections(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE);
DROP TRIGGER IF EXISTS chunks_ai;
CREATE TRIGGER IF NOT EXISTS documents_version_ai AFTER INSERT ON documents BEGIN
  INSERT INTO meta(key, value) VALUES ('version:' || new.collection, '1')
    ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1;
END;
CREATE TRIGGER IF NOT EXISTS documents_version_ad AFTER DELETE ON documents BEGIN
  INSERT INTO meta(key, value) VALUES ('version:' || old.collection, '1')
    ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1;
END;
)";

// The FTS5 table (the exhaustive scorer) holds exactly the chunks with ids up
// to meta fts_through: ingest leaves it alone, complete_fts() adds the newer
// ones when a search needs it, so a deleted chunk leaves it only if it was there.
const char* kDeleteTrigger = R"(
CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_fts(chunks_fts, rowid, text, headings) SELECT 'delete', old.id, old.text, old.headings
    WHERE old.id <= (SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'fts_through');
  DELETE FROM vectors WHERE chunk_id = old.id;
END;
)";

std::string create_fts_sql(const std::string& spec) {
  return fmt::format("CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, headings, "
                     "content='chunks', content_rowid='id', tokenize='{}')",
                     spec);
}

// What the BM25 tokens of an index were made with: recorded at creation, so a
// change of the normalization is never silently mixed with old tokens.
std::string text_tokenizer_id(const std::string& spec) { return fmt::format("{} v{}", spec, kTextFoldVersion); }

// The whole file, refused past `max_bytes` (checked again while reading: it may grow).
std::string read_file(const std::string& path, uint64_t max_bytes) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("cannot open: {}", std::strerror(errno));
  std::string s;
  char buf[1 << 16];
  while (f.read(buf, sizeof buf) || f.gcount() > 0) {
    if (s.size() + static_cast<uint64_t>(f.gcount()) > max_bytes)
      fail("file is over the limit of {} bytes (limit file_bytes)", max_bytes);
    s.append(buf, static_cast<size_t>(f.gcount()));
  }
  if (f.bad()) fail("read error");
  return s;
}

// A symbolic link is followed only to a file inside the folder being ingested.
bool link_inside(const fs::path& link, const fs::path& root) {
  std::error_code ec;
  fs::path target = fs::canonical(link, ec), top = fs::canonical(root, ec);
  if (ec) return false;
  auto [r, t] = std::mismatch(top.begin(), top.end(), target.begin(), target.end());
  return r == top.end();
}

int64_t mtime_ns(const fs::path& p) {
  return static_cast<int64_t>(fs::last_write_time(p).time_since_epoch().count());
}

int64_t now_seconds() { return static_cast<int64_t>(std::time(nullptr)); }

// Files under the given paths (folders recursively, hidden entries skipped,
// links to outside a folder refused), sorted.
std::vector<std::string> list_files(const std::vector<std::string>& paths, const std::string& index_dir,
                                    IngestReport& report) {
  std::set<std::string> files;
  fs::path skip = fs::absolute(index_dir).lexically_normal();
  for (const auto& p : paths) {
    fs::path root = fs::absolute(p).lexically_normal();
    std::error_code ec;
    if (fs::is_directory(root, ec)) {
      fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
      for (; !ec && it != end; it.increment(ec)) {
        const fs::path& e = it->path();
        if (e.filename().string().rfind('.', 0) == 0 || e == skip) {
          if (it->is_directory(ec)) it.disable_recursion_pending();
          continue;
        }
        if (it->is_symlink(ec) && !link_inside(e, root)) {
          report.failures.emplace_back(e.string(), "symbolic link to outside the folder, not followed");
          continue;
        }
        if (it->is_regular_file(ec)) files.insert(e.string());
      }
      if (ec) report.failures.emplace_back(root.string(), ec.message());
    } else if (fs::is_regular_file(root, ec)) {
      files.insert(root.string());
    } else {
      report.failures.emplace_back(root.string(), "no such file or folder");
      report.missing.push_back(root.string());
    }
  }
  return {files.begin(), files.end()};
}

}  // namespace

std::string passage_text(const std::string& headings, const std::string& text) {
  return headings.empty() ? text : headings + "\n" + text;
}

std::unique_ptr<Index> Index::open(const std::string& dir, const IndexOptions& options) {
  return std::make_unique<IndexImpl>(dir, options);
}

IndexImpl::IndexImpl(std::string dir, const IndexOptions& opt) : dir_(std::move(dir)), writable_(opt.writable) {
  std::string db_path = dir_ + "/index.sqlite";
  if (writable_) {
    std::error_code ec;
    fs::create_directories(dir_, ec);
    if (ec) fail("cannot create index folder {}: {}", dir_, ec.message());
    std::string lock = dir_ + "/write.lock";
    lock_ = std::make_unique<LockFile>(::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (lock_->fd() < 0) fail("cannot open {}: {}", lock, std::strerror(errno));
    if (flock(lock_->fd(), LOCK_EX | LOCK_NB) != 0)
      fail("index {} is being written by another process (one writer at a time)", dir_);
  } else if (!fs::exists(db_path)) {
    fail("no index at {} (create one with `edgerag ingest --index {} PATH...`)", dir_, dir_);
  }
  db_ = std::make_unique<Db>(db_path, writable_);
  register_bm25(db_->handle());
  if (writable_) {
    db_->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    create_or_load_schema(opt);
  } else {
    opt_ = opt;
  }
  if (meta("schema_version").empty()) fail("{} is not an edgerag index (no schema)", db_path);
  if (std::stoi(meta("schema_version")) != kSchemaVersion)
    fail("index {} has schema version {}, this edgerag reads {}", dir_, meta("schema_version"), kSchemaVersion);
  opt_.stemming = meta("stemming") == "1";
  stopwords_ = meta("stopwords");
  opt_.stopwords = stopwords_;
  opt_.bm25_k1 = std::stod(meta("bm25_k1"));
  opt_.bm25_b = std::stod(meta("bm25_b"));
  opt_.hnsw_m = std::stoi(meta("hnsw_m"));
  opt_.hnsw_ef_construction = std::stoi(meta("hnsw_ef_construction"));
  opt_.exact_below = std::stoull(meta("exact_below"));
  opt_.vectors = meta("vectors", "f32");  // indexes made before int8 graphs have float ones
  const std::string spec = fts_tokenizer_spec(opt_.stemming, stopwords_);
  if (meta("text_tokenizer") != text_tokenizer_id(spec)) {
    if (!writable_)
      fail("index {} was built with an older text normalization for BM25; run `edgerag ingest --index {}` once "
           "(it rebuilds the BM25 index from the stored chunks) before searching it",
           dir_, dir_);
    rebuild_text_index(spec);
  }
  postings_ = std::make_unique<Bm25Index>(*db_, spec, opt_.bm25_k1, opt_.bm25_b);
  if (writable_) {
    Transaction tx(*db_);
    postings_->create_or_build();
    tx.commit();
  }
}

IndexImpl::~IndexImpl() {
  vectors_.reset();
  postings_.reset();
  db_.reset();
}  // lock_ goes last: the writer lock outlives the connection

LockFile::~LockFile() {
  if (fd_ >= 0) ::close(fd_);  // releases the writer lock
}

void IndexImpl::create_or_load_schema(const IndexOptions& opt) {
  Transaction tx(*db_);
  db_->exec(kSchema);
  db_->exec(create_fts_sql(fts_tokenizer_spec(opt.stemming, opt.stopwords)));
  // Indexes made before the deferred FTS5 rows hold every chunk in it.
  if (meta("fts_through").empty()) set_meta("fts_through", std::to_string(last_chunk_id()));
  const bool current_trigger = [&] {
    auto st = db_->prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'chunks_ad'");
    return st.step() && st.text(0).find("fts_through") != std::string::npos;
  }();
  if (!current_trigger) {
    db_->exec("DROP TRIGGER IF EXISTS chunks_ad");
    db_->exec(kDeleteTrigger);
  }
  if (meta("schema_version").empty()) {
    set_meta("schema_version", std::to_string(kSchemaVersion));
    set_meta("text_tokenizer", text_tokenizer_id(fts_tokenizer_spec(opt.stemming, opt.stopwords)));
    set_meta("stemming", opt.stemming ? "1" : "0");
    set_meta("stopwords", opt.stopwords);
    set_meta("bm25_k1", fmt::format("{}", opt.bm25_k1));
    set_meta("bm25_b", fmt::format("{}", opt.bm25_b));
    set_meta("hnsw_m", std::to_string(opt.hnsw_m));
    set_meta("hnsw_ef_construction", std::to_string(opt.hnsw_ef_construction));
    set_meta("exact_below", std::to_string(opt.exact_below));
    EDGERAG_CHECK(opt.vectors == "f32" || opt.vectors == "int8", "vectors: expected f32 or int8, got \"{}\"",
                  opt.vectors);
    set_meta("vectors", opt.vectors);
    set_meta("vec_gen", "0");
  }
  VectorIndex::create_schema(*db_);
  tx.commit();
}

void IndexImpl::rebuild_text_index(const std::string& spec) {
  log(LogLevel::Info, "index {}: rebuilding the BM25 index for the current text normalization", dir_);
  Transaction tx(*db_);
  // The postings tables are re-created and filled by Bm25Index::create_or_build.
  db_->exec("DROP TABLE IF EXISTS chunks_fts");
  Bm25Index::drop(*db_);
  db_->exec(create_fts_sql(spec));
  db_->exec("INSERT INTO chunks_fts(chunks_fts) VALUES('rebuild')");
  set_meta("fts_through", std::to_string(last_chunk_id()));
  set_meta("text_tokenizer", text_tokenizer_id(spec));
  tx.commit();
}

int64_t IndexImpl::last_chunk_id() const {
  auto st = db_->prepare("SELECT coalesce(max(id), 0) FROM chunks");
  return st.step() ? st.i64(0) : 0;
}

void IndexImpl::complete_fts() {
  const std::string through = meta("fts_through");
  if (through.empty()) return;  // read-only, made before the deferred rows: complete
  int64_t from = 0;
  const auto [end, ec] = std::from_chars(through.data(), through.data() + through.size(), from);
  if (ec != std::errc() || end != through.data() + through.size() || from < 0)
    fail("index {}: meta fts_through is not a chunk id: '{}'", dir_, through);
  const int64_t to = last_chunk_id();
  if (to <= from) return;
  if (!writable_)
    fail("index {}: the exhaustive BM25 scorer (FTS5) lacks the chunks ingested since its last use; an exhaustive "
         "search on a writable open adds them",
         dir_);
  Transaction tx(*db_);
  db_->prepare("INSERT INTO chunks_fts(rowid, text, headings) SELECT id, text, headings FROM chunks "
               "WHERE id > ?1 AND id <= ?2")
      .bind(1, from)
      .bind(2, to)
      .run();
  set_meta("fts_through", std::to_string(to));
  tx.commit();
}

std::string IndexImpl::meta(const std::string& key, const std::string& fallback) const {
  auto st = db_->prepare("SELECT value FROM meta WHERE key = ?1");
  st.bind(1, key);
  return st.step() ? st.text(0) : fallback;
}

int64_t IndexImpl::data_version(const std::vector<std::string>& collections) {
  std::lock_guard lock(mu_);
  int64_t v = 0;
  if (collections.empty()) {
    auto st = db_->prepare("SELECT COALESCE(SUM(CAST(value AS INTEGER)), 0) FROM meta WHERE key LIKE 'version:%'");
    if (st.step()) v = st.i64(0);
    return v;
  }
  auto st = db_->prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1");
  for (const auto& c : collections) {
    st.bind(1, "version:" + c);
    if (st.step()) v += st.i64(0);
    st.reset();
  }
  return v;
}

void IndexImpl::set_meta(const std::string& key, const std::string& value) {
  db_->prepare("INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2")
      .bind(1, key)
      .bind(2, value)
      .run();
}

void IndexImpl::require_writable() const {
  if (!writable_) fail("index {} was opened read-only", dir_);
}

void IndexImpl::set_embedder(std::shared_ptr<Embedder> embedder) {
  std::lock_guard lock(mu_);
  std::string recorded = meta("embedder");
  if (embedder && !recorded.empty() && embedder->name() != recorded)
    fail("index {} holds vectors of embedding model {}, not {}", dir_, recorded, embedder->name());
  if (embedder && !recorded.empty() && std::to_string(embedder->dim()) != meta("dim"))
    fail("embedding model {} has dimension {}, the index {}", embedder->name(), embedder->dim(), meta("dim"));
  embedder_ = std::move(embedder);
}

void IndexImpl::set_reranker(std::shared_ptr<Reranker> reranker) {
  std::lock_guard lock(mu_);
  reranker_ = std::move(reranker);
}

std::string IndexImpl::recorded_embedder() const { return meta("embedder"); }

TokenCounter IndexImpl::token_counter() const {
  if (!embedder_) return count_words;
  Embedder* e = embedder_.get();
  return [e](std::string_view t) { return e->count_tokens(t); };
}

VectorIndex* IndexImpl::vectors() {
  if (!vectors_) {
    const VectorIndexParams p = VectorIndex::recorded_params(*db_);
    if (p.dim <= 0) return nullptr;
    vectors_ = std::make_unique<VectorIndex>(*db_, dir_, p);
  }
  return vectors_.get();
}

std::optional<IndexImpl::Existing> IndexImpl::find_document(const std::string& collection, const std::string& path) {
  // Kept: ingest looks every document up, twice in ingest_texts.
  Stmt& st = db_->cached("SELECT id, size, mtime, content_hash FROM documents WHERE collection = ?1 AND path = ?2");
  st.bind(1, collection).bind(2, path);
  std::optional<Existing> found;
  if (st.step()) found = Existing{st.i64(0), st.i64(1), st.i64(2), st.text(3)};
  st.reset();
  return found;
}

void IndexImpl::delete_document(int64_t doc_id) {
  bool had_vectors = false;
  {
    auto st = db_->prepare("SELECT 1 FROM vectors WHERE chunk_id IN (SELECT id FROM chunks WHERE doc_id = ?1) LIMIT 1");
    st.bind(1, doc_id);
    had_vectors = st.step();
  }
  postings_->remove_document(doc_id);
  db_->prepare("DELETE FROM chunks WHERE doc_id = ?1").bind(1, doc_id).run();
  db_->prepare("DELETE FROM documents WHERE id = ?1").bind(1, doc_id).run();
  if (had_vectors) bump_vector_generation(*db_);
}

ThreadPool& IndexImpl::ingest_pool() {
  if (!ingest_pool_) {
    ingest_pool_ = std::make_unique<ThreadPool>(default_thread_count());
    for (int t = 0; t <= ingest_pool_->size(); ++t) gatherers_.push_back(std::make_unique<Bm25Index::Gatherer>(*postings_));
  }
  return *ingest_pool_;
}

TermRuns IndexImpl::gather_terms(const std::vector<PendingDoc>& pending, bool parallel) {
  std::vector<const Chunk*> chunks;
  for (const auto& d : pending)
    for (const auto& c : d.chunks) chunks.push_back(&c);
  auto gather = [&](Bm25Index::Gatherer& g, size_t begin, size_t end) {
    return std::pair<size_t, Bm25Index::Run>(begin, g.gather(end - begin, [&](size_t i) {
      return std::pair<std::string_view, std::string_view>(chunks[begin + i]->text, chunks[begin + i]->headings);
    }));
  };
  ThreadPool& pool = ingest_pool();
  if (!parallel) return {gather(*gatherers_.back(), 0, chunks.size())};
  // Each thread tokenizes a contiguous range of the chunks once.
  TermRuns runs(static_cast<size_t>(pool.size()));
  pool.parallel_for(chunks.size(), [&](int t, size_t begin, size_t end) {
    runs[static_cast<size_t>(t)] = gather(*gatherers_[static_cast<size_t>(t)], begin, end);
  });
  std::sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return runs;
}

void IndexImpl::flush(std::vector<PendingDoc>& pending, size_t embed_batch, IngestReport& report) {
  if (pending.empty()) return;
  write_batch(pending, gather_terms(pending, true), embed_batch, report);
}

void IndexImpl::write_batch(std::vector<PendingDoc>& pending, TermRuns runs, size_t embed_batch,
                            IngestReport& report) {
  if (pending.empty()) return;
  std::vector<std::vector<float>> vecs;
  size_t n_chunks = 0;
  for (const auto& d : pending) n_chunks += d.chunks.size();
  if (embedder_) {  // in calls of embed_batch chunks: the transaction may hold many
    std::vector<std::string> texts;
    for (const auto& d : pending)
      for (const auto& c : d.chunks) texts.push_back(passage_text(c.headings, c.text));
    const size_t step = std::max<size_t>(embed_batch, 1);
    for (size_t i = 0; i < texts.size(); i += step) {
      std::vector<std::string> part(texts.begin() + static_cast<ptrdiff_t>(i),
                                    texts.begin() + static_cast<ptrdiff_t>(std::min(texts.size(), i + step)));
      auto got = embedder_->embed(part, false);
      EDGERAG_CHECK(got.size() == part.size(), "embedder returned {} vectors for {} texts", got.size(), part.size());
      for (auto& v : got) vecs.push_back(std::move(v));
    }
  }
  Transaction tx(*db_);
  if (embedder_ && meta("embedder").empty()) {
    set_meta("embedder", embedder_->name());
    set_meta("dim", std::to_string(embedder_->dim()));
  }
  auto ins_doc = db_->prepare(
      "INSERT INTO documents(collection, path, file_type, title, content_hash, size, mtime, is_file, n_chunks, "
      "ingested_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  auto ins_chunk = db_->prepare(
      "INSERT INTO chunks(doc_id, seq, text, headings, page, row_begin, row_end, byte_begin, byte_end, n_tokens) "
      "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  auto ins_vec = db_->prepare("INSERT INTO vectors(chunk_id, v) VALUES(?1, ?2)");
  std::vector<int64_t> ids;  // of the chunks, in document order
  ids.reserve(n_chunks);
  size_t v = 0;
  for (const auto& d : pending) {
    if (d.replaces) delete_document(d.replaces);
    ins_doc.bind(1, d.collection).bind(2, d.path).bind(3, d.file_type).bind(4, d.title).bind(5, d.hash);
    ins_doc.bind(6, d.size).bind(7, d.mtime).bind(8, int64_t{d.is_file}).bind(9, static_cast<int64_t>(d.chunks.size()));
    ins_doc.bind(10, now_seconds()).run();
    int64_t doc_id = db_->last_insert_id();
    for (size_t i = 0; i < d.chunks.size(); ++i) {
      const Chunk& c = d.chunks[i];
      ins_chunk.bind(1, doc_id).bind(2, static_cast<int64_t>(i)).bind(3, c.text).bind(4, c.headings);
      ins_chunk.bind(5, int64_t{c.page}).bind(6, c.row_begin).bind(7, c.row_end).bind(8, c.byte_begin);
      ins_chunk.bind(9, c.byte_end).bind(10, static_cast<int64_t>(c.n_tokens)).run();
      const int64_t chunk_id = db_->last_insert_id();
      ids.push_back(chunk_id);
      if (embedder_) {
        const auto& vec = vecs[v++];
        EDGERAG_CHECK(vec.size() == static_cast<size_t>(embedder_->dim()), "embedder returned a vector of {} floats",
                      vec.size());
        ins_vec.bind(1, chunk_id).bind_blob(2, vec.data(), vec.size() * sizeof(float)).run();
      }
    }
    if (d.replaces) ++report.updated;
    else ++report.added;
    report.chunks_written += d.chunks.size();
  }
  Bm25Index::Batch postings(*postings_);
  for (auto& [first, run] : runs) {
    const auto n = static_cast<size_t>(run.docs);
    if (n == 0) continue;
    postings.add(std::move(run), std::vector<int64_t>(ids.begin() + static_cast<ptrdiff_t>(first),
                                                      ids.begin() + static_cast<ptrdiff_t>(first + n)));
  }
  postings.write();
  // No FTS5 rows: the exhaustive scorer's table is completed when a search needs it (complete_fts).
  if (embedder_) bump_vector_generation(*db_);
  tx.commit();
  pending.clear();
}

size_t IndexImpl::backfill_vectors(size_t batch) {
  if (!embedder_) return 0;
  size_t done = 0;
  while (true) {
    std::vector<int64_t> ids;
    std::vector<std::string> texts;
    {
      auto st = db_->prepare(
          "SELECT c.id, c.headings, c.text FROM chunks c LEFT JOIN vectors v ON v.chunk_id = c.id "
          "WHERE v.chunk_id IS NULL ORDER BY c.id LIMIT ?1");
      st.bind(1, static_cast<int64_t>(std::max<size_t>(batch, 1)));
      while (st.step()) {
        ids.push_back(st.i64(0));
        texts.push_back(passage_text(st.text(1), st.text(2)));
      }
    }
    if (ids.empty()) return done;
    auto vecs = embedder_->embed(texts, false);
    EDGERAG_CHECK(vecs.size() == ids.size(), "embedder returned {} vectors for {} texts", vecs.size(), ids.size());
    Transaction tx(*db_);
    if (meta("embedder").empty()) {
      set_meta("embedder", embedder_->name());
      set_meta("dim", std::to_string(embedder_->dim()));
    }
    auto ins = db_->prepare("INSERT INTO vectors(chunk_id, v) VALUES(?1, ?2)");
    for (size_t i = 0; i < ids.size(); ++i) {
      EDGERAG_CHECK(vecs[i].size() == static_cast<size_t>(embedder_->dim()), "embedder returned a vector of {} floats",
                    vecs[i].size());
      ins.bind(1, ids[i]).bind_blob(2, vecs[i].data(), vecs[i].size() * sizeof(float)).run();
    }
    bump_vector_generation(*db_);
    tx.commit();
    done += ids.size();
  }
}

IngestReport IndexImpl::start_ingest(const IngestOptions& options) {
  require_writable();
  if (!embedder_ && !meta("embedder").empty())
    fail("index {} holds dense vectors of {}: set that embedder to ingest into it", dir_, meta("embedder"));
  IngestReport report;
  // Chunks still without vectors (an embedder added to a BM25-only index) get them first.
  report.chunks_written = backfill_vectors(std::max<size_t>(options.embed_batch, 64));
  return report;
}

void IndexImpl::finish_ingest() {
  if (auto* v = vectors()) v->sync(true);
  db_->exec("PRAGMA wal_checkpoint(PASSIVE)");
}

IngestReport IndexImpl::ingest(const std::vector<std::string>& paths, const IngestOptions& options,
                               const ProgressFn& progress) {
  std::lock_guard lock(mu_);
  Timer timer;
  IngestReport report = start_ingest(options);
  auto files = list_files(paths, dir_, report);
  report.failed = report.failures.size();
  report.files_seen = files.size();
  ReadOptions ropt{options.ocr, options.ocr_language, options.limits};
  TokenCounter count = token_counter();
  std::vector<PendingDoc> pending;
  size_t pending_chunks = 0;
  uint64_t pending_bytes = 0;
  IngestProgress prog;
  prog.files_total = files.size();
  auto stage = [&](IngestStage st) {
    prog.stage = st;
    prog.chunks = report.chunks_written;
    prog.seconds = timer.seconds();
    if (progress) progress(prog);
  };
  // Embedding and writing happen per batch of files, announced as the "embed" stage.
  auto flush_pending = [&] {
    if (!pending.empty()) stage(IngestStage::Embed);
    flush(pending, options.embed_batch, report);
  };
  for (const auto& path : files) {
    prog.current = path;
    try {
      fs::path p(path);
      auto size = static_cast<int64_t>(fs::file_size(p));
      int64_t mtime = mtime_ns(p);
      auto existing = find_document(options.collection, path);
      if (existing && existing->size == size && existing->mtime == mtime) {
        ++report.unchanged;
      } else if (detect_file_type(path).empty()) {
        throw Error("unsupported file type");
      } else {
        if (static_cast<uint64_t>(size) > options.limits.file_bytes)
          fail("file of {} bytes is over the limit of {} (limit file_bytes)", size, options.limits.file_bytes);
        std::string bytes = read_file(path, options.limits.file_bytes);
        std::string hash = sha256_hex(bytes);
        if (existing && existing->hash == hash) {  // touched, not changed
          db_->prepare("UPDATE documents SET mtime = ?1 WHERE id = ?2").bind(1, mtime).bind(2, existing->id).run();
          ++report.unchanged;
        } else {
          stage(IngestStage::Parse);
          ParsedDocument parsed = read_document(path, bytes, ropt);
          stage(IngestStage::Chunk);
          PendingDoc d{options.collection, path, parsed.file_type, parsed.title, hash, size, mtime, true,
                       existing ? existing->id : 0, chunk_document(parsed, options.chunk, count)};
          pending_chunks += d.chunks.size();
          for (const auto& c : d.chunks) pending_bytes += c.text.size();
          pending.push_back(std::move(d));
        }
      }
    } catch (const std::exception& e) {
      ++report.failed;
      report.failures.emplace_back(path, e.what());
    }
    if (pending_chunks >= std::max<size_t>(options.embed_batch, 64) || pending.size() >= 64 ||
        pending_bytes >= options.batch_bytes) {
      flush_pending();
      pending_chunks = 0;
      pending_bytes = 0;
    }
    ++prog.files_done;
    stage(IngestStage::Done);
  }
  flush_pending();
  if (options.prune) {
    std::vector<int64_t> gone;
    auto st = db_->prepare("SELECT id, path FROM documents WHERE collection = ?1 AND is_file = 1");
    st.bind(1, options.collection);
    while (st.step())
      if (!fs::exists(st.text(1))) gone.push_back(st.i64(0));
    for (int64_t id : gone) {
      Transaction tx(*db_);
      delete_document(id);
      tx.commit();
      ++report.removed;
    }
  }
  finish_ingest();
  report.seconds = timer.seconds();
  prog.chunks = report.chunks_written;
  return report;
}

IngestReport IndexImpl::ingest_texts(const std::vector<TextDocument>& docs, const IngestOptions& options,
                                     const ProgressFn& progress) {
  std::lock_guard lock(mu_);
  Timer timer;
  IngestReport report = start_ingest(options);
  report.files_seen = docs.size();
  for (const auto& doc : docs) EDGERAG_CHECK(!doc.key.empty(), "text document without a key");
  TokenCounter count = token_counter();
  // Without an embedder nothing else is shared between threads: documents are
  // hashed, chunked and their terms counted on the ingest threads, one batch
  // ahead of the writer, in transactions of up to batch_bytes of text (larger
  // transactions spread the postings' per-term row updates over more chunks).
  // With one, everything runs here, up to 1,024 documents a transaction (the
  // embedder is called embed_batch chunks at a time).
  const bool parallel = !embedder_;
  ThreadPool& pool = ingest_pool();  // made here: its gatherers read the connection
  auto window_end = [&](size_t begin) {
    size_t end = begin;
    uint64_t bytes = 0;
    const size_t max_docs = parallel ? SIZE_MAX : 1024;
    while (end < docs.size() && end - begin < max_docs && (end == begin || bytes < options.batch_bytes))
      bytes += docs[end++].text.size();
    return end;
  };
  // A window's documents, chunked unless the stored copy had the same hash (a
  // hint read before the previous window was written: write() checks again).
  struct Window {
    size_t begin = 0, end = 0;
    std::vector<std::string> hashes;
    std::vector<std::optional<Existing>> existing;
    std::vector<char> made;           // chunked: pending holds it
    std::vector<PendingDoc> pending;  // the documents made, in order
    TermRuns runs;
  };
  auto pend = [&](const TextDocument& doc, const std::string& hash, int64_t replaces) {
    ParsedDocument parsed;
    parsed.file_type = doc.file_type;
    parsed.title = doc.title;
    Block b;
    b.text = doc.text;
    b.headings = doc.title;
    b.byte_end = static_cast<int64_t>(doc.text.size());
    parsed.blocks.push_back(std::move(b));
    return PendingDoc{options.collection, doc.key, doc.file_type, doc.title, hash,
                      static_cast<int64_t>(doc.text.size()), 0, false, replaces,
                      chunk_document(parsed, options.chunk, count)};
  };
  auto prepare = [&](Window& w) {  // no database access: runs beside the writer
    const size_t n = w.end - w.begin;
    w.hashes.resize(n);
    w.made.assign(n, 0);
    std::vector<std::optional<PendingDoc>> made(n);
    auto work = [&](int, size_t a, size_t b) {
      for (size_t i = a; i < b; ++i) {
        const TextDocument& doc = docs[w.begin + i];
        w.hashes[i] = sha256_hex(doc.title + '\0' + doc.text);
        if (!w.existing[i] || w.existing[i]->hash != w.hashes[i]) {
          made[i] = pend(doc, w.hashes[i], 0);
          w.made[i] = 1;
        }
      }
    };
    if (parallel) pool.parallel_for(n, work);
    else work(0, 0, n);
    for (auto& d : made)
      if (d) w.pending.push_back(std::move(*d));
    w.runs = gather_terms(w.pending, parallel);
  };
  auto open_window = [&](size_t begin) {
    Window w;
    w.begin = begin;
    w.end = window_end(begin);
    for (size_t i = w.begin; i < w.end; ++i) w.existing.push_back(find_document(options.collection, docs[i].key));
    return w;
  };
  auto write = [&](Window& w) {
    // The hints again, now that every earlier window is written: a key given
    // twice in one call may have changed under them (its terms are then counted here).
    // A key given twice in one window keeps its last copy.
    bool stale = false;
    std::vector<PendingDoc> pending;
    std::unordered_map<std::string_view, size_t> at;  // key -> its place in pending
    for (size_t i = w.begin, p = 0; i < w.end; ++i) {
      const std::string& hash = w.hashes[i - w.begin];
      const bool made = w.made[i - w.begin];
      auto now = find_document(options.collection, docs[i].key);
      const bool changed = !now || now->hash != hash;
      stale |= made != changed;
      if (changed) {
        PendingDoc d = made ? std::move(w.pending[p]) : pend(docs[i], hash, 0);
        d.replaces = now ? now->id : 0;
        auto [it, first] = at.emplace(docs[i].key, pending.size());
        if (first) {
          pending.push_back(std::move(d));
        } else {
          pending[it->second] = std::move(d);
          stale = true;
        }
      } else {
        ++report.unchanged;
      }
      p += made;
    }
    write_batch(pending, stale ? gather_terms(pending, false) : std::move(w.runs), options.embed_batch, report);
    IngestProgress prog;
    prog.files_total = docs.size();
    prog.files_done = w.end;
    prog.chunks = report.chunks_written;
    prog.seconds = timer.seconds();
    if (progress) progress(prog);
  };
  if (!docs.empty()) {
    Window cur = open_window(0);
    prepare(cur);
    while (true) {
      std::optional<Window> next;
      std::future<void> ready;
      if (cur.end < docs.size()) {
        next = open_window(cur.end);
        ready = std::async(parallel ? std::launch::async : std::launch::deferred, [&] { prepare(*next); });
      }
      write(cur);
      if (!next) break;
      ready.get();
      cur = std::move(*next);
    }
  }
  finish_ingest();
  report.seconds = timer.seconds();
  return report;
}

bool IndexImpl::remove(const std::string& collection, const std::string& path) {
  std::lock_guard lock(mu_);
  require_writable();
  auto existing = find_document(collection, path);
  if (!existing) return false;
  {
    Transaction tx(*db_);
    delete_document(existing->id);
    tx.commit();
  }
  finish_ingest();
  return true;
}

int64_t IndexImpl::collection_id(const std::string& name) {
  std::lock_guard lock(mu_);
  require_writable();
  auto ins = db_->prepare("INSERT OR IGNORE INTO collections(name) VALUES (?1)");
  ins.bind(1, name);
  ins.step();
  auto st = db_->prepare("SELECT id FROM collections WHERE name = ?1");
  st.bind(1, name);
  EDGERAG_CHECK(st.step(), "index: collection '{}' has no id", name);
  return st.i64(0);
}

std::vector<CollectionInfo> IndexImpl::collections() {
  std::lock_guard lock(mu_);
  auto st = db_->prepare(
      "SELECT n.name, count(d.id), coalesce(sum(d.n_chunks), 0) FROM "
      "(SELECT name FROM collections UNION SELECT DISTINCT collection FROM documents) n "
      "LEFT JOIN documents d ON d.collection = n.name GROUP BY n.name ORDER BY n.name");
  std::vector<CollectionInfo> out;
  while (st.step())
    out.push_back({st.text(0), static_cast<size_t>(st.i64(1)), static_cast<size_t>(st.i64(2))});
  return out;
}

std::vector<DocumentInfo> IndexImpl::documents(const std::string& collection, size_t limit) {
  std::lock_guard lock(mu_);
  auto st = db_->prepare(
      "SELECT path, file_type, title, size, n_chunks, ingested_at FROM documents WHERE collection = ?1 "
      "ORDER BY path LIMIT ?2");
  st.bind(1, collection).bind(2, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
  std::vector<DocumentInfo> out;
  while (st.step())
    out.push_back({st.text(0), st.text(1), st.text(2), st.i64(3), static_cast<size_t>(st.i64(4)), st.i64(5)});
  return out;
}

size_t IndexImpl::remove_collection(const std::string& name) {
  std::lock_guard lock(mu_);
  require_writable();
  std::vector<int64_t> ids;
  auto st = db_->prepare("SELECT id FROM documents WHERE collection = ?1");
  st.bind(1, name);
  while (st.step()) ids.push_back(st.i64(0));
  {
    Transaction tx(*db_);
    for (int64_t id : ids) delete_document(id);
    db_->prepare("DELETE FROM collections WHERE name = ?1").bind(1, name).run();
    tx.commit();
  }
  finish_ingest();
  return ids.size();
}

IndexStats IndexImpl::stats() {
  std::lock_guard lock(mu_);
  IndexStats s;
  auto count = [&](const char* sql) {
    auto st = db_->prepare(sql);
    return st.step() ? static_cast<size_t>(st.i64(0)) : size_t{0};
  };
  s.documents = count("SELECT count(*) FROM documents");
  s.chunks = count("SELECT count(*) FROM chunks");
  s.vectors = count("SELECT count(*) FROM vectors");
  s.embedder = meta("embedder");
  s.dim = std::atoi(meta("dim", "0").c_str());
  auto st = db_->prepare("SELECT DISTINCT collection FROM documents ORDER BY collection");
  while (st.step()) s.collections.push_back(st.text(0));
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec))
    if (e.is_regular_file(ec)) s.bytes_on_disk += e.file_size(ec);
  return s;
}

}  // namespace edgerag::rag
