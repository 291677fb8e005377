// Encoder models from GGUF, two architectures behind one interface:
//  * `bert` (BERT, MiniLM, bge, gte, e5, cross-encoder rerankers): token +
//    token-type + learned absolute position embeddings, post-norm LayerNorm
//    blocks with biased non-causal attention and a GELU FFN;
//  * `modern-bert` (ModernBERT: gte-modernbert-base, ...; model/modernbert.cpp):
//    token embeddings + LayerNorm, pre-norm blocks with fused QKV, NEOX RoPE,
//    symmetric sliding-window attention on the local layers and global attention
//    every Nth layer, GeGLU (or SwiGLU) FFN, final LayerNorm.
// A batch packs its inputs back to back (no padding): every matmul runs on all
// tokens at once and attention stays inside each input's own span, computed in
// query tiles so memory grows linearly with the input length.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/device.h"
#include "format/gguf.h"
#include "model/bert_hparams.h"
#include "model/encoder_ops.h"
#include "tensor/ops.h"
#include "util/thread_pool.h"

namespace edgerag {

class BertModel {
 public:
  // Opens `path` (mmapped; weights are not copied). Throws edgerag::Error for a
  // file of another architecture, missing tensors or inconsistent shapes.
  // `compute` places it (backend/device.h): the CPU, or the embeddings and first
  // gpu_layers layers on the Vulkan backend (model/vulkan_encoder.h), the rest on
  // the CPU. Without it: default_compute().
  static std::unique_ptr<BertModel> load(const std::string& path);
  static std::unique_ptr<BertModel> load(const std::string& path, const ComputeOptions& compute);
  ~BertModel();

  const BertHParams& hparams() const { return hp_; }
  const GgufFile& gguf() const { return *file_; }
  const char* device() const { return gpu_ ? gpu_->name() : "cpu"; }
  int64_t gpu_layers() const;

  // Final hidden states of all tokens of all inputs, packed in input order:
  // [sum of lengths, n_embd]. Read-only: safe to call concurrently with
  // distinct pools (or pool == nullptr).
  std::vector<float> forward(const std::vector<BertInput>& batch, ThreadPool* pool) const;

  // One output per input: the pooled hidden state (n_embd floats, not
  // normalized) for Mean/Cls/Last, or the n_cls_out raw scores for Rank.
  std::vector<std::vector<float>> encode(const std::vector<BertInput>& batch, ThreadPool* pool) const;

 private:
  BertModel() = default;
  std::vector<float> rank_head(const float* h_cls) const;
  void load_bert(const std::string& path);
  void load_modern_bert(const std::string& path);  // model/modernbert.cpp

  std::unique_ptr<GgufFile> file_;
  BertHParams hp_;
  EncoderWeights w_;
  Matrix cls_, cls_out_;  // rank head; rows == 0 when absent
  const float* cls_b_ = nullptr;
  const float* cls_out_b_ = nullptr;
  std::unique_ptr<DeviceEncoder> gpu_;  // embeddings and layers [0, gpu_->n_layers()) run there
};

// Pools one input's hidden states [n_tokens, n_embd] (Mean averages every token,
// [CLS]/[SEP] included, as llama.cpp does). Throws for None and Rank.
std::vector<float> pool_hidden(Pooling p, const float* hidden, int64_t n_tokens, int64_t n_embd);

// In-place L2 normalization (double accumulator, as llama.cpp's
// common_embd_normalize); a zero vector stays zero.
void l2_normalize(std::vector<float>& v);

}  // namespace edgerag
