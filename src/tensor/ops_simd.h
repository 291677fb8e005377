// Internal to the tensor module: AVX2+FMA versions of the element-wise ops in
// ops.h (used at the Avx2 and Avx512 levels; these are latency- or
// bandwidth-bound, so wider vectors would not help). Same contracts as ops.h.
#pragma once
#include <cstdint>

namespace edgerag::avx2 {

float dot_f32(const float* a, const float* b, int64_t n);
void axpy_f32(float alpha, const float* x, float* y, int64_t n);
double sum_squares(const float* x, int64_t n);  // sum of float(x*x) in double
void scale_mul(const float* x, float scale, const float* weight, float* y, int64_t n);  // y = x*scale*(w or 1)
void layernorm(const float* x, const float* weight, const float* bias, float* y, int64_t n, float eps);
void softmax_inplace(float* x, int64_t n);
double log_sum_exp(const float* x, int64_t n);
void swiglu(const float* gate, const float* up, float* out, int64_t n);
void f16_to_f32(const uint16_t* src, float* dst, int64_t n);
void f32_to_f16(const float* src, uint16_t* dst, int64_t n);
void bf16_to_f32(const uint16_t* src, float* dst, int64_t n);
void gelu_inplace(float* x, int64_t n);
// Rotates pairs of every head with per-pair cos/sin tables of n_rot/2 entries.
void rope_apply(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, const float* cos_t, const float* sin_t,
                bool neox);

}  // namespace edgerag::avx2
