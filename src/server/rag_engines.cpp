#include "server/rag_engines.h"

#include <filesystem>

#include "rag/answer_cache.h"

namespace edgerag::server {

RagEngines::RagEngines(std::string index_dir, std::string embed, std::string rerank, size_t readers)
    : dir_(std::move(index_dir)), embed_path_(std::move(embed)), rerank_path_(std::move(rerank)), max_idle_(readers),
      cache_(std::make_shared<rag::AnswerCache>()) {}

std::string RagEngines::embedder_path() const {
  if (!embed_path_.empty()) return embed_path_;
  std::error_code ec;
  if (!std::filesystem::exists(dir_ + "/index.sqlite", ec)) return {};
  const std::string recorded = rag::Index::open(dir_)->recorded_embedder();  // a read connection: cheap
  return std::filesystem::is_regular_file(recorded, ec) ? recorded : std::string();
}

std::shared_ptr<rag::Embedder> RagEngines::embedder() { return models().embedder; }

rag::AnswerModels RagEngines::models() {
  std::lock_guard lk(mu_);
  // Loaded once per model: every write reopens the engines, which would
  // otherwise each load the index's recorded embedder again.
  const std::string embed = embedder_path();
  if (embed != embedder_path_) {
    embedder_ = embed.empty() ? nullptr : rag::load_embedder(embed);
    embedder_path_ = embed;
  }
  if (!reranker_ && !rerank_path_.empty()) reranker_ = rag::load_reranker(rerank_path_);
  // No LLM here: generation runs on the served LLM's scheduler.
  return {.index_dir = dir_, .embedder = embedder_, .reranker = reranker_, .cache = cache_};
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

void RagEngines::write(const std::function<void(rag::Index&)>& fn) {
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

}  // namespace edgerag::server
