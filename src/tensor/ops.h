// CPU operators used by the models. Every fast path (AVX2 / AVX-512, picked at
// run time, see cpu_features.h) has a scalar version that tests compare against.
#pragma once
#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"
#include "tensor/sparse.h"
#include "util/thread_pool.h"

namespace edgerag {

// Rows per group of the packed layout (tensor/repack.h).
constexpr int64_t kPackRows = 16;

// A weight matrix as stored in GGUF: `rows` rows of `cols` elements of `type`
// (ne = [cols, rows]); rows are row_bytes apart. Not owning (usually mmapped).
// `packed`: the first packed_rows() rows are in the row-interleaved layout of
// tensor/repack.h (set at load by pack_rows); row() is only valid past them.
struct Matrix {
  DType type = DType::F32;
  int64_t cols = 0;
  int64_t rows = 0;
  const uint8_t* data = nullptr;
  size_t row_bytes = 0;
  bool packed = false;
  CsrOutliers outliers;  // SpQR sparse correction added by the model after matmul (row_ptr null: none)

  static Matrix of(DType type, int64_t cols, int64_t rows, const void* data);
  const uint8_t* row(int64_t r) const { return data + static_cast<size_t>(r) * row_bytes; }
  int64_t packed_rows() const { return packed ? rows / kPackRows * kPackRows : 0; }
  size_t nbytes() const { return row_bytes * static_cast<size_t>(rows); }
};

// Y[t, r] = sum_c W[r, c] * X[t, c] for t < n_tokens. X is [n_tokens, cols] and Y
// [n_tokens, rows], both row-major float. Runs on `pool` (nullptr = caller thread)
// with the SIMD level of active_isa() (tensor/cpu_features.h).
// Numerics follow llama.cpp's CPU backend: X is first converted to the weight
// type's dot partner (Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the
// K-quants, F16/BF16 for F16/BF16 weights, F32 otherwise), then block dot
// products are integer and scaled by d_w * d_x. edgerag's ER_* types pair with
// Q8_0 (NF4) or Q8_1 (affine) the same way (docs/FORMATS.md). Types without a
// kernel (e.g. Q2_K) are an edgerag::Error.
void matmul(const Matrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool);
// Single-threaded scalar reference of matmul with the same activation
// conversion: SIMD results differ from it only by float summation order.
void matmul_ref(const Matrix& w, const float* x, int64_t n_tokens, float* y);

// sum_i a[i] * b[i] (attention scores).
float dot_f32(const float* a, const float* b, int64_t n);
// y[i] += alpha * x[i] (attention value accumulation).
void axpy_f32(float alpha, const float* x, float* y, int64_t n);

// Row `r` of w as floats (embedding lookup).
void get_row(const Matrix& w, int64_t r, float* out);

void rmsnorm(const float* x, const float* weight, float* y, int64_t n, float eps);
void layernorm(const float* x, const float* weight, const float* bias, float* y, int64_t n, float eps);
void softmax_inplace(float* x, int64_t n);
// log(sum exp(x[i])), with max subtraction; float exponentials summed in double
// per block (relative error ~1e-6: token probabilities, not perplexity).
double log_sum_exp(const float* x, int64_t n);
// out[i] = silu(gate[i]) * up[i]
void swiglu(const float* gate, const float* up, float* out, int64_t n);
// Exact widening of n F16 / BF16 values (8 at a time where the CPU has AVX2): F16 KV
// rows, F16 / BF16 tensors, the float matmuls' activations.
void f16_to_f32(const uint16_t* src, float* dst, int64_t n);
void bf16_to_f32(const uint16_t* src, float* dst, int64_t n);
// F32 -> F16, round to nearest even (8 at a time with F16C): fp32_to_fp16's bits
// for every value but NaN, which stays a NaN (its payload may differ).
void f32_to_f16(const float* src, uint16_t* dst, int64_t n);
// GELU, tanh approximation.
void gelu_inplace(float* x, int64_t n);
// Rotary embedding of one token: x is [n_heads, head_dim]; the first n_rot dims of
// every head are rotated. neox=false rotates pairs (2i, 2i+1), true (i, i+n_rot/2).
void rope_inplace(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, int64_t pos, float freq_base,
                  float freq_scale, bool neox);

}  // namespace edgerag
