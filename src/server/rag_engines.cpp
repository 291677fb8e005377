#include "server/rag_engines.h"

#include <filesystem>

#include "rag/answer_cache.h"
#include "server/api_error.h"

namespace fs = std::filesystem;

namespace edgerag::server {
namespace {

// The folder `dir` names now (symlinks followed); `dir` itself while it does
// not exist yet (a writer creates it on the first upload).
std::string resolve(const std::string& dir) {
  std::error_code ec;
  const fs::path p = fs::canonical(dir, ec);
  return ec ? dir : p.string();
}

}  // namespace

RagEngines::RagEngines(std::string index_dir, RagEncoders encoders, size_t readers, bool read_only)
    : dir_(std::move(index_dir)), given_(std::move(encoders)), max_idle_(readers), read_only_(read_only),
      served_(resolve(dir_)), cache_(std::make_shared<rag::AnswerCache>()) {
  embedder_ = given_.embedder;
  reranker_ = given_.reranker;
}

std::string RagEngines::embedder_path() const {
  if (!given_.embed_path.empty()) return given_.embed_path;
  std::error_code ec;
  if (!fs::exists(served_ + "/index.sqlite", ec)) return {};
  const std::string recorded = rag::Index::open(served_)->recorded_embedder();  // a read connection: cheap
  return fs::is_regular_file(recorded, ec) ? recorded : std::string();
}

std::shared_ptr<rag::Embedder> RagEngines::embedder() { return models().embedder; }

std::string RagEngines::served_dir() {
  std::lock_guard lk(mu_);
  return served_;
}

rag::AnswerModels RagEngines::models() {
  std::lock_guard lk(mu_);
  // Loaded once per model: every write reopens the engines, which would
  // otherwise each load the index's recorded embedder again.
  if (!given_.embedder) {
    const std::string embed = embedder_path();
    if (embed != embedder_path_) {
      embedder_ = embed.empty() ? nullptr : rag::load_embedder(embed);
      embedder_path_ = embed;
    }
  }
  if (!reranker_ && !given_.rerank_path.empty()) reranker_ = rag::load_reranker(given_.rerank_path);
  // No LLM here: generation runs on the served LLM's scheduler.
  return {.index_dir = served_, .embedder = embedder_, .reranker = reranker_, .cache = cache_};
}

RagEngines::Lease RagEngines::acquire() {
  uint64_t generation;
  {
    std::lock_guard lk(mu_);
    generation = generation_;
    if (!idle_.empty()) {
      auto e = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(e), generation);
    }
  }
  return Lease(*this, rag::AnswerEngine::open(models()), generation);  // opened outside the lock
}

void RagEngines::release(std::unique_ptr<rag::AnswerEngine> e, uint64_t generation) {
  std::unique_ptr<rag::AnswerEngine> drop;  // closed outside the lock
  std::lock_guard lk(mu_);
  if (generation == generation_ && idle_.size() < max_idle_)
    idle_.push_back(std::move(e));
  else
    drop = std::move(e);
}

void RagEngines::require_writable() const {
  if (read_only_)
    throw ApiError(403, "permission_error",
                   "this server serves a read-only index replica (serve --read-only): documents and collections "
                   "are changed on the writer node and published as a snapshot",
                   "", "read_only");
}

void RagEngines::write(const std::function<void(rag::Index&)>& fn) {
  require_writable();
  rag::AnswerModels m = models();
  std::lock_guard w(write_mu_);
  struct Bump {  // readers reopen even when fn throws halfway
    RagEngines& p;
    ~Bump() {
      std::vector<std::unique_ptr<rag::AnswerEngine>> stale;
      std::lock_guard lk(p.mu_);
      ++p.generation_;
      stale.swap(p.idle_);
    }
  } bump{*this};
  auto index = rag::Index::open(dir_, {.writable = true});
  if (m.embedder) index->set_embedder(m.embedder);
  fn(*index);
}

void RagEngines::read(const std::function<void(rag::Index&)>& fn) {
  if (!read_only_) return write(fn);  // the writer's connection (it creates a missing index)
  auto index = rag::Index::open(served_dir());
  fn(*index);
}

rag::IndexStats RagEngines::reload() {
  std::lock_guard w(write_mu_);  // never between a writer's open and its commit
  std::error_code ec;
  const fs::path target = fs::canonical(dir_, ec);
  if (ec) fail("cannot resolve {}: {}", dir_, ec.message());
  auto index = rag::Index::open(target.string());  // schema, version and text normalization checked
  // A given embedder must match the new index's vectors (the recorded one is loaded on first use).
  if (given_.embedder || !given_.embed_path.empty()) index->set_embedder(embedder());
  rag::IndexStats stats = index->stats();
  std::vector<std::unique_ptr<rag::AnswerEngine>> stale;  // closed outside the lock
  std::lock_guard lk(mu_);
  served_ = target.string();
  ++generation_;  // leases of the old index are dropped when they end
  stale.swap(idle_);
  cache_ = std::make_shared<rag::AnswerCache>();
  return stats;
}

}  // namespace edgerag::server
