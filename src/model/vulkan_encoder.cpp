#include "model/vulkan_encoder.h"

#include <cmath>

#include "model/bert_internal.h"
#include "util/error.h"

namespace edgerag {

// A layer on the device. bert: q/k/v/o, up -> GELU -> down. modern-bert: the fused
// QKV is uploaded as three matrices and the GLU's up (2 * n_ff rows) as its
// activated half `up` and its multiplier half `up2`, so every op reads whole buffers.
struct VulkanEncoder::Layer {
  vk::DeviceMatrix q, k, v, o, up, up2, down;
  vk::BufferPtr q_b, k_b, v_b, o_b, up_b, up2_b, down_b;
  vk::BufferPtr attn_norm_w, attn_norm_b, out_norm_w, out_norm_b;
  bool sliding = false;
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

// y = W x (+ b) for n rows of x.
void linear(vk::Context& c, const vk::DeviceMatrix& w, const vk::BufferPtr& b, const vk::Buffer& x, int64_t n,
            vk::Buffer& y) {
  vk::matmul(c, w, x, n, y);
  if (b) vk::add(c, y, *b, n * w.rows, w.rows);
}

}  // namespace

VulkanEncoder::VulkanEncoder(const BertModel& m, int64_t n_layers, size_t vram_budget_bytes)
    : hp_(m.hp_), n_layers_(n_layers), ctx_(vk::Context::shared()) {
  EDGERAG_CHECK(n_layers >= 1 && n_layers <= hp_.n_layer, "vulkan: {} GPU layers for an encoder of {}", n_layers,
                hp_.n_layer);
  const int64_t E = hp_.n_embd, F = hp_.n_ff, D = E / hp_.n_head;
  EDGERAG_CHECK(D <= 256, "vulkan: head_dim {} is above the attention shader's 256", D);
  // Sizes first: an unsupported type or an over-budget model fails before any upload.
  auto count = [&](const Matrix& w) {
    if (w.rows == 0) return;
    EDGERAG_CHECK(vk::has_kernel(w.type), "vulkan: no shader for {} weights (types with shaders: F32, F16, BF16, Q8_0, "
                  "Q4_0, Q4_1, Q4_K, Q5_K, Q6_K)", dtype_name(w.type));
    weight_bytes_ += w.nbytes();
  };
  for (const Matrix* w : {&m.tok_embd_, &m.pos_embd_, &m.type_embd_}) count(*w);
  for (int64_t il = 0; il < n_layers; ++il) {
    const auto& L = m.layers_[il];
    for (const Matrix* w : {&L.q, &L.k, &L.v, &L.qkv, &L.o, &L.up, &L.down}) count(*w);
  }
  EDGERAG_CHECK(vram_budget_bytes == 0 || weight_bytes_ <= vram_budget_bytes,
                "vulkan: {:.1f} MiB of encoder weights exceed --vram-budget {} MB", weight_bytes_ / 1048576.0,
                vram_budget_bytes / 1000000);

  std::lock_guard lock(ctx_->lock());
  vk::Context& c = *ctx_;
  tok_embd_ = vk::upload_matrix(c, m.tok_embd_);
  if (m.pos_embd_.rows > 0) pos_embd_ = vk::upload_matrix(c, m.pos_embd_);
  if (m.type_embd_.rows > 0) type_embd_ = vk::upload_matrix(c, m.type_embd_);
  embd_norm_w_ = floats_or_null(c, m.embd_norm_w_, E);
  embd_norm_b_ = floats_or_null(c, m.embd_norm_b_, E);
  if (whole_model()) {
    out_norm_w_ = floats_or_null(c, m.out_norm_w_, E);
    out_norm_b_ = floats_or_null(c, m.out_norm_b_, E);
  }
  const bool modern = hp_.arch == EncoderArch::ModernBert;
  layers_.resize(n_layers);
  for (int64_t il = 0; il < n_layers; ++il) {
    const auto& s = m.layers_[il];
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
    d.sliding = s.sliding;
  }
}

VulkanEncoder::~VulkanEncoder() = default;

std::vector<float> VulkanEncoder::forward(const std::vector<BertInput>& batch, const std::vector<int64_t>& start) const {
  const int64_t T = start.back(), E = hp_.n_embd, H = hp_.n_head, D = E / H, F = hp_.n_ff;
  EDGERAG_CHECK(T <= 65535, "vulkan: an encoder pass of {} tokens is above 65535", T);
  std::vector<int32_t> info(5 * T);
  for (size_t s = 0; s < batch.size(); ++s)
    for (int64_t i = 0; i < start[s + 1] - start[s]; ++i) {
      const int64_t t = start[s] + i;
      info[t] = batch[s].ids[i];
      info[T + t] = static_cast<int32_t>(i);
      info[2 * T + t] = batch[s].type_ids.empty() ? 0 : batch[s].type_ids[i];
      info[3 * T + t] = static_cast<int32_t>(start[s]);
      info[4 * T + t] = static_cast<int32_t>(start[s + 1]);
    }

  std::lock_guard lock(ctx_->lock());
  vk::Context& c = *ctx_;
  if (!scratch_) scratch_ = std::make_unique<Scratch>();
  Scratch& s = *scratch_;
  for (vk::BufferPtr* b : {&s.x, &s.h, &s.q, &s.k, &s.v, &s.att, &s.tmp}) ensure(c, *b, T * E);
  ensure(c, s.up, T * F);
  ensure(c, s.up2, T * F);
  ensure(c, s.info, 5 * T, true);
  std::copy(info.begin(), info.end(), reinterpret_cast<int32_t*>(s.info->host()));

  // Embeddings: token (+ absolute position + token type for bert), then LayerNorm.
  vk::get_rows(c, tok_embd_, *s.info, 0, T, *s.x);
  if (pos_embd_.buf) {
    vk::get_rows(c, pos_embd_, *s.info, T, T, *s.tmp);
    vk::add(c, *s.x, *s.tmp, T * E, T * E);
  }
  if (type_embd_.buf) {
    vk::get_rows(c, type_embd_, *s.info, 2 * T, T, *s.tmp);
    vk::add(c, *s.x, *s.tmp, T * E, T * E);
  }
  vk::layer_norm(c, *s.x, *embd_norm_w_, embd_norm_b_.get(), *s.x, T, E, hp_.eps);

  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const bool modern = hp_.arch == EncoderArch::ModernBert;
  for (const Layer& L : layers_) {
    // modern-bert normalizes before attention (except in layer 0); bert after.
    const vk::Buffer* in = s.x.get();
    if (modern && L.attn_norm_w) {
      vk::layer_norm(c, *s.x, *L.attn_norm_w, L.attn_norm_b.get(), *s.h, T, E, hp_.eps);
      in = s.h.get();
    }
    linear(c, L.q, L.q_b, *in, T, *s.q);
    linear(c, L.k, L.k_b, *in, T, *s.k);
    linear(c, L.v, L.v_b, *in, T, *s.v);
    int64_t half_window = -1;
    if (modern) {  // NEOX RoPE over every head dim; positions restart at 0 in every input
      const float base = L.sliding ? hp_.rope_base_swa : hp_.rope_base;
      const vk::RopeParams rp{static_cast<int32_t>(H), static_cast<int32_t>(D), static_cast<int32_t>(D), base, 1.0f,
                              true};
      vk::rope(c, *s.q, *s.info, T, nullptr, T, rp);
      vk::rope(c, *s.k, *s.info, T, nullptr, T, rp);
      if (L.sliding) half_window = hp_.n_swa / 2;
    }
    vk::encoder_attention(c, *s.q, *s.k, *s.v, *s.att, *s.info, 3 * T, static_cast<int32_t>(H),
                          static_cast<int32_t>(D), half_window, scale, T);
    linear(c, L.o, L.o_b, *s.att, T, *s.tmp);
    vk::add(c, *s.x, *s.tmp, T * E, T * E);
    if (modern) {
      vk::layer_norm(c, *s.x, *L.out_norm_w, L.out_norm_b.get(), *s.h, T, E, hp_.eps);
      linear(c, L.up, L.up_b, *s.h, T, *s.up);
      linear(c, L.up2, L.up2_b, *s.h, T, *s.up2);
      if (hp_.ffn_silu) vk::swiglu(c, *s.up, *s.up2, T * F);
      else vk::gelu(c, *s.up, s.up2.get(), T * F);
      linear(c, L.down, L.down_b, *s.up, T, *s.tmp);
      vk::add(c, *s.x, *s.tmp, T * E, T * E);
    } else {
      vk::layer_norm(c, *s.x, *L.attn_norm_w, L.attn_norm_b.get(), *s.x, T, E, hp_.eps);
      linear(c, L.up, L.up_b, *s.x, T, *s.up);
      vk::gelu(c, *s.up, nullptr, T * F);
      linear(c, L.down, L.down_b, *s.up, T, *s.tmp);
      vk::add(c, *s.x, *s.tmp, T * E, T * E);
      vk::layer_norm(c, *s.x, *L.out_norm_w, L.out_norm_b.get(), *s.x, T, E, hp_.eps);
    }
  }
  if (modern && whole_model()) vk::layer_norm(c, *s.x, *out_norm_w_, out_norm_b_.get(), *s.x, T, E, hp_.eps);
  c.flush();
  std::vector<float> x(static_cast<size_t>(T * E));
  c.download(*s.x, x.data(), x.size() * sizeof(float));
  return x;
}

}  // namespace edgerag
