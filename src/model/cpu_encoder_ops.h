// The CPU backend of the encoder seam (model/encoder_ops.h): EncoderOps over host
// vectors with today's kernels (tensor/ops.h matmul on the file's weights,
// model/encoder_attention).
#pragma once
#include <vector>

#include "model/encoder_ops.h"
#include "util/thread_pool.h"

namespace edgerag {

class CpuEncoderOps final : public EncoderOps {
 public:
  // One pass over the packed batch (input s holds rows [start[s], start[s+1])).
  // The activations live in the object, allocated on first use: one per forward
  // call, so the model stays const and shareable between threads.
  CpuEncoderOps(const BertHParams& hp, const EncoderWeights& w, const std::vector<BertInput>& batch,
                const std::vector<int64_t>& start, ThreadPool* pool);

  void embed() override;
  void read_x(float* host) override;
  void write_x(const float* host) override;
  void layer_norm(int32_t layer, EncNorm w, EncAct in, EncAct out) override;
  void qkv(int32_t layer, EncAct in) override;
  void rope(float base) override;
  void attention(int64_t half_window) override;
  void attn_out(int32_t layer) override;
  void ffn(int32_t layer, EncAct in, EncAct out) override;
  void add_residual() override;

 private:
  std::vector<float>& act(EncAct a);

  const BertHParams& hp_;
  const EncoderWeights& w_;
  const std::vector<BertInput>& batch_;
  const std::vector<int64_t>& start_;
  ThreadPool* pool_;
  int64_t n_;  // tokens
  std::vector<float> x_, h_, att_, tmp_;
  // Q, K, V rows, `stride` floats apart: three blocks of [n, n_embd] (bert) or
  // the fused projection's [n, 3 * n_embd] rows (modern-bert).
  std::vector<float> qkv_;
  float *q_ = nullptr, *k_ = nullptr, *v_ = nullptr;
  int64_t stride_ = 0;
};

}  // namespace edgerag
