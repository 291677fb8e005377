#include "model/vulkan_encoder.h"

#include <cmath>
#include <mutex>

#include "util/error.h"

namespace edgerag {

// A layer on the device. bert: q/k/v/o, up -> GELU -> down. modern-bert: the fused
// QKV is uploaded as three matrices and the GLU's up (2 * n_ff rows) as its
// activated half `up` and its multiplier half `up2`, so every op reads whole buffers.
struct VulkanEncoder::Layer {
  vk::DeviceMatrix q, k, v, o, up, up2, down;
  vk::BufferPtr q_b, k_b, v_b, o_b, up_b, up2_b, down_b;
  vk::BufferPtr attn_norm_w, attn_norm_b, out_norm_w, out_norm_b;
};

// Activations of one pass plus the host-visible inputs:
// ids | positions | token types | span start | span end, one int per token each.
struct VulkanEncoder::Scratch {
  vk::BufferPtr x, h, q, k, v, att, tmp, up, up2, info;
};

namespace {

// Rows [r0, r0 + n) of a weight matrix (the parts of a fused tensor).
Matrix rows_of(const Matrix& m, int64_t r0, int64_t n) {
  return Matrix::of(m.type, m.cols, n, m.data + static_cast<size_t>(r0) * m.row_bytes);
}

vk::BufferPtr floats_or_null(vk::Context& ctx, const float* v, int64_t n) {
  return v ? vk::upload_floats(ctx, v, n) : nullptr;
}

// A buffer of at least n 4-byte values (reallocated when too small).
void ensure(vk::Context& ctx, vk::BufferPtr& b, int64_t n, bool host_visible = false) {
  if (!b || b->size() < static_cast<size_t>(n) * 4) b = ctx.alloc(static_cast<size_t>(n) * 4, host_visible);
}

}  // namespace

VulkanEncoder::VulkanEncoder(const BertHParams& hp, const EncoderWeights& w, int64_t n_layers,
                             size_t vram_budget_bytes)
    : hp_(hp), n_layers_(n_layers), ctx_(vk::Context::shared()) {
  EDGERAG_CHECK(n_layers >= 1 && n_layers <= hp_.n_layer, "vulkan: {} GPU layers for an encoder of {}", n_layers,
                hp_.n_layer);
  const int64_t E = hp_.n_embd, F = hp_.n_ff, D = E / hp_.n_head;
  EDGERAG_CHECK(D <= 256, "vulkan: head_dim {} is above the attention shader's 256", D);
  // Sizes first: an unsupported type or an over-budget model fails before any upload.
  auto count = [&](const Matrix& m) {
    if (m.rows == 0) return;
    EDGERAG_CHECK(vk::has_kernel(m.type), "vulkan: no shader for {} weights (types with shaders: F32, F16, BF16, Q8_0, "
                  "Q4_0, Q4_1, Q4_K, Q5_K, Q6_K)", dtype_name(m.type));
    weight_bytes_ += m.nbytes();
  };
  for (const Matrix* m : {&w.tok_embd, &w.pos_embd, &w.type_embd}) count(*m);
  for (int64_t il = 0; il < n_layers; ++il) {
    const EncoderLayer& L = w.layers[il];
    for (const Matrix* m : {&L.q, &L.k, &L.v, &L.qkv, &L.o, &L.up, &L.down}) count(*m);
  }
  EDGERAG_CHECK(vram_budget_bytes == 0 || weight_bytes_ <= vram_budget_bytes,
                "vulkan: {:.1f} MiB of encoder weights exceed --vram-budget {} MB", weight_bytes_ / 1048576.0,
                vram_budget_bytes / 1000000);

  std::lock_guard lock(ctx_->lock());
  vk::Context& c = *ctx_;
  tok_embd_ = vk::upload_matrix(c, w.tok_embd);
  if (w.pos_embd.rows > 0) pos_embd_ = vk::upload_matrix(c, w.pos_embd);
  if (w.type_embd.rows > 0) type_embd_ = vk::upload_matrix(c, w.type_embd);
  embd_norm_w_ = floats_or_null(c, w.embd_norm_w, E);
  embd_norm_b_ = floats_or_null(c, w.embd_norm_b, E);
  if (whole_model()) {
    out_norm_w_ = floats_or_null(c, w.out_norm_w, E);
    out_norm_b_ = floats_or_null(c, w.out_norm_b, E);
  }
  const bool modern = hp_.arch == EncoderArch::ModernBert;
  layers_.resize(n_layers);
  for (int64_t il = 0; il < n_layers; ++il) {
    const EncoderLayer& s = w.layers[il];
    Layer& d = layers_[il];
    if (modern) {
      d.q = vk::upload_matrix(c, rows_of(s.qkv, 0, E));
      d.k = vk::upload_matrix(c, rows_of(s.qkv, E, E));
      d.v = vk::upload_matrix(c, rows_of(s.qkv, 2 * E, E));
      d.q_b = floats_or_null(c, s.qkv_b, E);
      d.k_b = floats_or_null(c, s.qkv_b ? s.qkv_b + E : nullptr, E);
      d.v_b = floats_or_null(c, s.qkv_b ? s.qkv_b + 2 * E : nullptr, E);
      d.up = vk::upload_matrix(c, rows_of(s.up, 0, F));
      d.up2 = vk::upload_matrix(c, rows_of(s.up, F, F));
      d.up_b = floats_or_null(c, s.up_b, F);
      d.up2_b = floats_or_null(c, s.up_b ? s.up_b + F : nullptr, F);
    } else {
      d.q = vk::upload_matrix(c, s.q);
      d.k = vk::upload_matrix(c, s.k);
      d.v = vk::upload_matrix(c, s.v);
      d.q_b = floats_or_null(c, s.q_b, E);
      d.k_b = floats_or_null(c, s.k_b, E);
      d.v_b = floats_or_null(c, s.v_b, E);
      d.up = vk::upload_matrix(c, s.up);
      d.up_b = floats_or_null(c, s.up_b, F);
    }
    d.o = vk::upload_matrix(c, s.o);
    d.o_b = floats_or_null(c, s.o_b, E);
    d.down = vk::upload_matrix(c, s.down);
    d.down_b = floats_or_null(c, s.down_b, E);
    d.attn_norm_w = floats_or_null(c, s.attn_norm_w, E);
    d.attn_norm_b = floats_or_null(c, s.attn_norm_b, E);
    d.out_norm_w = floats_or_null(c, s.out_norm_w, E);
    d.out_norm_b = floats_or_null(c, s.out_norm_b, E);
  }
}

VulkanEncoder::~VulkanEncoder() = default;

// One pass's ops recorded into the context's command buffer, under its lock (held
// until the hidden states are read back).
class VulkanEncoder::Pass final : public EncoderOps {
 public:
  Pass(const VulkanEncoder& d, const std::vector<BertInput>& batch, const std::vector<int64_t>& start)
      : d_(d), hp_(d.hp_), n_(start.back()), lock_(d.ctx_->lock()), c_(*d.ctx_) {
    EDGERAG_CHECK(n_ <= 65535, "vulkan: an encoder pass of {} tokens is above 65535", n_);
    // Pass inputs: ids | positions | token types | span start | span end, one int per token each.
    std::vector<int32_t> info(5 * n_);
    for (size_t s = 0; s < batch.size(); ++s)
      for (int64_t i = 0; i < start[s + 1] - start[s]; ++i) {
        const int64_t t = start[s] + i;
        info[t] = batch[s].ids[i];
        info[n_ + t] = static_cast<int32_t>(i);
        info[2 * n_ + t] = batch[s].type_ids.empty() ? 0 : batch[s].type_ids[i];
        info[3 * n_ + t] = static_cast<int32_t>(start[s]);
        info[4 * n_ + t] = static_cast<int32_t>(start[s + 1]);
      }
    if (!d.scratch_) d.scratch_ = std::make_unique<Scratch>();
    s_ = d.scratch_.get();
    const int64_t E = hp_.n_embd, F = hp_.n_ff;
    for (vk::BufferPtr* b : {&s_->x, &s_->h, &s_->q, &s_->k, &s_->v, &s_->att, &s_->tmp}) ensure(c_, *b, n_ * E);
    ensure(c_, s_->up, n_ * F);
    ensure(c_, s_->up2, n_ * F);
    ensure(c_, s_->info, 5 * n_, true);
    std::copy(info.begin(), info.end(), reinterpret_cast<int32_t*>(s_->info->host()));
  }
  // A pass abandoned before read_x (an exception on the host) leaves nothing
  // recorded behind for the next one.
  ~Pass() override {
    if (!lock_.owns_lock()) return;
    try {
      c_.flush();
    } catch (const std::exception&) {  // already unwinding; the device error resurfaces on the next pass
    }
  }

  void embed() override {
    const int64_t E = hp_.n_embd;
    vk::get_rows(c_, d_.tok_embd_, *s_->info, 0, n_, *s_->x);
    if (d_.pos_embd_.buf) {
      vk::get_rows(c_, d_.pos_embd_, *s_->info, n_, n_, *s_->tmp);
      vk::add(c_, *s_->x, *s_->tmp, n_ * E, n_ * E);
    }
    if (d_.type_embd_.buf) {
      vk::get_rows(c_, d_.type_embd_, *s_->info, 2 * n_, n_, *s_->tmp);
      vk::add(c_, *s_->x, *s_->tmp, n_ * E, n_ * E);
    }
  }
  void read_x(float* host) override {
    c_.flush();
    c_.download(*s_->x, host, n_ * hp_.n_embd * sizeof(float));
    lock_.unlock();  // the device's part of the pass is over
  }
  void write_x(const float* host) override { c_.upload(*s_->x, host, n_ * hp_.n_embd * sizeof(float)); }
  void layer_norm(int32_t layer, EncNorm w, EncAct in, EncAct out) override {
    const vk::BufferPtr *weight = nullptr, *bias = nullptr;
    switch (w) {
      case EncNorm::Embd: weight = &d_.embd_norm_w_, bias = &d_.embd_norm_b_; break;
      case EncNorm::Final: weight = &d_.out_norm_w_, bias = &d_.out_norm_b_; break;
      case EncNorm::Attn: weight = &d_.layers_[layer].attn_norm_w, bias = &d_.layers_[layer].attn_norm_b; break;
      case EncNorm::Out: weight = &d_.layers_[layer].out_norm_w, bias = &d_.layers_[layer].out_norm_b; break;
    }
    EDGERAG_CHECK(weight && *weight, "vulkan: a LayerNorm that is not on the device");
    vk::layer_norm(c_, act(in), **weight, bias->get(), act(out), n_, hp_.n_embd, hp_.eps);
  }
  void qkv(int32_t layer, EncAct in) override {
    const Layer& L = d_.layers_[layer];
    linear(L.q, L.q_b, act(in), *s_->q);
    linear(L.k, L.k_b, act(in), *s_->k);
    linear(L.v, L.v_b, act(in), *s_->v);
  }
  void rope(float base) override {
    const int32_t H = static_cast<int32_t>(hp_.n_head), D = static_cast<int32_t>(hp_.n_embd / hp_.n_head);
    const vk::RopeParams rp{H, D, D, base, 1.0f, true};
    vk::rope(c_, *s_->q, *s_->info, n_, nullptr, n_, rp);
    vk::rope(c_, *s_->k, *s_->info, n_, nullptr, n_, rp);
  }
  void attention(int64_t half_window) override {
    const int64_t H = hp_.n_head, D = hp_.n_embd / H;
    vk::encoder_attention(c_, *s_->q, *s_->k, *s_->v, *s_->att, *s_->info, 3 * n_, static_cast<int32_t>(H),
                          static_cast<int32_t>(D), half_window, 1.0f / std::sqrt(static_cast<float>(D)), n_);
  }
  void attn_out(int32_t layer) override {
    const Layer& L = d_.layers_[layer];
    linear(L.o, L.o_b, *s_->att, *s_->tmp);
  }
  void ffn(int32_t layer, EncAct in, EncAct out) override {
    const Layer& L = d_.layers_[layer];
    const int64_t F = hp_.n_ff;
    linear(L.up, L.up_b, act(in), *s_->up);
    if (L.up2.buf) {  // GLU: act(up) * up2
      linear(L.up2, L.up2_b, act(in), *s_->up2);
      if (hp_.ffn_silu) vk::swiglu(c_, *s_->up, *s_->up2, n_ * F);
      else vk::gelu(c_, *s_->up, s_->up2.get(), n_ * F);
    } else {
      vk::gelu(c_, *s_->up, nullptr, n_ * F);
    }
    linear(L.down, L.down_b, *s_->up, act(out));
  }
  void add_residual() override { vk::add(c_, *s_->x, *s_->tmp, n_ * hp_.n_embd, n_ * hp_.n_embd); }

 private:
  // y = W x (+ b) for every token.
  void linear(const vk::DeviceMatrix& w, const vk::BufferPtr& b, const vk::Buffer& x, vk::Buffer& y) {
    vk::matmul(c_, w, x, n_, y);
    if (b) vk::add(c_, y, *b, n_ * w.rows, w.rows);
  }
  vk::Buffer& act(EncAct a) {
    switch (a) {
      case EncAct::X: return *s_->x;
      case EncAct::H: return *s_->h;
      case EncAct::Att: return *s_->att;
      case EncAct::Tmp: return *s_->tmp;
    }
    fail("vulkan: unknown activation");
  }

  const VulkanEncoder& d_;
  const BertHParams& hp_;
  int64_t n_;
  std::unique_lock<std::mutex> lock_;
  vk::Context& c_;
  Scratch* s_ = nullptr;
};

std::unique_ptr<EncoderOps> VulkanEncoder::begin_pass(const std::vector<BertInput>& batch,
                                                      const std::vector<int64_t>& start) const {
  return std::make_unique<Pass>(*this, batch, start);
}

}  // namespace edgerag
