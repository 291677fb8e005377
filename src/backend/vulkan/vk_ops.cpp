#include "backend/vulkan/vk_ops.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "util/error.h"

namespace edgerag::vk {
namespace {

constexpr uint32_t kMaxGroups = 65535;  // the smallest maxComputeWorkGroupCount Vulkan allows
constexpr uint32_t kLocal = 64;         // local_size_x of every shader
constexpr uint32_t kTile = 8;           // tokens per matmul workgroup (matmul.comp TILE)
constexpr int64_t kTiledFrom = 16;      // tokens from which matmul_tiled.comp (16 x 16 tiles) runs

uint32_t u32(int64_t v) {
  EDGERAG_CHECK(v >= 0 && v <= int64_t{UINT32_MAX}, "vulkan: size {} out of range", v);
  return static_cast<uint32_t>(v);
}

// Groups for an element-wise loop of n values (shaders stride by the grid).
uint32_t groups_for(int64_t n) { return std::clamp<uint32_t>(u32((n + kLocal - 1) / kLocal), 1, kMaxGroups); }

// MatmulKernel's values in order, as EDGERAG_VK_MATMUL names them.
constexpr std::string_view kKernelNames[] = {"plain", "subgroup", "tiled", "intdot", "intdot_tiled"};

const char* type_suffix(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::F16: return "f16";
    case DType::BF16: return "bf16";
    case DType::Q8_0: return "q8_0";
    case DType::Q4_0: return "q4_0";
    case DType::Q4_1: return "q4_1";
    case DType::Q4_K: return "q4_k";
    case DType::Q5_K: return "q5_k";
    case DType::Q6_K: return "q6_k";
    default: return nullptr;
  }
}

}  // namespace

bool has_kernel(DType t) { return type_suffix(t) != nullptr; }

DeviceMatrix upload_matrix(Context& ctx, const Matrix& w) {
  EDGERAG_CHECK(has_kernel(w.type), "vulkan: no shader for {} weights", dtype_name(w.type));
  EDGERAG_CHECK(!w.packed, "vulkan: weights must be in the file layout, not packed");
  EDGERAG_CHECK(w.nbytes() <= ctx.max_buffer_bytes(), "vulkan: a {} MiB weight exceeds the device's {} MiB buffer limit",
                w.nbytes() >> 20, ctx.max_buffer_bytes() >> 20);
  DeviceMatrix d;
  d.type = w.type;
  d.cols = w.cols;
  d.rows = w.rows;
  d.row_bytes = w.row_bytes;
  d.buf = ctx.alloc(w.nbytes());
  ctx.upload(*d.buf, w.data, w.nbytes());
  return d;
}

BufferPtr upload_floats(Context& ctx, const float* v, int64_t n) {
  BufferPtr b = ctx.alloc(static_cast<size_t>(n) * sizeof(float));
  ctx.upload(*b, v, static_cast<size_t>(n) * sizeof(float));
  return b;
}

bool has_intdot(DType t) { return t == DType::Q8_0 || t == DType::Q4_0 || t == DType::Q4_1; }

MatmulKernel select_matmul(const MatmulFeatures& f, bool use_subgroups, DType type, int64_t n_tokens) {
  const bool tiled = n_tokens >= kTiledFrom;
  if (f.integer_dot && has_intdot(type)) return tiled ? MatmulKernel::IntDotTiled : MatmulKernel::IntDot;
  if (tiled) return MatmulKernel::Tiled;
  return use_subgroups && f.subgroup_size > 0 ? MatmulKernel::Subgroup : MatmulKernel::Plain;
}

bool can_run(const Context& ctx, DType type, MatmulKernel k) {
  switch (k) {
    case MatmulKernel::Subgroup: return ctx.features().subgroup_size > 0;
    case MatmulKernel::IntDot:
    case MatmulKernel::IntDotTiled: return ctx.features().integer_dot && has_intdot(type);
    default: return true;
  }
}

std::optional<MatmulKernel> matmul_override() {
  static const std::optional<MatmulKernel> k = []() -> std::optional<MatmulKernel> {
    const char* e = std::getenv("EDGERAG_VK_MATMUL");
    const std::string_view v = e ? e : "";
    if (v.empty()) return std::nullopt;
    for (size_t i = 0; i < std::size(kKernelNames); ++i)
      if (v == kKernelNames[i]) return static_cast<MatmulKernel>(i);
    fail("EDGERAG_VK_MATMUL={}: expected plain, subgroup, tiled, intdot or intdot_tiled", v);
  }();
  return k;
}

void matmul(Context& ctx, const DeviceMatrix& w, const Buffer& x, int64_t n_tokens, Buffer& y, int64_t x_off,
            int64_t y_off, std::optional<MatmulKernel> kernel) {
  if (kernel) {
    EDGERAG_CHECK(can_run(ctx, w.type, *kernel), "vulkan: {} cannot run matmul kernel {} for {} weights",
                  ctx.device_name(), kKernelNames[static_cast<int>(*kernel)], dtype_name(w.type));
  } else if (const auto forced = matmul_override(); forced && can_run(ctx, w.type, *forced)) {
    kernel = forced;
  } else {
    kernel = select_matmul(ctx.features(), ctx.subgroups(), w.type, n_tokens);
  }
  struct {
    uint32_t cols, rows, n_tokens, row_bytes, w_off, x_off, y_off, r_off;
  } p{u32(w.cols), u32(w.rows), u32(n_tokens), u32(w.row_bytes), 0, u32(x_off), u32(y_off), 0};
  const Buffer* in = &x;
  const bool intdot = kernel == MatmulKernel::IntDot || kernel == MatmulKernel::IntDotTiled;
  if (intdot) {  // the activations to Q8 blocks of 10 words first (quantize_q8.comp)
    const int64_t blocks = n_tokens * (w.cols / 32);
    Buffer& q = ctx.scratch(static_cast<size_t>(blocks) * 40);
    struct {
      uint32_t n_blocks, x_off;
    } qp{u32(blocks), u32(x_off)};
    ctx.dispatch("quantize_q8", {Arg{&x}, Arg{&q}}, qp, groups_for(blocks));
    in = &q;
    p.x_off = 0;
  }
  const char* kind = intdot ? "intdot_" : "";
  if (kernel == MatmulKernel::Tiled || kernel == MatmulKernel::IntDotTiled) {  // 16 rows x 16 tokens per workgroup
    constexpr int64_t kRowsPer = 16 * kMaxGroups;
    for (int64_t r = 0; r < w.rows; r += kRowsPer) {
      p.r_off = u32(r);
      ctx.dispatch(fmt::format("matmul_tiled_{}{}", kind, type_suffix(w.type)), {Arg{w.buf.get()}, Arg{in}, Arg{&y}},
                   p, u32((std::min(kRowsPer, w.rows - r) + 15) / 16), u32((n_tokens + 15) / 16));
    }
    return;
  }
  const bool sg = kernel == MatmulKernel::Subgroup || (kernel == MatmulKernel::IntDot && ctx.subgroups());
  const std::string shader = fmt::format("matmul_{}{}{}", kind, type_suffix(w.type), sg ? "_sg" : "");
  const uint32_t tiles = u32((n_tokens + kTile - 1) / kTile);
  for (int64_t r = 0; r < w.rows; r += kMaxGroups) {
    p.r_off = u32(r);
    ctx.dispatch(shader, {Arg{w.buf.get()}, Arg{in}, Arg{&y}}, p, u32(std::min<int64_t>(kMaxGroups, w.rows - r)),
                 tiles);
  }
}

void get_rows(Context& ctx, const DeviceMatrix& w, const Buffer& ids, int64_t ids_off, int64_t n_tokens, Buffer& y) {
  struct {
    uint32_t cols, row_bytes, n_tokens, ids_off;
  } p{u32(w.cols), u32(w.row_bytes), u32(n_tokens), u32(ids_off)};
  ctx.dispatch(fmt::format("get_rows_{}", type_suffix(w.type)), {Arg{w.buf.get()}, Arg{&ids}, Arg{&y}}, p,
               groups_for(w.cols), u32(n_tokens));
}

void rms_norm(Context& ctx, const Buffer& x, const Buffer& w, Buffer& y, int64_t rows, int64_t n, float eps) {
  for (int64_t r = 0; r < rows; r += kMaxGroups) {
    struct {
      uint32_t row_off, n;
      float eps;
    } p{u32(r), u32(n), eps};
    ctx.dispatch("rms_norm", {Arg{&x}, Arg{&w}, Arg{&y}}, p, u32(std::min<int64_t>(kMaxGroups, rows - r)));
  }
}

void layer_norm(Context& ctx, const Buffer& x, const Buffer& w, const Buffer* b, Buffer& y, int64_t rows, int64_t n,
                float eps) {
  for (int64_t r = 0; r < rows; r += kMaxGroups) {
    struct {
      uint32_t row_off, n, has_bias;
      float eps;
    } p{u32(r), u32(n), b ? 1u : 0u, eps};
    ctx.dispatch("layer_norm", {Arg{&x}, Arg{&w}, Arg{b ? b : &w}, Arg{&y}}, p,
                 u32(std::min<int64_t>(kMaxGroups, rows - r)));
  }
}

void softmax(Context& ctx, Buffer& x, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; r += kMaxGroups) {
    struct {
      uint32_t row_off, n;
    } p{u32(r), u32(n)};
    ctx.dispatch("softmax", {Arg{&x}}, p, u32(std::min<int64_t>(kMaxGroups, rows - r)));
  }
}

void swiglu(Context& ctx, Buffer& gate, const Buffer& up, int64_t n) {
  const uint32_t p = u32(n);
  ctx.dispatch("swiglu", {Arg{&gate}, Arg{&up}}, p, groups_for(n));
}

void gelu(Context& ctx, Buffer& g, const Buffer* up, int64_t n) {
  struct {
    uint32_t n, has_up;
  } p{u32(n), up ? 1u : 0u};
  ctx.dispatch("gelu", {Arg{&g}, Arg{up ? up : &g}}, p, groups_for(n));
}

void add(Context& ctx, Buffer& y, const Buffer& x, int64_t n, int64_t period) {
  struct {
    uint32_t n, period;
  } p{u32(n), u32(period)};
  ctx.dispatch("add", {Arg{&y}, Arg{&x}}, p, groups_for(n));
}

void rope(Context& ctx, Buffer& x, const Buffer& pos, int64_t pos_off, const Buffer* factors, int64_t n_tokens,
          const RopeParams& rp) {
  struct {
    uint32_t n_heads, head_dim, n_rot, neox, has_factors, pos_off;
    float freq_base, freq_scale;
  } p{u32(rp.n_heads), u32(rp.head_dim), u32(rp.n_rot), rp.neox ? 1u : 0u, factors ? 1u : 0u, u32(pos_off),
      rp.freq_base, rp.freq_scale};
  ctx.dispatch("rope", {Arg{&x}, Arg{&pos}, Arg{factors ? factors : &pos}}, p,
               u32((int64_t{rp.n_rot} / 2 * rp.n_heads + kLocal - 1) / kLocal), u32(n_tokens));
}

void kv_write(Context& ctx, const Buffer& k, const Buffer& v, Buffer& pool, const Buffer& info, const KvShape& s,
              int32_t layer, int64_t n_tokens, int64_t blk_off, int64_t slot_off) {
  struct {
    uint32_t n_kv, head_dim, block_size, layer, n_layer, blk_off, slot_off;
  } p{u32(s.n_kv), u32(s.head_dim), u32(s.block_size), u32(layer), u32(s.n_layer), u32(blk_off), u32(slot_off)};
  ctx.dispatch("kv_write", {Arg{&k}, Arg{&v}, Arg{&pool}, Arg{&info}}, p,
               u32((int64_t{s.n_kv} * s.head_dim + kLocal - 1) / kLocal), u32(n_tokens));
}

void attention(Context& ctx, const Buffer& q, const Buffer& pool, Buffer& out, const Buffer& info, const KvShape& s,
               int32_t layer, int32_t n_head, float scale, int64_t n_tokens, int64_t pos_off, int64_t tab_off) {
  EDGERAG_CHECK(s.head_dim <= 256 && n_head % s.n_kv == 0, "vulkan attention: head_dim {} > 256 or {} heads over {}",
                s.head_dim, n_head, s.n_kv);
  struct {
    uint32_t n_head, n_kv, head_dim, block_size, layer, n_layer, pos_off, tab_off;
    float scale;
  } p{u32(n_head), u32(s.n_kv), u32(s.head_dim), u32(s.block_size), u32(layer), u32(s.n_layer), u32(pos_off),
      u32(tab_off), scale};
  ctx.dispatch("attention", {Arg{&q}, Arg{&pool}, Arg{&out}, Arg{&info}}, p, u32(n_head), u32(n_tokens));
}

void encoder_attention(Context& ctx, const Buffer& q, const Buffer& k, const Buffer& v, Buffer& out,
                       const Buffer& info, int64_t lo_off, int32_t n_head, int32_t head_dim, int64_t half_window,
                       float scale, int64_t n_tokens) {
  EDGERAG_CHECK(head_dim <= 256 && n_tokens <= kMaxGroups, "vulkan encoder attention: head_dim {} > 256 or {} tokens",
                head_dim, n_tokens);
  struct {
    uint32_t n_head, head_dim, n_tokens, lo_off;
    int32_t half_window;
    float scale;
  } p{u32(n_head), u32(head_dim), u32(n_tokens), u32(lo_off),
      static_cast<int32_t>(std::clamp<int64_t>(half_window, -1, INT32_MAX)), scale};
  ctx.dispatch("encoder_attention", {Arg{&q}, Arg{&k}, Arg{&v}, Arg{&out}, Arg{&info}}, p, u32(n_head), u32(n_tokens));
}

}  // namespace edgerag::vk
