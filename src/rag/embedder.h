// Model interfaces retrieval depends on, so search and ingest never see BERT
// internals: an Embedder turns texts into L2-normalized vectors (with the
// model's own query/passage conventions) and counts tokens for chunk budgets;
// a Reranker scores (query, passage) pairs with a cross-encoder.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace edgerag::rag {

class Embedder {
 public:
  virtual ~Embedder() = default;
  // Identifies the model (recorded in the index so search reuses the same one).
  virtual std::string name() const = 0;
  virtual int dim() const = 0;
  // One L2-normalized vector of dim() floats per text; `is_query` selects the
  // model's query prefix instead of its passage prefix.
  virtual std::vector<std::vector<float>> embed(const std::vector<std::string>& texts, bool is_query) = 0;
  // Tokens `text` takes in this model's tokenizer (no special tokens).
  virtual size_t count_tokens(std::string_view text) const = 0;
};

class Reranker {
 public:
  virtual ~Reranker() = default;
  virtual std::string name() const = 0;
  // Relevance of each passage to the query; higher is better.
  virtual std::vector<float> score(const std::string& query, const std::vector<std::string>& passages) = 0;
};

// Adapters over the GGUF BERT encoder (src/model): `model` is a resolved path.
std::shared_ptr<Embedder> load_embedder(const std::string& model);
std::shared_ptr<Reranker> load_reranker(const std::string& model);

}  // namespace edgerag::rag
