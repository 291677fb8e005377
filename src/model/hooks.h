// Optional observers of a forward pass; both cost nothing when left empty.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace edgerag {

// Called on the calling thread with the input activations of every linear layer
// before it runs (GPTQ/AWQ calibration): layer index (-1 for the output head),
// the weight's GGUF tensor name, and `n_rows` rows of `n_cols` floats.
using LinearInputObserver =
    std::function<void(int32_t layer, const std::string& tensor, const float* rows, int64_t n_rows, int64_t n_cols)>;

// Attention weights of chosen batch tokens (attention-share metrics). Set
// `batch_index`; the forward pass fills
// `weights[i][layer][head]` = softmax weights of batch token batch_index[i] over
// its sequence's positions 0..pos (pos + 1 values).
struct AttentionCapture {
  std::vector<int32_t> batch_index;
  std::vector<std::vector<std::vector<std::vector<float>>>> weights;
};

struct ForwardHooks {
  LinearInputObserver on_linear_input;
  AttentionCapture* attention = nullptr;
  // Evaluate only the first n_layers layers (0: all): their K/V are written and
  // no logits are computed (a cheap look at the KV a token gets in context; the
  // last of them stops after its K/V projections unless attention is captured).
  int32_t n_layers = 0;
};

}  // namespace edgerag
