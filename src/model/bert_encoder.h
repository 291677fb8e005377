// Text in, vectors / relevance scores out: an encoder model (bert or
// modern-bert, model/bert.h) plus its tokenizer,
// batching and the query/passage conventions of the common embedding models.
// This is what dense retrieval and reranking call.
#pragma once
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "model/bert.h"
#include "tokenizer/tokenizer.h"
#include "util/thread_pool.h"

namespace edgerag {

// What a text is, for models trained with role prefixes (e5, bge).
enum class TextRole { Plain, Query, Passage };

// The role prefixes a model family was trained with, from the model's name (e5:
// "query: " / "passage: "; bge-*-en: its retrieval instruction for queries; else none).
struct RolePrefixes {
  std::string query, passage;
};
RolePrefixes role_prefixes(const GgufFile& f);

struct EncoderOptions {
  int batch_size = 32;   // inputs per packed forward pass
  int n_threads = 0;     // 0 = default_thread_count()
  // Type id of the second segment of a rerank pair: trained cross-encoders use 1;
  // llama.cpp feeds 0 to both segments (set true to reproduce its scores).
  bool token_type_zero = false;
  // Role prefixes; "auto" picks them from the model name (e5: "query: " /
  // "passage: "; bge-*-en: the bge retrieval instruction for queries).
  std::string query_prefix = "auto";
  std::string passage_prefix = "auto";
  // Where the model runs (BertModel::load); the CLI's --device / --gpu-layers set the default.
  ComputeOptions compute = default_compute();
};

class Encoder {
 public:
  // Loads model and tokenizer from one GGUF file. Throws edgerag::Error.
  static std::unique_ptr<Encoder> load(const std::string& path, EncoderOptions opts = {});
  ~Encoder();

  int dim() const;                // embedding size
  bool is_reranker() const;       // pooling == Rank (has a classifier head)
  int max_tokens() const;         // longer inputs are truncated to this
  const BertModel& model() const { return *model_; }
  const Tokenizer& tokenizer() const { return *tok_; }
  const std::string& query_prefix() const { return query_prefix_; }
  const std::string& passage_prefix() const { return passage_prefix_; }

  // One L2-normalized vector per text, in order. Throws for a reranker model.
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts,
                                        TextRole role = TextRole::Plain) const;
  // Token ids the model sees for `text` ([CLS] ... [SEP], prefix and truncation applied).
  std::vector<int32_t> tokenize(const std::string& text, TextRole role = TextRole::Plain) const;

  // One raw relevance score per document, in input order (higher = more
  // relevant). Throws unless the model is a reranker.
  std::vector<float> rerank(const std::string& query, const std::vector<std::string>& docs) const;
  // The [CLS] query [SEP] doc [SEP] input of one pair (truncated to max_tokens()).
  BertInput pair_input(const std::string& query, const std::string& doc) const;

  // Pooled outputs of already tokenized inputs, at most `batch_size` inputs
  // (and 16,384 tokens, unless one input is longer) per forward pass.
  std::vector<std::vector<float>> run(const std::vector<BertInput>& inputs) const;

 private:
  Encoder() = default;

  EncoderOptions opts_;
  std::unique_ptr<BertModel> model_;
  std::unique_ptr<Tokenizer> tok_;
  std::string query_prefix_, passage_prefix_;
  std::unique_ptr<ThreadPool> pool_;
  mutable std::mutex mu_;  // one forward pass at a time on the shared pool
};

}  // namespace edgerag
