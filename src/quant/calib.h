// Calibration statistics for GPTQ and AWQ, captured by running our own decoder
// over calibration text: for every distinct linear-layer input (q/k/v share one,
// gate/up share one) the Gram matrix sum_t x_t x_t^T, the mean |x| per channel and
// the rows themselves (AWQ evaluates whole attention / MLP blocks on them).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/model.h"
#include "util/thread_pool.h"

namespace edgerag::quant {

struct InputStats {
  int64_t cols = 0;
  int64_t n = 0;              // tokens seen
  std::vector<double> gram;   // cols x cols
  std::vector<double> abs_sum;
  std::vector<float> rows;    // n x cols, in calibration order (see Calibration::seq_lens)

  void add(const float* x_rows, int64_t n_rows);
  std::vector<float> absmean() const;
};

class Calibration {
 public:
  // Statistics of the input of weight `tensor` (e.g. "blk.0.attn_k.weight"), or nullptr.
  const InputStats* find(const std::string& tensor) const;
  int64_t tokens() const { return tokens_; }
  // Tokens of each calibration sequence (positions 0..len-1), in the order of InputStats::rows.
  const std::vector<int64_t>& seq_lens() const { return seq_lens_; }

  // Tokenizes `text` with the model's tokenizer and runs up to `max_tokens`
  // tokens through `model` in chunks of `ctx` tokens (each starting with BOS when
  // the vocabulary adds one). The output head is not observed.
  static Calibration run(const Model& model, const std::string& text, int64_t max_tokens, int64_t ctx,
                         ThreadPool* pool);

  // Mean next-token negative log-likelihood of `model` over the calibration
  // sequences (a model's fit to the calibration text, e.g. after quantization).
  double loss(const Model& model, ThreadPool* pool) const;

 private:
  std::map<std::string, std::shared_ptr<InputStats>> stats_;  // by input key
  int64_t tokens_ = 0;
  std::vector<int64_t> seq_lens_;
  std::vector<std::vector<int32_t>> sequences_;  // token ids, BOS included
};

// Tensors reading the same activations share a key ("blk.3.attn_k.weight" ->
// "blk.3.attn_in"); other names map to themselves.
std::string input_key(const std::string& tensor);

}  // namespace edgerag::quant
