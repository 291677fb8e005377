// The CPU backend of the decoder seam: DecoderOps over host vectors with today's
// kernels (tensor/ops.h matmul on packed or file-layout weights plus SpQR outliers,
// model/attention). The only backend that runs the forward hooks: the linear-input
// observer in linear(), attention capture in attention().
#pragma once
#include <vector>

#include "model/decoder_ops.h"
#include "model/hooks.h"
#include "model/kv_cache.h"
#include "util/thread_pool.h"

namespace edgerag {

// Rotates n_heads heads of x at `pos`: RoPE normal or NeoX, with Llama-3.1
// rope_freqs divisors when given (n_rot / 2 of them).
void rope_heads(const HParams& hp, const float* rope_freqs, float* x, int32_t n_heads, int64_t pos);

class CpuDecoderOps final : public DecoderOps {
 public:
  // One step over `batch` whose tokens write KV at (blk[t], slot[t]) of `cache`.
  // The step's activations live in the object: one per forward call, so the
  // model stays const and shareable between threads.
  CpuDecoderOps(const HParams& hp, const DecoderWeights& w, const Batch& batch, KvCache& cache,
                const std::vector<int32_t>& blk, const std::vector<int32_t>& slot, ThreadPool* pool,
                const ForwardHooks* hooks);

  void embed() override;
  void read_x(float* host) override;
  void write_x(const float* host) override;
  void rms_norm(int32_t layer, Norm w, Act in, Act out) override;
  void linear(int32_t layer, Linear w, Act in, Act out) override;
  void add_bias(int32_t layer, Linear w, Act y) override;
  void rope(Act y, int32_t n_heads) override;
  void kv_write(int32_t layer) override;
  void attention(int32_t layer) override;
  void swiglu() override;
  void add_residual() override;
  Logits output() override;

 private:
  std::vector<float>& act(Act a);
  // y = w x (+ its outliers) over `rows` rows, shown to the observer first (layer -1: the head).
  void apply(const Matrix& w, int32_t layer, const char* name, const float* x, int64_t rows, float* y) const;

  const HParams& hp_;
  const DecoderWeights& w_;
  const Batch& batch_;
  KvCache& cache_;
  const std::vector<int32_t>& blk_;
  const std::vector<int32_t>& slot_;
  ThreadPool* pool_;
  const LinearInputObserver* observer_ = nullptr;
  AttentionCapture* capture_ = nullptr;
  int64_t n_;
  std::vector<float> x_, xn_, q_, k_, v_, att_, tmp_, gate_, up_;
};

}  // namespace edgerag
