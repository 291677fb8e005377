// The encoders of model/bert.h (bert, modern-bert) on the Vulkan backend: the
// embeddings and the first n layers (all of them: the final LayerNorm too) as one
// recorded command buffer per pass; the remaining layers run on the CPU
// (BertModel::forward continues from the downloaded hidden states). Weights are
// uploaded once at construction, in the file's layout.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "backend/vulkan/vk_ops.h"
#include "model/bert.h"

namespace edgerag {

class VulkanEncoder {
 public:
  // Uploads the embeddings and layers [0, n_layers) of m. Throws a clear error for
  // a weight type without a shader or when the weights exceed vram_budget_bytes
  // (0 = no limit), before any upload.
  VulkanEncoder(const BertModel& m, int64_t n_layers, size_t vram_budget_bytes);
  ~VulkanEncoder();

  int64_t n_layers() const { return n_layers_; }
  bool whole_model() const { return n_layers_ == hp_.n_layer; }
  size_t weight_bytes() const { return weight_bytes_; }
  // Hidden states [start.back(), n_embd] of the packed batch (validated by the
  // caller; input s holds rows [start[s], start[s+1])) after the offloaded layers
  // (and, for the whole modern-bert model, its final LayerNorm).
  std::vector<float> forward(const std::vector<BertInput>& batch, const std::vector<int64_t>& start) const;

 private:
  struct Layer;
  struct Scratch;

  BertHParams hp_;
  int64_t n_layers_;
  std::shared_ptr<vk::Context> ctx_;
  vk::DeviceMatrix tok_embd_, pos_embd_, type_embd_;
  vk::BufferPtr embd_norm_w_, embd_norm_b_, out_norm_w_, out_norm_b_;
  std::vector<Layer> layers_;
  size_t weight_bytes_ = 0;
  mutable std::unique_ptr<Scratch> scratch_;  // grown as batches grow
};

}  // namespace edgerag
