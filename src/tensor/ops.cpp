#include "tensor/ops.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/cpu_features.h"
#include "tensor/fp16.h"
#include "tensor/ops_simd.h"
#include "tensor/repack.h"
#include "util/error.h"

namespace edgerag {
namespace {

// The element-wise ops have one SIMD version (AVX2+FMA) for every level above scalar.
bool simd() { return active_isa() != Isa::Scalar; }

}  // namespace

Matrix Matrix::of(DType type, int64_t cols, int64_t rows, const void* data) {
  Matrix m;
  m.type = type;
  m.cols = cols;
  m.rows = rows;
  m.data = static_cast<const uint8_t*>(data);
  m.row_bytes = row_size(type, cols);
  return m;
}

float dot_f32(const float* a, const float* b, int64_t n) {
  if (simd()) return avx2::dot_f32(a, b, n);
  float s = 0;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void axpy_f32(float alpha, const float* x, float* y, int64_t n) {
  if (simd()) return avx2::axpy_f32(alpha, x, y, n);
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void get_row(const Matrix& w, int64_t r, float* out) {
  EDGERAG_CHECK(r >= 0 && r < w.rows, "row {} out of range [0, {})", r, w.rows);
  if (r < w.packed_rows()) {  // a packed tied embedding table (the output head): one token per call
    thread_local std::vector<uint8_t> plain;
    plain.resize(w.row_bytes);
    unpack_row(w, r, plain.data());
    return dequantize_row(w.type, plain.data(), out, w.cols);
  }
  dequantize_row(w.type, w.row(r), out, w.cols);
}

void rmsnorm(const float* x, const float* weight, float* y, int64_t n, float eps) {
  if (simd()) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(avx2::sum_squares(x, n) / n) + eps);
    return avx2::scale_mul(x, scale, weight, y, n);
  }
  double ss = 0;  // float squares summed in double, as ggml does
  for (int64_t i = 0; i < n; ++i) ss += static_cast<double>(x[i] * x[i]);
  const float scale = 1.0f / std::sqrt(static_cast<float>(ss / n) + eps);
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * (weight ? weight[i] : 1.0f);
}

void layernorm(const float* x, const float* weight, const float* bias, float* y, int64_t n, float eps) {
  if (simd()) return avx2::layernorm(x, weight, bias, y, n, eps);
  double mean = 0;
  for (int64_t i = 0; i < n; ++i) mean += x[i];
  mean /= n;
  double var = 0;
  for (int64_t i = 0; i < n; ++i) var += (x[i] - mean) * (x[i] - mean);
  var /= n;
  const float scale = 1.0f / std::sqrt(static_cast<float>(var) + eps);
  for (int64_t i = 0; i < n; ++i) {
    float v = static_cast<float>(x[i] - mean) * scale;
    y[i] = v * (weight ? weight[i] : 1.0f) + (bias ? bias[i] : 0.0f);
  }
}

void softmax_inplace(float* x, int64_t n) {
  if (simd()) return avx2::softmax_inplace(x, n);
  float mx = -INFINITY;
  for (int64_t i = 0; i < n; ++i) mx = std::max(mx, x[i]);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    x[i] = std::exp(x[i] - mx);
    sum += x[i];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

double log_sum_exp(const float* x, int64_t n) {
  if (simd()) return avx2::log_sum_exp(x, n);
  const float mx = *std::max_element(x, x + n);
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i] - mx));
  return mx + std::log(sum);
}

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  if (simd()) return avx2::swiglu(gate, up, out, n);
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void f16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  if (simd()) return avx2::f16_to_f32(src, dst, n);
  for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_fp32(src[i]);
}

void f32_to_f16(const float* src, uint16_t* dst, int64_t n) {
  if (simd()) return avx2::f32_to_f16(src, dst, n);
  for (int64_t i = 0; i < n; ++i) dst[i] = fp32_to_fp16(src[i]);
}

void bf16_to_f32(const uint16_t* src, float* dst, int64_t n) {
  if (simd()) return avx2::bf16_to_f32(src, dst, n);
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_fp32(src[i]);
}

void gelu_inplace(float* x, int64_t n) {
  if (simd()) return avx2::gelu_inplace(x, n);
  constexpr float kSqrt2OverPi = 0.79788456080286535587989211986876f;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * v * (1.0f + 0.044715f * v * v)));
  }
}

void rope_inplace(float* x, int64_t n_heads, int64_t head_dim, int64_t n_rot, int64_t pos, float freq_base,
                  float freq_scale, bool neox) {
  // One angle per pair index, shared by all heads.
  thread_local std::vector<float> cos_t, sin_t;
  const int64_t half = n_rot / 2;
  cos_t.resize(static_cast<size_t>(half));
  sin_t.resize(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i) {
    const float theta = freq_scale * static_cast<float>(pos) * std::pow(freq_base, -2.0f * i / n_rot);
    cos_t[i] = std::cos(theta), sin_t[i] = std::sin(theta);
  }
  if (simd()) return avx2::rope_apply(x, n_heads, head_dim, n_rot, cos_t.data(), sin_t.data(), neox);
  for (int64_t h = 0; h < n_heads; ++h) {
    float* v = x + h * head_dim;
    for (int64_t i = 0; i < half; ++i) {
      const int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
      const float x0 = v[a], x1 = v[b];
      v[a] = x0 * cos_t[i] - x1 * sin_t[i];
      v[b] = x0 * sin_t[i] + x1 * cos_t[i];
    }
  }
}

}  // namespace edgerag
