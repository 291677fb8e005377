#include "model/bert.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "model/bert_internal.h"
#include "model/cpu_encoder_ops.h"
#include "model/vulkan_encoder.h"
#include "util/deadline.h"
#include "util/error.h"

namespace edgerag {

BertModel::~BertModel() = default;

const char* pooling_name(Pooling p) {
  switch (p) {
    case Pooling::None: return "none";
    case Pooling::Mean: return "mean";
    case Pooling::Cls: return "cls";
    case Pooling::Last: return "last";
    case Pooling::Rank: return "rank";
  }
  return "unknown";
}

namespace bert_detail {

Matrix weight(const GgufFile& f, const std::string& name, int64_t cols, int64_t rows) {
  const GgufTensor& t = f.tensor(name);
  EDGERAG_CHECK(t.ne[0] == cols && t.n_rows() == rows, "{}: tensor {} has shape {}, expected [{}, {}]", f.path(),
                name, t.shape_string(), cols, rows);
  EDGERAG_CHECK(dtype_traits(t.type).supported, "{}: tensor {} has unsupported type {}", f.path(), name,
                dtype_name(t.type));
  return Matrix::of(t.type, cols, rows, t.data);
}

const float* vec(const GgufFile& f, const std::string& name, int64_t n, bool required) {
  const GgufTensor* t = f.find_tensor(name);
  if (!t) {
    EDGERAG_CHECK(!required, "{}: missing tensor {}", f.path(), name);
    return nullptr;
  }
  EDGERAG_CHECK(t->type == DType::F32 && t->n_elements() == n, "{}: tensor {} must be F32 with {} elements", f.path(),
                name, n);
  return reinterpret_cast<const float*>(t->data);
}

namespace {
void add_bias(float* y, const float* b, int64_t n_tokens, int64_t n) {
  if (!b) return;
  for (int64_t t = 0; t < n_tokens; ++t)
    for (int64_t i = 0; i < n; ++i) y[t * n + i] += b[i];
}
}  // namespace

void layernorm_rows(float* x, const float* w, const float* b, int64_t n_tokens, int64_t n, float eps) {
  for (int64_t t = 0; t < n_tokens; ++t) layernorm(x + t * n, w, b, x + t * n, n, eps);
}

// y = W x + b for all tokens, in token chunks whose activations stay in L2
// while the weight panels stream past (a whole packed batch would not).
void linear(const Matrix& w, const float* b, const float* x, int64_t n_tokens, float* y, ThreadPool* pool) {
  constexpr int64_t kChunk = 128;
  for (int64_t t = 0; t < n_tokens; t += kChunk)
    matmul(w, x + t * w.cols, std::min(kChunk, n_tokens - t), y + t * w.rows, pool);
  add_bias(y, b, n_tokens, w.rows);
}

}  // namespace bert_detail

using namespace bert_detail;

std::unique_ptr<BertModel> BertModel::load(const std::string& path) { return load(path, default_compute()); }

std::unique_ptr<BertModel> BertModel::load(const std::string& path, const ComputeOptions& compute) {
  std::unique_ptr<BertModel> m(new BertModel());
  m->file_ = GgufFile::open(path, FileAccess::kPreferHugePages);
  const std::string arch = m->file_->get_string("general.architecture");
  if (arch == "bert") m->load_bert(path);
  else if (arch == "modern-bert") m->load_modern_bert(path);
  else fail("{}: architecture '{}' is not an encoder (bert, modern-bert)", path, arch);
  const int64_t n_gpu = compute.gpu_layers < 0 ? m->hp_.n_layer : std::min<int64_t>(compute.gpu_layers, m->hp_.n_layer);
  m->gpu_ = place_on_device<DeviceEncoder>(compute, n_gpu, [&]() -> std::unique_ptr<DeviceEncoder> {
    return std::make_unique<VulkanEncoder>(m->hp_, m->w_, n_gpu, static_cast<size_t>(compute.vram_budget_mb) * 1000000);
  });
  return m;
}

int64_t BertModel::gpu_layers() const { return gpu_ ? gpu_->n_layers() : 0; }

void BertModel::load_bert(const std::string& path) {
  const GgufFile& f = *file_;
  BertHParams& hp = hp_;
  hp.n_embd = f.get_int("bert.embedding_length", 0);
  hp.n_layer = f.get_int("bert.block_count", 0);
  hp.n_head = f.get_int("bert.attention.head_count", 0);
  hp.n_ff = f.get_int("bert.feed_forward_length", 0);
  hp.eps = static_cast<float>(f.get_float("bert.attention.layer_norm_epsilon", 1e-12));
  // Sentence-embedding models without the key are mean-pooled (sentence-transformers' default).
  const int64_t pooling = f.get_int("bert.pooling_type", static_cast<int64_t>(Pooling::Mean));
  EDGERAG_CHECK(pooling >= 0 && pooling <= 4, "{}: unknown bert.pooling_type {}", path, pooling);
  hp.pooling = static_cast<Pooling>(pooling);
  EDGERAG_CHECK(hp.n_embd > 0 && hp.n_layer > 0 && hp.n_head > 0 && hp.n_ff > 0 && hp.n_embd % hp.n_head == 0,
                "{}: invalid BERT hyperparameters (embedding {}, layers {}, heads {}, ffn {})", path, hp.n_embd,
                hp.n_layer, hp.n_head, hp.n_ff);
  EDGERAG_CHECK(!f.get_bool("bert.attention.causal", false), "{}: causal BERT models are not supported", path);

  const GgufTensor& tok = f.tensor("token_embd.weight");
  hp.n_vocab = tok.n_rows();
  w_.tok_embd = weight(f, "token_embd.weight", hp.n_embd, hp.n_vocab);
  hp.n_ctx = f.tensor("position_embd.weight").n_rows();
  w_.pos_embd = weight(f, "position_embd.weight", hp.n_embd, hp.n_ctx);
  if (f.find_tensor("token_types.weight")) {
    hp.n_token_types = f.tensor("token_types.weight").n_rows();
    w_.type_embd = weight(f, "token_types.weight", hp.n_embd, hp.n_token_types);
  }
  w_.embd_norm_w = vec(f, "token_embd_norm.weight", hp.n_embd);
  w_.embd_norm_b = vec(f, "token_embd_norm.bias", hp.n_embd);

  const int64_t E = hp.n_embd, F = hp.n_ff;
  for (int64_t l = 0; l < hp.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    EncoderLayer L;
    L.q = weight(f, p + "attn_q.weight", E, E);
    L.k = weight(f, p + "attn_k.weight", E, E);
    L.v = weight(f, p + "attn_v.weight", E, E);
    L.o = weight(f, p + "attn_output.weight", E, E);
    L.up = weight(f, p + "ffn_up.weight", E, F);
    L.down = weight(f, p + "ffn_down.weight", F, E);
    L.q_b = vec(f, p + "attn_q.bias", E, false);
    L.k_b = vec(f, p + "attn_k.bias", E, false);
    L.v_b = vec(f, p + "attn_v.bias", E, false);
    L.o_b = vec(f, p + "attn_output.bias", E, false);
    L.up_b = vec(f, p + "ffn_up.bias", F, false);
    L.down_b = vec(f, p + "ffn_down.bias", E, false);
    L.attn_norm_w = vec(f, p + "attn_output_norm.weight", E);
    L.attn_norm_b = vec(f, p + "attn_output_norm.bias", E, false);
    L.out_norm_w = vec(f, p + "layer_output_norm.weight", E);
    L.out_norm_b = vec(f, p + "layer_output_norm.bias", E, false);
    w_.layers.push_back(L);
  }

  if (f.find_tensor("cls.weight")) {
    cls_ = weight(f, "cls.weight", E, E);
    cls_b_ = vec(f, "cls.bias", E, false);
  }
  if (const GgufTensor* t = f.find_tensor("cls.output.weight")) {
    hp.n_cls_out = t->n_rows();
    cls_out_ = weight(f, "cls.output.weight", E, hp.n_cls_out);
    cls_out_b_ = vec(f, "cls.output.bias", hp.n_cls_out, false);
  }
  EDGERAG_CHECK(hp.pooling != Pooling::Rank || hp.n_cls_out > 0,
                "{}: rank pooling needs a classifier head (cls.output.weight)", path);
}

std::vector<float> BertModel::forward(const std::vector<BertInput>& batch, ThreadPool* pool) const {
  // Span [start, start + len) of every input in the packed token rows.
  std::vector<int64_t> start(batch.size() + 1, 0);
  for (size_t s = 0; s < batch.size(); ++s) {
    const BertInput& in = batch[s];
    const int64_t n = static_cast<int64_t>(in.ids.size());
    EDGERAG_CHECK(n > 0, "BERT input {} is empty", s);
    EDGERAG_CHECK(n <= hp_.n_ctx, "BERT input {} has {} tokens; the model takes at most {}", s, n, hp_.n_ctx);
    EDGERAG_CHECK(in.type_ids.empty() || in.type_ids.size() == in.ids.size(),
                  "BERT input {}: {} type ids for {} tokens", s, in.type_ids.size(), n);
    for (int64_t i = 0; i < n; ++i) {
      const int32_t id = in.ids[i], type = in.type_ids.empty() ? 0 : in.type_ids[i];
      EDGERAG_CHECK(id >= 0 && id < hp_.n_vocab, "BERT input {}: token id {} outside the vocabulary of {}", s, id,
                    hp_.n_vocab);
      EDGERAG_CHECK(type == 0 || (type > 0 && type < hp_.n_token_types), "BERT input {}: token type {} not in [0, {})",
                    s, type, std::max<int64_t>(1, hp_.n_token_types));
    }
    start[s + 1] = start[s] + n;
  }
  // Layers [0, N) on the device (with the embeddings), [N, L) on the CPU: one
  // layer sequence for both, one host copy of the hidden states between them.
  const int64_t N = gpu_layers();
  if (gpu_) check_deadline("an encoder pass");
  std::unique_ptr<EncoderOps> gpu = gpu_ ? gpu_->begin_pass(batch, start) : nullptr;
  std::optional<CpuEncoderOps> cpu;
  if (N < hp_.n_layer) cpu.emplace(hp_, w_, batch, start, pool);
  EncoderOps* ops = gpu ? gpu.get() : &*cpu;
  std::vector<float> x(static_cast<size_t>(start.back() * hp_.n_embd));
  encoder_embed(*ops);
  for (int64_t il = 0; il < hp_.n_layer; ++il) {
    if (il == N && gpu) {
      gpu->read_x(x.data());
      cpu->write_x(x.data());
      ops = &*cpu;
    }
    if (il >= N) check_deadline("an encoder layer");  // a long input's pass can take seconds
    encoder_layer(*ops, w_.layers[il], static_cast<int32_t>(il), hp_);
  }
  encoder_final(*ops, hp_);
  ops->read_x(x.data());
  return x;
}

std::vector<float> BertModel::rank_head(const float* h_cls) const {
  const int64_t E = hp_.n_embd;
  std::vector<float> pooled(h_cls, h_cls + E);
  if (cls_.rows > 0) {
    linear(cls_, cls_b_, h_cls, 1, pooled.data(), nullptr);
    for (float& p : pooled) p = std::tanh(p);
  }
  std::vector<float> out(hp_.n_cls_out);
  linear(cls_out_, cls_out_b_, pooled.data(), 1, out.data(), nullptr);
  return out;
}

std::vector<std::vector<float>> BertModel::encode(const std::vector<BertInput>& batch, ThreadPool* pool) const {
  EDGERAG_CHECK(hp_.pooling != Pooling::None, "{}: the model has no pooling (bert.pooling_type = 0)", file_->path());
  const std::vector<float> h = forward(batch, pool);
  std::vector<std::vector<float>> out;
  out.reserve(batch.size());
  int64_t t0 = 0;
  for (const BertInput& in : batch) {
    const int64_t n = static_cast<int64_t>(in.ids.size());
    const float* hs = h.data() + t0 * hp_.n_embd;
    out.push_back(hp_.pooling == Pooling::Rank ? rank_head(hs) : pool_hidden(hp_.pooling, hs, n, hp_.n_embd));
    t0 += n;
  }
  return out;
}

std::vector<float> pool_hidden(Pooling p, const float* hidden, int64_t n_tokens, int64_t n_embd) {
  EDGERAG_CHECK(n_tokens > 0, "pooling an empty input");
  switch (p) {
    case Pooling::Mean: {
      std::vector<float> out(n_embd, 0.0f);
      for (int64_t t = 0; t < n_tokens; ++t)
        for (int64_t c = 0; c < n_embd; ++c) out[c] += hidden[t * n_embd + c];
      for (float& o : out) o /= static_cast<float>(n_tokens);
      return out;
    }
    case Pooling::Cls: return std::vector<float>(hidden, hidden + n_embd);
    case Pooling::Last: return std::vector<float>(hidden + (n_tokens - 1) * n_embd, hidden + n_tokens * n_embd);
    default: fail("pooling '{}' does not produce an embedding", pooling_name(p));
  }
}

void l2_normalize(std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += x * x;
  if (sum <= 0) return;
  const float inv = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& x : v) x *= inv;
}

}  // namespace edgerag
