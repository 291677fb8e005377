#include "rag/index_snapshot.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>

#include "rag/sqlite_db.h"
#include "rag/vector_index.h"
#include "util/error.h"
#include "util/timer.h"

namespace fs = std::filesystem;

namespace edgerag::rag {
namespace {

// An open file descriptor, closed with the object.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// The graph files of `dir` by generation, opened now: the writer replaces a
// graph by rename and then deletes the older one, and an open file keeps its
// bytes whatever happens to its name afterwards.
std::map<int64_t, Fd> open_graphs(const std::string& dir) {
  std::map<int64_t, Fd> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("vectors-", 0) != 0 || e.path().extension() != ".hnsw") continue;
    Fd fd(::open(e.path().c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.fd >= 0) out.emplace(std::atoll(name.c_str() + 8), std::move(fd));  // gone since listed: skipped
  }
  return out;
}

void copy_fd(int from, const std::string& to) {
  Fd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (out.fd < 0) fail("cannot create {}: {}", to, std::strerror(errno));
  char buf[1 << 16];
  for (off_t at = 0;;) {
    const ssize_t n = ::pread(from, buf, sizeof buf, at);
    if (n < 0) fail("cannot read a graph file: {}", std::strerror(errno));
    if (n == 0) break;
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(out.fd, buf + done, static_cast<size_t>(n - done));
      if (w < 0) fail("cannot write {}: {}", to, std::strerror(errno));
      done += w;
    }
    at += n;
  }
}

void fsync_path(const std::string& path, int flags) {
  Fd fd(::open(path.c_str(), flags | O_CLOEXEC));
  if (fd.fd < 0 || ::fsync(fd.fd) != 0) fail("cannot sync {}: {}", path, std::strerror(errno));
}

int64_t meta_int(Db& db, const char* key) {
  auto st = db.prepare("SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?1");
  st.bind(1, std::string(key));
  return st.step() ? st.i64(0) : 0;
}

size_t count(Db& db, const char* table) {
  auto st = db.prepare(fmt::format("SELECT count(*) FROM {}", table));
  return st.step() ? static_cast<size_t>(st.i64(0)) : 0;
}

// Copies the source database into `dst_path` as one commit and the graph files
// open before that commit was fixed that are not newer than it; the commit's
// vector generation.
int64_t copy_at_one_commit(const std::string& index_dir, const std::string& tmp) {
  const std::map<int64_t, Fd> graphs = open_graphs(index_dir);  // before the commit is fixed: none is newer
  Db src(index_dir + "/index.sqlite", false);
  src.exec("BEGIN");  // deferred: the first read fixes the commit every later read sees
  int64_t gen = 0;
  try {
    auto st = src.prepare("SELECT value FROM meta WHERE key = 'schema_version'");
    if (!st.step()) fail("{} is not an edgerag index (no schema)", index_dir);
    gen = meta_int(src, "vec_gen");
    Db dst(tmp + "/index.sqlite", true);
    // Inside the open read transaction the backup copies that commit, in one step.
    sqlite3_backup* b = sqlite3_backup_init(dst.handle(), "main", src.handle(), "main");
    if (!b) fail("cannot start the backup of {}: {}", index_dir, sqlite3_errmsg(dst.handle()));
    const int rc = sqlite3_backup_step(b, -1);
    sqlite3_backup_finish(b);
    if (rc != SQLITE_DONE) fail("backup of {} failed: {}", index_dir, sqlite3_errstr(rc));
    dst.exec("PRAGMA journal_mode=DELETE");  // readers need no -wal/-shm next to a published copy
  } catch (...) {
    sqlite3_exec(src.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  src.exec("COMMIT");
  // Graphs at most as new as the commit; VectorIndex::sync brings the newest to it.
  for (const auto& [g, fd] : graphs)
    if (g <= gen) copy_fd(fd.fd, VectorIndex::graph_path(tmp, g));
  return gen;
}

// Renames `tmp` to `out`: never over an existing folder unless `replace`,
// which swaps the two atomically and removes the old copy.
void publish(const std::string& tmp, const std::string& out, bool replace) {
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, out.c_str(), RENAME_NOREPLACE) == 0) return;
  if (errno != EEXIST) fail("cannot rename {} to {}: {}", tmp, out, std::strerror(errno));
  if (!replace) fail("{} exists (replace it with --force)", out);
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, out.c_str(), RENAME_EXCHANGE) != 0)
    fail("cannot replace {}: {}", out, std::strerror(errno));
  std::error_code ec;
  fs::remove_all(tmp, ec);  // the old copy, now under the temporary name
}

}  // namespace

SnapshotReport snapshot_index(const std::string& index_dir, const std::string& out_arg, const SnapshotOptions& options) {
  Timer timer;
  if (!fs::exists(index_dir + "/index.sqlite")) fail("no index at {}", index_dir);
  const fs::path out = fs::absolute(out_arg).lexically_normal();
  std::error_code ec;
  if (fs::equivalent(index_dir, out, ec)) fail("the snapshot cannot replace the index it copies ({})", out.string());
  if (fs::exists(out) && !options.replace) fail("{} exists (replace it with --force)", out.string());
  if (out.filename().empty()) fail("snapshot folder {} has no name", out_arg);
  fs::create_directories(out.parent_path());
  // Assembled next to `out` (same file system, so the rename is atomic) under a hidden name.
  std::string tmp = (out.parent_path() / ("." + out.filename().string() + ".tmp-XXXXXX")).string();
  if (!::mkdtemp(tmp.data())) fail("cannot create a folder next to {}: {}", out.string(), std::strerror(errno));
  struct Cleanup {
    std::string dir;
    ~Cleanup() {
      std::error_code e;
      if (!dir.empty()) fs::remove_all(dir, e);
    }
  } cleanup{tmp};

  SnapshotReport r;
  r.vector_generation = copy_at_one_commit(index_dir, tmp);
  {
    Db db(tmp + "/index.sqlite", true);
    r.documents = count(db, "documents");
    r.chunks = count(db, "chunks");
    r.vectors = count(db, "vectors");
    if (const VectorIndexParams p = VectorIndex::recorded_params(db); p.dim > 0) {
      VectorIndex v(db, tmp, p);
      v.sync(true);  // the graph of exactly this generation (or none below exact_below vectors)
    }
  }
  for (const auto& e : fs::directory_iterator(tmp)) {
    r.graph = r.graph || e.path().extension() == ".hnsw";
    r.bytes += e.file_size();
    fsync_path(e.path().string(), O_RDONLY);
  }
  fsync_path(tmp, O_RDONLY | O_DIRECTORY);
  publish(tmp, out.string(), options.replace);
  cleanup.dir.clear();
  fsync_path(out.parent_path().string(), O_RDONLY | O_DIRECTORY);
  r.dir = out.string();
  r.seconds = timer.seconds();
  return r;
}

}  // namespace edgerag::rag
