// Embedder / Reranker over the GGUF BERT Encoder (src/model/bert_encoder.h).
#include <filesystem>

#include "model/bert_encoder.h"
#include "rag/embedder.h"
#include "util/error.h"

namespace edgerag::rag {
namespace {

// The canonical path names the model, so an index records exactly which file built it.
std::string model_name(const std::string& path) {
  std::error_code ec;
  auto p = std::filesystem::weakly_canonical(path, ec);
  return ec ? path : p.string();
}

class EncoderEmbedder final : public Embedder {
 public:
  explicit EncoderEmbedder(const std::string& path) : name_(model_name(path)), enc_(Encoder::load(path)) {
    if (enc_->is_reranker()) fail("{} is a reranker (cross-encoder), not an embedding model", path);
  }
  std::string name() const override { return name_; }
  int dim() const override { return enc_->dim(); }
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts, bool is_query) override {
    return enc_->embed(texts, is_query ? TextRole::Query : TextRole::Passage);
  }
  size_t count_tokens(std::string_view text) const override { return enc_->tokenizer().encode(text, false).size(); }

 private:
  std::string name_;
  std::unique_ptr<Encoder> enc_;
};

class EncoderReranker final : public Reranker {
 public:
  explicit EncoderReranker(const std::string& path) : name_(model_name(path)), enc_(Encoder::load(path)) {
    if (!enc_->is_reranker()) fail("{} is an embedding model, not a reranker (cross-encoder)", path);
  }
  std::string name() const override { return name_; }
  std::vector<float> score(const std::string& query, const std::vector<std::string>& passages) override {
    return enc_->rerank(query, passages);
  }

 private:
  std::string name_;
  std::unique_ptr<Encoder> enc_;
};

}  // namespace

std::shared_ptr<Embedder> load_embedder(const std::string& model) { return std::make_shared<EncoderEmbedder>(model); }
std::shared_ptr<Reranker> load_reranker(const std::string& model) { return std::make_shared<EncoderReranker>(model); }

}  // namespace edgerag::rag
