// A batch of tokens from one or more sequences, evaluated by one forward pass.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace edgerag {

using SeqId = int32_t;

struct BatchToken {
  int32_t id = 0;       // token id
  int32_t pos = 0;      // position within its sequence
  SeqId seq = 0;        // sequence (KV cache owner)
  bool logits = false;  // whether this token's logits are returned
};

// Tokens of one sequence must appear in position order and continue exactly
// where the sequence's KV cache ends (pos == cached length for the first one).
// A rewrite batch instead recomputes tokens already cached (positions below the
// sequence's length, increasing, gaps allowed): their K/V are overwritten and
// each attends to the cache as it is (selective recompute of placed chunk KV).
struct Batch {
  std::vector<BatchToken> tokens;
  bool rewrite = false;

  void add(int32_t id, int32_t pos, SeqId seq, bool logits) { tokens.push_back({id, pos, seq, logits}); }
  void clear() { tokens.clear(); }
  size_t size() const { return tokens.size(); }
  bool empty() const { return tokens.empty(); }
};

// Logits of the batch tokens that asked for them, in batch order.
struct Logits {
  int32_t n_vocab = 0;
  std::vector<float> data;        // [n_rows, n_vocab]
  std::vector<int32_t> row_of;    // batch index -> row in data, -1 if not requested

  int32_t n_rows() const { return n_vocab ? static_cast<int32_t>(data.size() / n_vocab) : 0; }
  const float* row(int32_t r) const { return data.data() + static_cast<size_t>(r) * n_vocab; }
  // Logits of batch token i (throws if it did not ask for logits).
  const float* for_token(size_t batch_index) const;
};

}  // namespace edgerag
