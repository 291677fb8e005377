// The Vulkan backend of the encoder seam (model/encoder_ops.h): a pass's ops (the
// layer sequences BertModel::forward runs for every backend) recorded into one
// command buffer, submitted when the hidden states are read. The embedding tables
// and the first n layers (all of them: the final LayerNorm too) are uploaded once
// at construction, in the file's layout; the remaining layers run on the CPU.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "backend/vulkan/vk_ops.h"
#include "model/encoder_ops.h"

namespace edgerag {

class VulkanEncoder final : public DeviceEncoder {
 public:
  // Uploads the embeddings and layers [0, n_layers) of w. Throws a clear error for
  // a weight type without a shader or when the weights exceed vram_budget_bytes
  // (0 = no limit), before any upload.
  VulkanEncoder(const BertHParams& hp, const EncoderWeights& w, int64_t n_layers, size_t vram_budget_bytes);
  ~VulkanEncoder();

  const char* name() const override { return "vulkan"; }
  int64_t n_layers() const override { return n_layers_; }
  bool whole_model() const override { return n_layers_ == hp_.n_layer; }
  size_t weight_bytes() const override { return weight_bytes_; }
  // Holds the device's lock until read_x returns.
  std::unique_ptr<EncoderOps> begin_pass(const std::vector<BertInput>& batch,
                                         const std::vector<int64_t>& start) const override;

 private:
  struct Layer;
  struct Scratch;
  class Pass;

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
