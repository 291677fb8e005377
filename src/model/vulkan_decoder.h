// The Vulkan backend of the decoder seam (model/decoder_ops.h): a step's ops
// (the layer sequence Model::forward runs for every backend) recorded into one
// command buffer, submitted when the hidden states or the logits are read. Weights of the offloaded layers (and of the embedding table and output
// head when every layer is offloaded) are uploaded once at construction; the K/V
// of those layers live in a device pool attached to each KvCache
// (KvCache::DevicePool), indexed by the cache's own block ids and tables.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "backend/vulkan/vk_ops.h"
#include "model/batch.h"
#include "model/decoder_ops.h"
#include "model/hparams.h"
#include "model/kv_cache.h"

namespace edgerag {

class VulkanDecoder final : public DeviceDecoder {
 public:
  // Uploads layers [0, n_layers) (n_layers == hp.n_layer: the whole model,
  // embeddings and output head included). Throws a clear error for a weight type
  // without a shader or when weights exceed vram_budget_bytes (0 = no limit).
  VulkanDecoder(const HParams& hp, const DecoderWeights& w, int32_t n_layers, size_t vram_budget_bytes);
  ~VulkanDecoder();

  const char* name() const override { return "vulkan"; }
  int32_t n_layers() const override { return n_layers_; }
  bool whole_model() const override { return n_layers_ == hp_.n_layer; }
  // Checks the budget for weights + KV.
  void attach(KvCache& cache) const override;
  // Holds the device's lock until read_x or output returns.
  std::unique_ptr<DecoderOps> begin_step(const Batch& batch, KvCache& cache, const std::vector<int32_t>& blk,
                                         const std::vector<int32_t>& slot) const override;
  VramUse vram() const override;

 private:
  struct Layer;
  struct Scratch;
  class Step;
  void check_budget(size_t extra) const;

  HParams hp_;
  int32_t n_layers_;
  size_t budget_;
  std::shared_ptr<vk::Context> ctx_;
  std::vector<Layer> layers_;
  vk::DeviceMatrix tok_embd_, output_;
  vk::BufferPtr output_norm_, rope_freqs_;
  size_t weight_bytes_ = 0;
  mutable size_t kv_bytes_ = 0;
  mutable std::unique_ptr<Scratch> scratch_;  // per-step buffers, grown as batches grow
};

}  // namespace edgerag
