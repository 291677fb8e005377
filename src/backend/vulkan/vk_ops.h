// The Vulkan backend's operators: each records one or more shader dispatches
// into the context's command buffer (nothing runs until Context::flush). Buffers
// hold row-major float activations unless said otherwise; weights keep their
// GGUF block layout (uploaded once, dequantized inside the shaders).
// The CPU scalar references (tensor/ops.h, dequantize_row, attention_reference)
// are the oracle of tests/backend.
#pragma once
#include <cstdint>
#include <optional>

#include "backend/vulkan/vk_context.h"
#include "tensor/dtype.h"
#include "tensor/ops.h"

namespace edgerag::vk {

// Weight types with a matmul / get_rows shader.
bool has_kernel(DType t);

// A weight matrix in device memory, in the file's layout (rows of row_bytes).
struct DeviceMatrix {
  DType type = DType::F32;
  int64_t cols = 0, rows = 0;
  size_t row_bytes = 0;
  BufferPtr buf;
};
// Uploads w (which must be in the file layout, not packed). Throws for a type
// without a kernel or a matrix larger than the device's storage buffer range.
DeviceMatrix upload_matrix(Context& ctx, const Matrix& w);
// A float vector uploaded as is.
BufferPtr upload_floats(Context& ctx, const float* v, int64_t n);

// The matrix-product kernels. Plain / Subgroup: matmul.comp, a workgroup per (row,
// 8 tokens) reducing its partial sums by a shared-memory tree / subgroupAdd. Tiled:
// matmul_tiled.comp, 16 rows x 16 tokens in shared-memory tiles (prefill). IntDot /
// IntDotTiled: the same two shapes over activations quantized to Q8 blocks on the
// device (quantize_q8.comp, as the CPU quantizes them) with 4x8-bit packed integer
// dot products, for the types of has_intdot; IntDot reduces with subgroupAdd when
// subgroups are in use.
enum class MatmulKernel { Plain, Subgroup, Tiled, IntDot, IntDotTiled };
// Weight types with int-dot kernels: Q8_0, Q4_0, Q4_1.
bool has_intdot(DType t);
// The kernel a product of n_tokens with `type` weights runs by default: int-dot when
// the device has integer dot products and the type has kernels, else the float ones;
// the tiled shape from 16 tokens, below that subgroup reductions where the device has
// them and they are in use, else Plain. There is no cooperative-matrix kernel:
// Debian bookworm's glslc cannot compile GL_KHR_cooperative_matrix and its lavapipe
// lacks VK_KHR_cooperative_matrix, so such a kernel could be neither built nor tested;
// MatmulFeatures::cooperative_matrix selects nothing.
MatmulKernel select_matmul(const MatmulFeatures& f, bool use_subgroups, DType type, int64_t n_tokens);
// Whether this device runs `k` for `type` weights (int-dot: the device's integer dot
// products and has_intdot; Subgroup: the device's subgroups).
bool can_run(const Context& ctx, DType type, MatmulKernel k);
// EDGERAG_VK_MATMUL=plain|subgroup|tiled|intdot|intdot_tiled, read once: the kernel
// every product runs where can_run (speed comparisons on one device); the others keep
// select_matmul's. Unset or empty: nullopt; another value is an error.
std::optional<MatmulKernel> matmul_override();

// y[y_off + t * rows + r] = sum_c W[r, c] * x[x_off + t * cols + c], t < n_tokens
// (offsets in floats). Runs `kernel` when given (an error unless can_run), else
// matmul_override's where it can run, else select_matmul's.
void matmul(Context& ctx, const DeviceMatrix& w, const Buffer& x, int64_t n_tokens, Buffer& y, int64_t x_off = 0,
            int64_t y_off = 0, std::optional<MatmulKernel> kernel = std::nullopt);
// y[t, :] = row ids[ids_off + t] of w as floats (ids: int32).
void get_rows(Context& ctx, const DeviceMatrix& w, const Buffer& ids, int64_t ids_off, int64_t n_tokens, Buffer& y);
// Rows of n values: y = x / rms(x) * w (w has n values; x and y may be the same buffer).
void rms_norm(Context& ctx, const Buffer& x, const Buffer& w, Buffer& y, int64_t rows, int64_t n, float eps);
// Rows of n values: y = (x - mean) / sqrt(var + eps) * w + b (b may be nullptr; in place allowed).
void layer_norm(Context& ctx, const Buffer& x, const Buffer& w, const Buffer* b, Buffer& y, int64_t rows, int64_t n,
                float eps);
void softmax(Context& ctx, Buffer& x, int64_t rows, int64_t n);
// gate = silu(gate) * up over n values.
void swiglu(Context& ctx, Buffer& gate, const Buffer& up, int64_t n);
// g = gelu(g) (tanh approximation), times up when given (GeGLU), over n values.
void gelu(Context& ctx, Buffer& g, const Buffer* up, int64_t n);
// y[i] += x[i % period] for i < n (residuals: period = n; biases: the row length).
void add(Context& ctx, Buffer& y, const Buffer& x, int64_t n, int64_t period);

struct RopeParams {
  int32_t n_heads = 0, head_dim = 0, n_rot = 0;
  float freq_base = 10000.0f, freq_scale = 1.0f;
  bool neox = false;
};
// x [n_tokens, n_heads, head_dim] rotated in place at positions pos[pos_off + t]
// (int32); `factors`: n_rot/2 frequency divisors (Llama-3.1 rope_freqs) or nullptr.
void rope(Context& ctx, Buffer& x, const Buffer& pos, int64_t pos_off, const Buffer* factors, int64_t n_tokens,
          const RopeParams& rp);

// The device KV pool's shape: F32 rows, [block][layer][K|V][kv_head][slot][head_dim].
struct KvShape {
  int32_t n_layer = 0, n_kv = 0, head_dim = 0, block_size = 16;
  size_t block_floats() const { return size_t(n_layer) * 2 * n_kv * block_size * head_dim; }
};
// K and V rows [n_tokens, n_kv * head_dim] of `layer` into the pool at
// (info[blk_off + t], info[slot_off + t]).
void kv_write(Context& ctx, const Buffer& k, const Buffer& v, Buffer& pool, const Buffer& info, const KvShape& s,
              int32_t layer, int64_t n_tokens, int64_t blk_off, int64_t slot_off);
// Causal attention of each batch token over its sequence: out [n_tokens, n_head, head_dim].
// Token t sees positions 0..info[pos_off + t] through its block table, which starts
// at info[info[tab_off + t]].
void attention(Context& ctx, const Buffer& q, const Buffer& pool, Buffer& out, const Buffer& info, const KvShape& s,
               int32_t layer, int32_t n_head, float scale, int64_t n_tokens, int64_t pos_off, int64_t tab_off);

// Non-causal attention over inputs packed back to back (encoders): out [n_tokens,
// n_head * head_dim] from Q, K, V of the same shape. Token t sees the keys in rows
// [info[lo_off + t], info[lo_off + n_tokens + t]) (its input's span), and with
// half_window >= 0 only those with |t - j| <= half_window.
void encoder_attention(Context& ctx, const Buffer& q, const Buffer& k, const Buffer& v, Buffer& out,
                       const Buffer& info, int64_t lo_off, int32_t n_head, int32_t head_dim, int64_t half_window,
                       float scale, int64_t n_tokens);

}  // namespace edgerag::vk
