// Decoder-only transformer (llama, qwen2, qwen3) over GGUF weights used in place
// from the mmap. forward() evaluates a batch of tokens from any number of
// sequences: all linear layers run once over the whole batch (prefill = GEMM),
// K/V go to the paged KvCache, attention runs per (token, head) with a tiled
// online softmax over the sequence's cached blocks. The layer sequence is
// decoder_layer (decoder_ops.h), run over each layer's backend's ops.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "backend/device.h"
#include "format/gguf.h"
#include "model/batch.h"
#include "model/decoder_ops.h"
#include "model/hooks.h"
#include "model/hparams.h"
#include "model/kv_cache.h"
#include "tensor/ops.h"
#include "util/thread_pool.h"

namespace edgerag {

// Whether load rearranges the linear layers' weights in place into the packed
// GEMM layout (tensor/repack.h). Only a file the model holds alone is ever
// changed (its bytes in gguf() then hold the packed layout). kAuto packs
// private huge-page copies (weight files of 64 MiB or more) and leaves
// memory-mapped files shared with the page cache; kAlways also packs mapped
// files (their pages become private copies). EDGERAG_PACK=0|1 turns kAuto
// into kNever|kAlways.
enum class WeightPacking { kAuto, kAlways, kNever };

class Model {
 public:
  // Opens the GGUF file (or converts a Hugging Face checkpoint directory, see
  // hf_checkpoint.h) and maps the weights. Throws edgerag::Error for an
  // unknown architecture, a missing tensor or a tensor of the wrong shape.
  // `compute` places it: the CPU, or the first gpu_layers layers on the Vulkan
  // backend (weights uploaded once here; the rest on the CPU). Default:
  // default_compute() (backend/device.h: the CPU unless the CLI's --device says otherwise).
  static std::unique_ptr<Model> load(const std::string& path, WeightPacking packing = WeightPacking::kAuto);
  static std::unique_ptr<Model> load(const std::string& path, WeightPacking packing, const ComputeOptions& compute);
  static std::unique_ptr<Model> from_gguf(std::shared_ptr<const GgufFile> file,
                                          WeightPacking packing = WeightPacking::kAuto);
  static std::unique_ptr<Model> from_gguf(std::shared_ptr<const GgufFile> file, WeightPacking packing,
                                          const ComputeOptions& compute);

  const HParams& hparams() const { return hp_; }
  const GgufFile& gguf() const { return *file_; }
  std::shared_ptr<const GgufFile> gguf_shared() const { return file_; }
  const Matrix& token_embd() const { return tok_embd_; }
  const Matrix& output() const { return output_; }  // token_embd when tied
  const std::vector<LayerWeights>& layers() const { return layers_; }
  // "cpu" or "vulkan" (where the first layer runs); layers on the GPU; its device memory.
  const char* device() const { return gpu_ ? gpu_->name() : "cpu"; }
  int32_t gpu_layers() const { return gpu_ ? gpu_->n_layers() : 0; }
  VramUse vram() const { return gpu_ ? gpu_->vram() : VramUse{}; }

  // A KV cache shaped for this model holding n_tokens tokens in total, storing
  // K/V as `type` (f32, f16, q8_0, ... rows, or KIVI int8/int4). On a Vulkan
  // device, whose KV pool holds F32 rows, F16 (the commands' default) is kept
  // as F32; other types are refused there.
  std::unique_ptr<KvCache> make_cache(int64_t n_tokens, KvType type = DType::F32) const;

  // Evaluates `batch`: appends every token's K/V to `cache` (reserving blocks for
  // all sequences first; throws before computing if the pool is exhausted) and
  // returns the logits of the tokens with logits=true. Thread-safe for distinct
  // caches; `pool` may be nullptr.
  Logits forward(const Batch& batch, KvCache& cache, ThreadPool* pool, const ForwardHooks* hooks = nullptr) const;

  // Moves keys computed at position p to position p + delta: RoPE is a rotation
  // whose angle is linear in the position (normal, NeoX and rope_freqs alike),
  // so this is rotating by delta. k: n_rows rows of n_head_kv * head_dim values.
  void rerotate_keys(float* k, int64_t n_rows, int64_t delta) const;

 private:
  Model() = default;
  void bind_weights();
  void place(const ComputeOptions& compute);
  void pack_weights(WeightPacking packing);
  DecoderWeights weights() const { return {&tok_embd_, &output_, output_norm_, rope_freqs_, &layers_}; }

  std::shared_ptr<const GgufFile> file_;
  HParams hp_;
  Matrix tok_embd_, output_;
  const float* output_norm_ = nullptr;
  const float* rope_freqs_ = nullptr;  // Llama-3.1 style per-pair frequency divisors (n_rot/2)
  std::vector<LayerWeights> layers_;
  std::unique_ptr<DeviceDecoder> gpu_;  // layers [0, gpu_->n_layers()) run there
};

}  // namespace edgerag
