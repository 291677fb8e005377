#include "model/vulkan_decoder.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "model/model.h"
#include "util/error.h"

namespace edgerag {

struct VulkanDecoder::Layer {
  vk::BufferPtr attn_norm, ffn_norm, bq, bk, bv, q_norm, k_norm;
  vk::DeviceMatrix wq, wk, wv, wo, w_gate, w_up, w_down;
};

// Activations of one step on the device, plus the host-visible step inputs
// (info: token ids, positions, KV blocks and slots, block tables) and logits.
struct VulkanDecoder::Scratch {
  int64_t n_tokens = 0, n_info = 0, n_logits = 0;
  vk::BufferPtr x, xn, q, k, v, att, tmp, gate, up, info, logits;
};

namespace {

// The device copy of a cache's pool: F32 K/V of the offloaded layers per block.
class VulkanKvPool : public KvCache::DevicePool {
 public:
  VulkanKvPool(std::shared_ptr<vk::Context> ctx, const vk::KvShape& shape, int32_t n_blocks)
      : ctx_(std::move(ctx)), shape_(shape), buf_(ctx_->alloc(n_blocks * shape.block_floats() * sizeof(float))) {}
  void copy_block(int32_t from, int32_t to) override {
    std::lock_guard lock(ctx_->lock());
    const size_t bytes = shape_.block_floats() * sizeof(float);
    ctx_->copy(*buf_, from * bytes, *buf_, to * bytes, bytes);
    ctx_->flush();
  }
  vk::Buffer& buffer() { return *buf_; }
  const vk::KvShape& shape() const { return shape_; }

 private:
  std::shared_ptr<vk::Context> ctx_;
  vk::KvShape shape_;
  vk::BufferPtr buf_;
};

vk::BufferPtr vector_or_null(vk::Context& ctx, const float* v, int64_t n) {
  return v ? vk::upload_floats(ctx, v, n) : nullptr;
}

// A buffer of at least n floats (reallocated when too small).
void ensure(vk::Context& ctx, vk::BufferPtr& b, int64_t n, bool host_visible = false) {
  if (!b || b->size() < static_cast<size_t>(n) * 4) b = ctx.alloc(static_cast<size_t>(n) * 4, host_visible);
}

}  // namespace

VulkanDecoder::VulkanDecoder(const HParams& hp, const DecoderWeights& w, int32_t n_layers, size_t vram_budget_bytes)
    : hp_(hp), n_layers_(n_layers), budget_(vram_budget_bytes), ctx_(vk::Context::shared()) {
  EDGERAG_CHECK(n_layers >= 1 && n_layers <= hp.n_layer, "vulkan: {} GPU layers for a model of {}", n_layers,
                hp.n_layer);
  EDGERAG_CHECK(hp.head_dim <= 256 && hp.n_head % hp.n_head_kv == 0,
                "vulkan: head_dim {} is above the attention shader's 256", hp.head_dim);
  // The budget is checked on the file's sizes before any upload: fail up front.
  size_t need = 0;
  auto count = [&](const Matrix& m) {
    EDGERAG_CHECK(vk::has_kernel(m.type), "vulkan: no shader for {} weights (types with shaders: F32, F16, BF16, Q8_0, "
                  "Q4_0, Q4_1, Q4_K, Q5_K, Q6_K)", dtype_name(m.type));
    EDGERAG_CHECK(!m.outliers.row_ptr, "vulkan: SpQR outlier weights (tensor/sparse.h) run on the CPU only");
    need += m.nbytes();
  };
  for (int32_t il = 0; il < n_layers; ++il) {
    const LayerWeights& L = (*w.layers)[il];
    for (const Matrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) count(*m);
  }
  if (whole_model()) {
    count(*w.tok_embd);
    if (w.output->data != w.tok_embd->data) count(*w.output);
  }
  weight_bytes_ = need;
  check_budget(0);
  std::lock_guard lock(ctx_->lock());
  const int64_t E = hp.n_embd, Q = hp.n_embd_q(), KV = hp.n_embd_kv(), HD = hp.head_dim;
  layers_.resize(n_layers);
  for (int32_t il = 0; il < n_layers; ++il) {
    const LayerWeights& s = (*w.layers)[il];
    Layer& d = layers_[il];
    d.attn_norm = vk::upload_floats(*ctx_, s.attn_norm, E);
    d.ffn_norm = vk::upload_floats(*ctx_, s.ffn_norm, E);
    d.bq = vector_or_null(*ctx_, s.bq, Q);
    d.bk = vector_or_null(*ctx_, s.bk, KV);
    d.bv = vector_or_null(*ctx_, s.bv, KV);
    d.q_norm = vector_or_null(*ctx_, s.q_norm, HD);
    d.k_norm = vector_or_null(*ctx_, s.k_norm, HD);
    d.wq = vk::upload_matrix(*ctx_, s.wq);
    d.wk = vk::upload_matrix(*ctx_, s.wk);
    d.wv = vk::upload_matrix(*ctx_, s.wv);
    d.wo = vk::upload_matrix(*ctx_, s.wo);
    d.w_gate = vk::upload_matrix(*ctx_, s.w_gate);
    d.w_up = vk::upload_matrix(*ctx_, s.w_up);
    d.w_down = vk::upload_matrix(*ctx_, s.w_down);
  }
  rope_freqs_ = vector_or_null(*ctx_, w.rope_freqs, hp.n_rot / 2);
  if (whole_model()) {
    tok_embd_ = vk::upload_matrix(*ctx_, *w.tok_embd);
    output_ = w.output->data == w.tok_embd->data ? vk::DeviceMatrix{} : vk::upload_matrix(*ctx_, *w.output);
    output_norm_ = vk::upload_floats(*ctx_, w.output_norm, E);
  }
}

VulkanDecoder::~VulkanDecoder() = default;

void VulkanDecoder::check_budget(size_t extra) const {
  if (budget_ == 0) return;
  const size_t total = weight_bytes_ + kv_bytes_ + extra;
  EDGERAG_CHECK(total <= budget_,
                "vulkan: {:.1f} MiB of weights + {:.1f} MiB of KV cache exceed --vram-budget {} MB (fewer "
                "--gpu-layers, a smaller context, or a larger budget)",
                weight_bytes_ / 1048576.0, (kv_bytes_ + extra) / 1048576.0, budget_ / 1000000);
}

void VulkanDecoder::attach(KvCache& cache) const {
  if (cache.device_pool()) return;
  const auto& c = cache.config();
  EDGERAG_CHECK(cache.n_free_blocks() == cache.n_blocks(), "vulkan: a KV cache already in use on the CPU");
  EDGERAG_CHECK(!c.type.is_kivi() && c.type.row == DType::F32,
                "vulkan: the device KV cache holds F32 rows; --kv-type {} runs on the CPU only", c.type.name());
  const vk::KvShape shape{n_layers_, hp_.n_head_kv, hp_.head_dim, c.block_size};
  const size_t bytes = cache.n_blocks() * shape.block_floats() * sizeof(float);
  check_budget(bytes);
  std::lock_guard lock(ctx_->lock());
  cache.set_device_pool(std::make_unique<VulkanKvPool>(ctx_, shape, cache.n_blocks()));
  kv_bytes_ += bytes;
}

VramUse VulkanDecoder::vram() const { return {weight_bytes_, kv_bytes_, ctx_->peak_bytes()}; }

Logits VulkanDecoder::forward(const Batch& batch, KvCache& cache, const std::vector<int32_t>& blk,
                              const std::vector<int32_t>& slot, float* x_out) const {
  const int64_t n = static_cast<int64_t>(batch.size());
  EDGERAG_CHECK(n <= 65535, "vulkan: a batch of {} tokens is above 65535", n);
  auto* pool = dynamic_cast<VulkanKvPool*>(cache.device_pool());
  EDGERAG_CHECK(pool != nullptr, "vulkan: the KV cache has no device pool (make it with Model::make_cache)");
  const int64_t E = hp_.n_embd, Q = hp_.n_embd_q(), KV = hp_.n_embd_kv(), F = hp_.n_ff, V = hp_.n_vocab;
  const int32_t NH = hp_.n_head, NKV = hp_.n_head_kv, HD = hp_.head_dim;

  // Step inputs: ids | pos | blk | slot | table start per token | block tables.
  std::vector<int32_t> info(5 * n);
  std::map<SeqId, int32_t> table_at;
  for (int64_t t = 0; t < n; ++t) {
    const BatchToken& tok = batch.tokens[t];
    info[t] = tok.id;
    info[n + t] = tok.pos;
    info[2 * n + t] = blk[t];
    info[3 * n + t] = slot[t];
    auto [it, fresh] = table_at.try_emplace(tok.seq, static_cast<int32_t>(info.size()));
    if (fresh) {
      const auto& tab = cache.block_table(tok.seq);
      info.insert(info.end(), tab.begin(), tab.end());
    }
    info[4 * n + t] = it->second;
  }
  std::vector<std::pair<int64_t, int64_t>> runs;  // [first token, count) of tokens wanting logits
  int64_t n_logits = 0;
  for (int64_t t = 0; t < n; ++t) {
    if (!batch.tokens[t].logits) continue;
    if (!runs.empty() && runs.back().first + runs.back().second == t) ++runs.back().second;
    else runs.emplace_back(t, 1);
    ++n_logits;
  }
  if (!whole_model()) n_logits = 0;

  std::lock_guard lock(ctx_->lock());
  vk::Context& c = *ctx_;
  if (!scratch_) scratch_ = std::make_unique<Scratch>();
  Scratch& s = *scratch_;
  ensure(c, s.x, n * E);
  ensure(c, s.xn, n * E);
  ensure(c, s.q, n * Q);
  ensure(c, s.k, n * KV);
  ensure(c, s.v, n * KV);
  ensure(c, s.att, n * Q);
  ensure(c, s.tmp, n * E);
  ensure(c, s.gate, n * F);
  ensure(c, s.up, n * F);
  ensure(c, s.info, static_cast<int64_t>(info.size()), true);
  ensure(c, s.logits, std::max<int64_t>(1, n_logits * V), true);
  std::copy(info.begin(), info.end(), reinterpret_cast<int32_t*>(s.info->host()));

  if (whole_model()) {
    vk::get_rows(c, tok_embd_, *s.info, 0, n, *s.x);
  } else {
    c.upload(*s.x, x_out, n * E * sizeof(float));  // the embeddings, looked up on the host
  }
  const vk::KvShape& shape = pool->shape();
  const vk::RopeParams rq{NH, HD, hp_.n_rot, hp_.rope_freq_base, hp_.rope_freq_scale, hp_.rope_neox};
  vk::RopeParams rk = rq;
  rk.n_heads = NKV;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HD));
  for (int32_t il = 0; il < n_layers_; ++il) {
    const Layer& L = layers_[il];
    vk::rms_norm(c, *s.x, *L.attn_norm, *s.xn, n, E, hp_.rms_eps);
    vk::matmul(c, L.wq, *s.xn, n, *s.q);
    vk::matmul(c, L.wk, *s.xn, n, *s.k);
    vk::matmul(c, L.wv, *s.xn, n, *s.v);
    if (L.bq) {
      vk::add(c, *s.q, *L.bq, n * Q, Q);
      vk::add(c, *s.k, *L.bk, n * KV, KV);
      vk::add(c, *s.v, *L.bv, n * KV, KV);
    }
    if (L.q_norm) {  // qwen3: per-head RMSNorm before RoPE
      vk::rms_norm(c, *s.q, *L.q_norm, *s.q, n * NH, HD, hp_.rms_eps);
      vk::rms_norm(c, *s.k, *L.k_norm, *s.k, n * NKV, HD, hp_.rms_eps);
    }
    vk::rope(c, *s.q, *s.info, n, rope_freqs_.get(), n, rq);
    vk::rope(c, *s.k, *s.info, n, rope_freqs_.get(), n, rk);
    vk::kv_write(c, *s.k, *s.v, pool->buffer(), *s.info, shape, il, n, 2 * n, 3 * n);
    vk::attention(c, *s.q, pool->buffer(), *s.att, *s.info, shape, il, NH, scale, n, n, 4 * n);
    vk::matmul(c, L.wo, *s.att, n, *s.tmp);
    vk::add(c, *s.x, *s.tmp, n * E, n * E);
    vk::rms_norm(c, *s.x, *L.ffn_norm, *s.xn, n, E, hp_.rms_eps);
    vk::matmul(c, L.w_gate, *s.xn, n, *s.gate);
    vk::matmul(c, L.w_up, *s.xn, n, *s.up);
    vk::swiglu(c, *s.gate, *s.up, n * F);
    vk::matmul(c, L.w_down, *s.gate, n, *s.tmp);
    vk::add(c, *s.x, *s.tmp, n * E, n * E);
  }
  Logits out;
  if (!whole_model()) {
    c.flush();
    c.download(*s.x, x_out, n * E * sizeof(float));
    return out;
  }
  // Output head only over the runs of tokens that asked for logits.
  vk::rms_norm(c, *s.x, *output_norm_, *s.xn, n, E, hp_.rms_eps);
  const vk::DeviceMatrix& head = output_.buf ? output_ : tok_embd_;
  int64_t row = 0;
  for (const auto& [t0, count] : runs) {
    vk::matmul(c, head, *s.xn, count, *s.logits, t0 * E, row * V);
    row += count;
  }
  c.flush();
  out.n_vocab = static_cast<int32_t>(V);
  out.row_of.assign(n, -1);
  int32_t r = 0;
  for (int64_t t = 0; t < n; ++t)
    if (batch.tokens[t].logits) out.row_of[t] = r++;
  const float* logits = reinterpret_cast<const float*>(s.logits->host());
  out.data.assign(logits, logits + n_logits * V);
  return out;
}

}  // namespace edgerag
