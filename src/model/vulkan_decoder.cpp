#include "model/vulkan_decoder.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>

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

// One step's ops recorded into the context's command buffer, under its lock
// (held until the hidden states are read back, or the logits returned).
class VulkanDecoder::Step final : public DecoderOps {
 public:
  Step(const VulkanDecoder& d, const Batch& batch, KvCache& cache, const std::vector<int32_t>& blk,
       const std::vector<int32_t>& slot)
      : d_(d), hp_(d.hp_), batch_(batch), n_(static_cast<int64_t>(batch.size())), lock_(d.ctx_->lock()),
        c_(*d.ctx_) {
    EDGERAG_CHECK(n_ <= 65535, "vulkan: a batch of {} tokens is above 65535", n_);
    pool_ = dynamic_cast<VulkanKvPool*>(cache.device_pool());
    EDGERAG_CHECK(pool_ != nullptr, "vulkan: the KV cache has no device pool (make it with Model::make_cache)");
    // Step inputs: ids | pos | blk | slot | table start per token | block tables.
    std::vector<int32_t> info(5 * n_);
    std::map<SeqId, int32_t> table_at;
    for (int64_t t = 0; t < n_; ++t) {
      const BatchToken& tok = batch.tokens[t];
      info[t] = tok.id;
      info[n_ + t] = tok.pos;
      info[2 * n_ + t] = blk[t];
      info[3 * n_ + t] = slot[t];
      auto [it, fresh] = table_at.try_emplace(tok.seq, static_cast<int32_t>(info.size()));
      if (fresh) {
        const auto& tab = cache.block_table(tok.seq);
        info.insert(info.end(), tab.begin(), tab.end());
      }
      info[4 * n_ + t] = it->second;
    }
    const int64_t E = hp_.n_embd, Q = hp_.n_embd_q(), KV = hp_.n_embd_kv(), F = hp_.n_ff;
    if (!d.scratch_) d.scratch_ = std::make_unique<Scratch>();
    s_ = d.scratch_.get();
    for (auto [b, width] : {std::pair{&s_->x, E}, {&s_->xn, E}, {&s_->q, Q}, {&s_->k, KV}, {&s_->v, KV},
                            {&s_->att, Q}, {&s_->tmp, E}, {&s_->gate, F}, {&s_->up, F}})
      ensure(c_, *b, n_ * width);
    ensure(c_, s_->info, static_cast<int64_t>(info.size()), true);
    std::copy(info.begin(), info.end(), reinterpret_cast<int32_t*>(s_->info->host()));
  }

  void embed() override {
    EDGERAG_CHECK(d_.whole_model(), "vulkan: the embedding table is on the device only when every layer is");
    vk::get_rows(c_, d_.tok_embd_, *s_->info, 0, n_, *s_->x);
  }
  void read_x(float* host) override {
    c_.flush();
    c_.download(*s_->x, host, n_ * hp_.n_embd * sizeof(float));
    lock_.unlock();  // the device's part of the step is over
  }
  void write_x(const float* host) override { c_.upload(*s_->x, host, n_ * hp_.n_embd * sizeof(float)); }
  void rms_norm(int32_t layer, Norm w, Act in, Act out) override {
    const Layer& L = d_.layers_[layer];
    const bool per_head = w == Norm::QHead || w == Norm::KHead;
    const vk::Buffer& weight =
        *(w == Norm::Attn ? L.attn_norm : w == Norm::Ffn ? L.ffn_norm : w == Norm::QHead ? L.q_norm : L.k_norm);
    const int64_t rows = !per_head ? n_ : n_ * (w == Norm::QHead ? hp_.n_head : hp_.n_head_kv);
    vk::rms_norm(c_, act(in), weight, act(out), rows, per_head ? hp_.head_dim : hp_.n_embd, hp_.rms_eps);
  }
  void linear(int32_t layer, Linear w, Act in, Act out) override {
    const Layer& L = d_.layers_[layer];
    const vk::DeviceMatrix* m[] = {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down};
    vk::matmul(c_, *m[static_cast<int>(w)], act(in), n_, act(out));
  }
  void add_bias(int32_t layer, Linear w, Act y) override {
    const Layer& L = d_.layers_[layer];
    const int64_t width = w == Linear::Q ? hp_.n_embd_q() : hp_.n_embd_kv();
    vk::add(c_, act(y), *(w == Linear::Q ? L.bq : w == Linear::K ? L.bk : L.bv), n_ * width, width);
  }
  void rope(Act y, int32_t n_heads) override {
    const vk::RopeParams rp{n_heads, hp_.head_dim, hp_.n_rot, hp_.rope_freq_base, hp_.rope_freq_scale, hp_.rope_neox};
    vk::rope(c_, act(y), *s_->info, n_, d_.rope_freqs_.get(), n_, rp);
  }
  void kv_write(int32_t layer) override {
    vk::kv_write(c_, *s_->k, *s_->v, pool_->buffer(), *s_->info, pool_->shape(), layer, n_, 2 * n_, 3 * n_);
  }
  void attention(int32_t layer) override {
    const float scale = 1.0f / std::sqrt(static_cast<float>(hp_.head_dim));
    vk::attention(c_, *s_->q, pool_->buffer(), *s_->att, *s_->info, pool_->shape(), layer, hp_.n_head, scale, n_, n_,
                  4 * n_);
  }
  void swiglu() override { vk::swiglu(c_, *s_->gate, *s_->up, n_ * hp_.n_ff); }
  void add_residual() override { vk::add(c_, *s_->x, *s_->tmp, n_ * hp_.n_embd, n_ * hp_.n_embd); }

  // Output head only over the runs of tokens that asked for logits.
  Logits output() override {
    EDGERAG_CHECK(d_.whole_model(), "vulkan: the output head is on the device only when every layer is");
    const int64_t E = hp_.n_embd, V = hp_.n_vocab;
    std::vector<std::pair<int64_t, int64_t>> runs;  // [first token, count) of tokens wanting logits
    Logits out;
    out.n_vocab = static_cast<int32_t>(V);
    out.row_of.assign(n_, -1);
    int32_t n_logits = 0;
    for (int64_t t = 0; t < n_; ++t) {
      if (!batch_.tokens[t].logits) continue;
      if (!runs.empty() && runs.back().first + runs.back().second == t) ++runs.back().second;
      else runs.emplace_back(t, 1);
      out.row_of[t] = n_logits++;
    }
    ensure(c_, s_->logits, std::max<int64_t>(1, n_logits * V), true);
    vk::rms_norm(c_, *s_->x, *d_.output_norm_, *s_->xn, n_, E, hp_.rms_eps);
    const vk::DeviceMatrix& head = d_.output_.buf ? d_.output_ : d_.tok_embd_;
    int64_t row = 0;
    for (const auto& [t0, count] : runs) {
      vk::matmul(c_, head, *s_->xn, count, *s_->logits, t0 * E, row * V);
      row += count;
    }
    c_.flush();
    const float* logits = reinterpret_cast<const float*>(s_->logits->host());
    out.data.assign(logits, logits + n_logits * V);
    lock_.unlock();
    return out;
  }

 private:
  vk::Buffer& act(Act a) {
    switch (a) {
      case Act::X: return *s_->x;
      case Act::XN: return *s_->xn;
      case Act::Q: return *s_->q;
      case Act::K: return *s_->k;
      case Act::V: return *s_->v;
      case Act::Att: return *s_->att;
      case Act::Tmp: return *s_->tmp;
      case Act::Gate: return *s_->gate;
      case Act::Up: return *s_->up;
    }
    fail("vulkan: unknown activation");
  }

  const VulkanDecoder& d_;
  const HParams& hp_;
  const Batch& batch_;
  int64_t n_;
  std::unique_lock<std::mutex> lock_;
  vk::Context& c_;
  VulkanKvPool* pool_ = nullptr;
  Scratch* s_ = nullptr;
};

std::unique_ptr<DecoderOps> VulkanDecoder::begin_step(const Batch& batch, KvCache& cache,
                                                      const std::vector<int32_t>& blk,
                                                      const std::vector<int32_t>& slot) const {
  return std::make_unique<Step>(*this, batch, cache, blk, slot);
}

}  // namespace edgerag
