#include "quant/calib.h"

#include <algorithm>
#include <cmath>

#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace edgerag::quant {

void InputStats::add(const float* x_rows, int64_t n_rows) {
  if (gram.empty()) {
    gram.assign(cols * cols, 0.0);
    abs_sum.assign(cols, 0.0);
  }
  for (int64_t t = 0; t < n_rows; ++t) {
    const float* x = x_rows + t * cols;
    for (int64_t i = 0; i < cols; ++i) {
      abs_sum[i] += std::fabs(x[i]);
      const double xi = x[i];
      double* g = &gram[i * cols];
      for (int64_t j = 0; j < cols; ++j) g[j] += xi * x[j];
    }
  }
  rows.insert(rows.end(), x_rows, x_rows + n_rows * cols);
  n += n_rows;
}

std::vector<float> InputStats::absmean() const {
  std::vector<float> m(cols);
  for (int64_t i = 0; i < cols; ++i) m[i] = n ? static_cast<float>(abs_sum[i] / n) : 0.0f;
  return m;
}

std::string input_key(const std::string& tensor) {
  auto replace = [&](const std::string& from, const std::string& to) -> std::string {
    const auto p = tensor.find(from);
    if (p == std::string::npos) return "";
    return tensor.substr(0, p) + to;
  };
  for (const char* qkv : {"attn_q.weight", "attn_k.weight", "attn_v.weight"})
    if (auto k = replace(qkv, "attn_in"); !k.empty()) return k;
  for (const char* gu : {"ffn_gate.weight", "ffn_up.weight"})
    if (auto k = replace(gu, "ffn_in"); !k.empty()) return k;
  return tensor;
}

const InputStats* Calibration::find(const std::string& tensor) const {
  auto it = stats_.find(input_key(tensor));
  return it == stats_.end() ? nullptr : it->second.get();
}

Calibration Calibration::run(const Model& model, const std::string& text, int64_t max_tokens, int64_t ctx,
                             ThreadPool* pool) {
  EDGERAG_CHECK(ctx >= 2 && max_tokens >= 2, "calibration needs a context of at least 2 tokens");
  auto tok = Tokenizer::from_gguf(model.gguf());
  std::vector<int32_t> ids = tok->encode(text, false);
  EDGERAG_CHECK(ids.size() >= 2, "calibration text yields {} tokens; need at least 2", ids.size());
  if (static_cast<int64_t>(ids.size()) > max_tokens) ids.resize(max_tokens);
  ctx = std::min<int64_t>(ctx, model.hparams().n_ctx_train > 0 ? model.hparams().n_ctx_train : ctx);

  Calibration c;
  ForwardHooks hooks;
  // The BOS row stays in: every later position attends to it (an attention
  // sink), so its reconstruction matters; on stories260K dropping it made GPTQ
  // 3% worse in perplexity.
  const bool bos = tok->add_bos();
  hooks.on_linear_input = [&c](int32_t layer, const std::string& name, const float* rows, int64_t n_rows,
                               int64_t n_cols) {
    if (layer < 0) return;
    const std::string key = input_key(name);
    auto& s = c.stats_[key];
    if (!s) s = std::make_shared<InputStats>(InputStats{n_cols, 0, {}, {}, {}});
    // q/k/v (and gate/up) see the same rows: count them once, at the first of the set.
    if (key != name && name.find("attn_q") == std::string::npos && name.find("ffn_gate") == std::string::npos) return;
    s->add(rows, n_rows);
  };
  for (size_t start = 0; start < ids.size();) {
    Batch batch;
    const size_t take = std::min<size_t>(ids.size() - start, static_cast<size_t>(ctx - (bos ? 1 : 0)));
    if (bos) batch.add(tok->bos_id(), 0, 0, false);
    for (size_t i = 0; i < take; ++i) batch.add(ids[start + i], static_cast<int32_t>(batch.size()), 0, false);
    auto cache = model.make_cache(static_cast<int64_t>(batch.size()));
    model.forward(batch, *cache, pool, &hooks);
    c.tokens_ += static_cast<int64_t>(batch.size());
    c.seq_lens_.push_back(static_cast<int64_t>(batch.size()));
    auto& seq = c.sequences_.emplace_back();
    for (const auto& t : batch.tokens) seq.push_back(t.id);
    start += take;
  }
  return c;
}

double Calibration::loss(const Model& model, ThreadPool* pool) const {
  double nll = 0;
  int64_t n = 0;
  for (const auto& ids : sequences_) {
    Batch batch;
    for (size_t i = 0; i < ids.size(); ++i) batch.add(ids[i], static_cast<int32_t>(i), 0, i + 1 < ids.size());
    auto cache = model.make_cache(static_cast<int64_t>(ids.size()));
    const Logits lg = model.forward(batch, *cache, pool);
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      const float* row = lg.for_token(i);
      const float mx = *std::max_element(row, row + lg.n_vocab);
      double sum = 0;
      for (int32_t v = 0; v < lg.n_vocab; ++v) sum += std::exp(static_cast<double>(row[v]) - mx);
      nll += mx + std::log(sum) - row[ids[i + 1]];
      ++n;
    }
  }
  EDGERAG_CHECK(n > 0, "calibration loss: no predicted tokens");
  return nll / n;
}

}  // namespace edgerag::quant
