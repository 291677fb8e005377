// The compute-backend seam of the decoder: the ops one forward step is made of
// (DecoderOps), implemented once per backend over that backend's own activation
// buffers and weight copies (CpuDecoderOps: tensor/ + model/attention;
// VulkanDecoder::begin_step: backend/vulkan), the one layer sequence over them
// (decoder_layer) that Model::forward runs for every backend and for both halves
// of a partial offload, and DeviceDecoder, what a model holds of a device backend.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "model/batch.h"
#include "model/hparams.h"
#include "model/kv_cache.h"
#include "tensor/ops.h"

namespace edgerag {

// One layer's weights as bound from the GGUF file (host views, CPU layout once packed).
struct LayerWeights {
  const float* attn_norm = nullptr;
  Matrix wq, wk, wv, wo;
  const float* bq = nullptr;  // qwen2 biases
  const float* bk = nullptr;
  const float* bv = nullptr;
  const float* q_norm = nullptr;  // qwen3 per-head RMSNorm weights [head_dim]
  const float* k_norm = nullptr;
  const float* ffn_norm = nullptr;
  Matrix w_gate, w_up, w_down;
};

// The whole model's weights as bound on the host; a backend makes its own copies from them.
struct DecoderWeights {
  const Matrix* tok_embd = nullptr;
  const Matrix* output = nullptr;  // tok_embd when tied
  const float* output_norm = nullptr;
  const float* rope_freqs = nullptr;  // n_rot / 2 divisors or nullptr
  const std::vector<LayerWeights>* layers = nullptr;
};

// The activations of one step, [n_tokens, width] each; every backend holds its own.
enum class Act { X, XN, Q, K, V, Att, Tmp, Gate, Up };
// A layer's linear weights and RMSNorm weights (QHead / KHead: per head, head_dim wide).
enum class Linear { Q, K, V, O, Gate, Up, Down };
enum class Norm { Attn, Ffn, QHead, KHead };

// GGUF name of a layer's linear weight ("attn_q.weight", ...): the observer hooks' tensor names.
const char* linear_name(Linear w);

// The ops of one forward step over one batch (token ids, positions, KV blocks and
// slots fixed when the step begins). A backend may record them and run them later,
// but read_x and output return results.
class DecoderOps {
 public:
  virtual ~DecoderOps() = default;
  // X = rows of the embedding table for the batch's token ids.
  virtual void embed() = 0;
  // X to / from the host: the one transfer where a partial offload changes backend.
  virtual void read_x(float* host) = 0;
  virtual void write_x(const float* host) = 0;
  // out = rmsnorm(in) * w, over rows as wide as the norm's weights.
  virtual void rms_norm(int32_t layer, Norm w, Act in, Act out) = 0;
  // out = W in (+ the weight's sparse outliers) for every token.
  virtual void linear(int32_t layer, Linear w, Act in, Act out) = 0;
  // Q, K, V rows += the layer's bias of that projection.
  virtual void add_bias(int32_t layer, Linear w, Act y) = 0;
  // Q (n_head heads) or K (n_head_kv heads) rotated at each token's position.
  virtual void rope(Act y, int32_t n_heads) = 0;
  // K and V rows into the step's KV slots of `layer`.
  virtual void kv_write(int32_t layer) = 0;
  // Att = causal paged attention of Q over each token's sequence.
  virtual void attention(int32_t layer) = 0;
  // Gate = silu(Gate) * Up.
  virtual void swiglu() = 0;
  // X += Tmp.
  virtual void add_residual() = 0;
  // Output RMSNorm and head over the tokens with logits=true.
  virtual Logits output() = 0;
};

// Device memory of a model on a backend, in bytes.
struct VramUse {
  size_t weights = 0;
  size_t kv = 0;  // of the caches made so far
  size_t peak = 0;
};

// A device backend's part of a model: its copies of the first n_layers() layers
// (and of the embedding table and head when whole_model()), the device K/V of
// every cache, and the ops of each step.
class DeviceDecoder {
 public:
  virtual ~DeviceDecoder() = default;
  virtual const char* name() const = 0;  // the --device name: "vulkan"
  virtual int32_t n_layers() const = 0;
  virtual bool whole_model() const = 0;
  // Attaches a device pool to `cache` (if none yet), within the memory budget.
  virtual void attach(KvCache& cache) const = 0;
  // The ops of one step over the batch (blocks reserved; blk/slot of each token given):
  // layers [0, n_layers()), and embed / output when whole_model().
  virtual std::unique_ptr<DecoderOps> begin_step(const Batch& batch, KvCache& cache, const std::vector<int32_t>& blk,
                                                 const std::vector<int32_t>& slot) const = 0;
  virtual VramUse vram() const = 0;
};

// One decoder layer (llama / qwen2 / qwen3) as a sequence of ops. kv_only: stop
// once the layer's K/V are written (the last layer of a layer-prefix forward).
void decoder_layer(DecoderOps& ops, const LayerWeights& L, int32_t layer, const HParams& hp, bool kv_only);

}  // namespace edgerag
