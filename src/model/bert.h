// BERT-family encoders from GGUF (`general.architecture = bert`: BERT, MiniLM,
// bge, gte, e5, cross-encoder rerankers): token + token-type + learned absolute
// position embeddings, post-norm LayerNorm blocks with biased non-causal
// attention and a GELU FFN. A batch packs its inputs back to back (no padding):
// every matmul runs on all tokens at once and attention stays inside each
// input's own span.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "format/gguf.h"
#include "tensor/ops.h"
#include "util/thread_pool.h"

namespace edgerag {

// Values of `bert.pooling_type` (llama.cpp's llama_pooling_type).
enum class Pooling : int32_t { None = 0, Mean = 1, Cls = 2, Last = 3, Rank = 4 };
const char* pooling_name(Pooling p);

struct BertHParams {
  int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_ff = 0;
  int64_t n_ctx = 0;          // learned positions
  int64_t n_token_types = 0;  // rows of token_types.weight
  int64_t n_cls_out = 0;      // rank head outputs (0 without a head)
  float eps = 1e-12f;
  Pooling pooling = Pooling::Mean;
};

// One input of a packed batch. Empty type_ids means type 0 everywhere.
struct BertInput {
  std::vector<int32_t> ids;
  std::vector<int32_t> type_ids;
};

class BertModel {
 public:
  // Opens `path` (mmapped; weights are not copied). Throws edgerag::Error for a
  // non-BERT file, missing tensors or inconsistent shapes.
  static std::unique_ptr<BertModel> load(const std::string& path);
  ~BertModel();

  const BertHParams& hparams() const { return hp_; }
  const GgufFile& gguf() const { return *file_; }

  // Final hidden states of all tokens of all inputs, packed in input order:
  // [sum of lengths, n_embd]. Read-only: safe to call concurrently with
  // distinct pools (or pool == nullptr).
  std::vector<float> forward(const std::vector<BertInput>& batch, ThreadPool* pool) const;

  // One output per input: the pooled hidden state (n_embd floats, not
  // normalized) for Mean/Cls/Last, or the n_cls_out raw scores for Rank.
  std::vector<std::vector<float>> encode(const std::vector<BertInput>& batch, ThreadPool* pool) const;

 private:
  struct Layer;
  BertModel() = default;
  std::vector<float> rank_head(const float* h_cls) const;

  std::unique_ptr<GgufFile> file_;
  BertHParams hp_;
  Matrix tok_embd_, type_embd_, pos_embd_;
  const float* embd_norm_w_ = nullptr;
  const float* embd_norm_b_ = nullptr;
  std::vector<Layer> layers_;
  Matrix cls_, cls_out_;  // rank head; rows == 0 when absent
  const float* cls_b_ = nullptr;
  const float* cls_out_b_ = nullptr;
};

// Pools one input's hidden states [n_tokens, n_embd] (Mean averages every token,
// [CLS]/[SEP] included, as llama.cpp does). Throws for None and Rank.
std::vector<float> pool_hidden(Pooling p, const float* hidden, int64_t n_tokens, int64_t n_embd);

// In-place L2 normalization (double accumulator, as llama.cpp's
// common_embd_normalize); a zero vector stays zero.
void l2_normalize(std::vector<float>& v);

}  // namespace edgerag
