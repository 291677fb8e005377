#include "rag/sqlite_db.h"

#include <sqlite3.h>

#include "util/deadline.h"
#include "util/error.h"

namespace edgerag::rag {

Stmt::Stmt(sqlite3* db, std::string_view sql) : db_(db) {
  if (sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &st_, nullptr) != SQLITE_OK)
    fail("sqlite: {} (in: {})", sqlite3_errmsg(db), sql);
}
Stmt::~Stmt() { sqlite3_finalize(st_); }
Stmt::Stmt(Stmt&& o) noexcept : db_(o.db_), st_(o.st_) { o.st_ = nullptr; }

static void check_bind(sqlite3* db, int rc) {
  if (rc != SQLITE_OK) fail("sqlite bind: {}", sqlite3_errmsg(db));
}
Stmt& Stmt::bind(int i, int64_t v) {
  check_bind(db_, sqlite3_bind_int64(st_, i, v));
  return *this;
}
Stmt& Stmt::bind(int i, double v) {
  check_bind(db_, sqlite3_bind_double(st_, i, v));
  return *this;
}
Stmt& Stmt::bind(int i, std::string_view v) {
  check_bind(db_, sqlite3_bind_text64(st_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}
Stmt& Stmt::bind_blob(int i, const void* data, size_t bytes) {
  check_bind(db_, sqlite3_bind_blob64(st_, i, data, bytes, SQLITE_TRANSIENT));
  return *this;
}

bool Stmt::step() {
  int rc = sqlite3_step(st_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string msg = fmt::format("sqlite: {} (in: {})", sqlite3_errmsg(db_), sqlite3_sql(st_));
  sqlite3_reset(st_);  // a kept statement (Db::cached) stays usable
  // Interrupted at the deadline; inside an FTS5 auxiliary function (lucene_bm25)
  // the interrupt of its nested reads surfaces as a plain SQLITE_ERROR.
  if (rc == SQLITE_INTERRUPT || deadline_passed()) throw DeadlineExceeded("timed out in an index query");
  throw Error(msg);
}
void Stmt::run() {
  while (step()) {
  }
  reset();
}
void Stmt::reset() {
  sqlite3_reset(st_);
  sqlite3_clear_bindings(st_);
}

int64_t Stmt::i64(int col) const { return sqlite3_column_int64(st_, col); }
double Stmt::f64(int col) const { return sqlite3_column_double(st_, col); }
std::string Stmt::text(int col) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st_, col));
  return p ? std::string(p, static_cast<size_t>(sqlite3_column_bytes(st_, col))) : std::string();
}
const void* Stmt::blob(int col, size_t* bytes) const {
  const void* p = sqlite3_column_blob(st_, col);
  *bytes = static_cast<size_t>(sqlite3_column_bytes(st_, col));
  return p;
}
bool Stmt::is_null(int col) const { return sqlite3_column_type(st_, col) == SQLITE_NULL; }

Db::Db(const std::string& path, bool writable) : path_(path) {
  int flags = writable ? (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) : SQLITE_OPEN_READONLY;
  if (sqlite3_open_v2(path.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    fail("cannot open index database {}: {}", path, msg);
  }
  // Readers wait for a writer's checkpoint instead of failing with SQLITE_BUSY.
  sqlite3_busy_timeout(db_, 10000);
  // A statement run inside a request stops at its deadline (util/deadline.h):
  // an exhaustive FTS5 scan or a filter over a large index is one step.
  sqlite3_progress_handler(db_, 4096, [](void*) { return deadline_passed() ? 1 : 0; }, nullptr);
}
Db::~Db() {
  cached_.clear();
  sqlite3_close(db_);
}

Stmt& Db::cached(std::string_view sql) {
  auto it = cached_.find(sql);
  if (it == cached_.end()) it = cached_.emplace(sql, prepare(sql)).first;
  return it->second;
}

void Db::exec(std::string_view sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, std::string(sql).c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    if (sqlite3_errcode(db_) == SQLITE_INTERRUPT) throw DeadlineExceeded("timed out in an index query");
    fail("sqlite {}: {} (in: {})", path_, msg, sql);
  }
}
int64_t Db::last_insert_id() const { return sqlite3_last_insert_rowid(db_); }

Transaction::Transaction(Db& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
Transaction::~Transaction() {
  if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
}
void Transaction::commit() {
  db_.exec("COMMIT");
  done_ = true;
}

ReadSnapshot::ReadSnapshot(Db& db) : db_(db) { db_.exec("SAVEPOINT read_snapshot"); }
ReadSnapshot::~ReadSnapshot() { sqlite3_exec(db_.handle(), "RELEASE read_snapshot", nullptr, nullptr, nullptr); }

}  // namespace edgerag::rag
