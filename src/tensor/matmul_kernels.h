// Internal to the tensor module: the per-type dot-product kernels behind
// matmul(), one table per instruction-set level. Numerics mirror ggml's CPU
// backend: activations are converted once per call to the weight type's
// "vec_dot" partner format (act_type), products are integer per block, then
// scaled by d_w * d_x.
#pragma once
#include <cstddef>
#include <cstdint>

#include "tensor/cpu_features.h"
#include "tensor/dtype.h"

namespace edgerag {

// y[t * y_stride + r] = W[r] . X[t] for r < nr, t < nt. Row r of W starts at
// w + r * w_stride, token t's converted activations at x + t * x_stride. A tile
// kernel walks tokens in small groups and, inside, rows in small groups, so a
// caller passing a cache-sized panel of rows gets each weight block loaded once
// per token group.
using TileFn = void (*)(int64_t cols, const uint8_t* w, size_t w_stride, int64_t nr, const uint8_t* x,
                        size_t x_stride, int64_t nt, float* y, size_t y_stride);

// Converts n floats of one token to act_type (same bits as quantize_activations).
using ConvertFn = void (*)(const float* x, void* dst, int64_t n);

struct MatmulKernel {
  DType act_type;
  TileFn tile;
  ConvertFn convert = nullptr;  // nullptr: the scalar quantize_activations
};

// The same product over whole groups of the packed layout (tensor/repack.h).
// terms() derives per-token terms from the converted activations (d_x, block
// sums: `floats` and `ints` per block of `elems` columns, token after token),
// once per call for all nt tokens; run() computes y[t * y_stride + r] for
// r < ng * kPackRows, weights from w (group g at w + g * kPackRows * row_bytes),
// activations as for TileFn and the terms of the same tokens.
struct PackedKernel {
  int64_t elems, floats, ints;
  void (*terms)(int64_t cols, const uint8_t* x, size_t x_stride, int64_t nt, float* dx, int32_t* ti);
  void (*run)(int64_t cols, const uint8_t* w, int64_t ng, const uint8_t* x, size_t x_stride, int64_t nt,
              const float* dx, const int32_t* ti, float* y, size_t y_stride);
};
using PackedFn = const PackedKernel*;

// nullptr when that level has no kernel for the weight type.
const MatmulKernel* scalar_kernel(DType w);
const MatmulKernel* avx2_kernel(DType w);
const MatmulKernel* avx512_kernel(DType w);
const MatmulKernel* kernel_for(DType w, Isa isa);
PackedFn avx512_packed_kernel(DType w);
PackedFn avx2_packed_kernel(DType w);          // 4- and 5-bit 32-element blocks, Q4_K, F16, BF16
PackedFn packed_kernel_for(DType w, Isa isa);  // nullptr: matmul unpacks groups on the fly

// The activation format for a weight type (F32 for types without a kernel).
DType activation_type(DType w);

// Converts n floats to `act` (F32, F16, BF16, Q8_0, Q8_1, Q8_K) exactly as ggml's
// x86 quantizers do: Q8_0/Q8_1 use d = amax/127 stored as F16 and
// q = round-half-even(x * (127/amax)); Q8_1 adds s = d * sum(q) as F16.
void quantize_activations(DType act, const float* x, void* dst, int64_t n);

}  // namespace edgerag
