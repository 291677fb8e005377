// AVX-512 level: the same kernels on 256-bit vectors with VNNI dot products and
// the 32 vector registers of AVX512VL (larger token tiles). On Zen 4, 512-bit
// ops issue as two 256-bit halves, so wider vectors would not add throughput.
// BF16 weights use vdpbf16ps when the CPU has AVX512-BF16, as ggml does.
#include "tensor/matmul_kernels.h"

namespace edgerag {
const MatmulKernel* avx512_bf16_kernel(DType w);
}

#define EDGERAG_SIMD_TARGET "avx2,fma,f16c,bmi2,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"
#define EDGERAG_SIMD_NS avx512
#define EDGERAG_SIMD_VNNI 1
#define EDGERAG_SIMD_NT 4
#define EDGERAG_SIMD_NR1 8
#define EDGERAG_SIMD_TABLE avx512_kernel
#define EDGERAG_SIMD_OVERRIDE avx512_bf16_kernel
#include "tensor/matmul_simd.inc"

namespace edgerag {
namespace {

#define BF16_TARGET __attribute__((target("avx2,fma,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")))

BF16_TARGET inline float bf16_value(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  const uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// NR rows x NT tokens of BF16 weights x BF16 activations, 16 products per
// vdpbf16ps; NR*NT independent accumulators hide its latency.
template <int NR, int NT>
BF16_TARGET void bf16_block(int64_t n, const uint8_t* w, size_t ws, const uint8_t* x, size_t xs, float* y, size_t ys) {
  __m256 acc[NR][NT];
  _Pragma("GCC unroll 16") for (int r = 0; r < NR; ++r)
    _Pragma("GCC unroll 16") for (int t = 0; t < NT; ++t) acc[r][t] = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256bh wv[NR];
    _Pragma("GCC unroll 16") for (int r = 0; r < NR; ++r)
      wv[r] = (__m256bh)_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + r * ws + i * 2));
    _Pragma("GCC unroll 16") for (int t = 0; t < NT; ++t) {
      const __m256bh xv = (__m256bh)_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + t * xs + i * 2));
      _Pragma("GCC unroll 16") for (int r = 0; r < NR; ++r) acc[r][t] = _mm256_dpbf16_ps(acc[r][t], wv[r], xv);
    }
  }
  for (int r = 0; r < NR; ++r)
    for (int t = 0; t < NT; ++t) {
      float s = avx512::hsum(acc[r][t]);
      for (int64_t j = i; j < n; ++j) s += bf16_value(w + r * ws + j * 2) * bf16_value(x + t * xs + j * 2);
      y[t * ys + r] = s;
    }
}

template <int NT>
BF16_TARGET void bf16_rows(int64_t n, const uint8_t* w, size_t ws, int64_t nr, const uint8_t* x, size_t xs, float* y,
                           size_t ys) {
  int64_t r = 0;
  for (; r + 4 <= nr; r += 4) bf16_block<4, NT>(n, w + r * ws, ws, x, xs, y + r, ys);
  for (; r < nr; ++r) bf16_block<1, NT>(n, w + r * ws, ws, x, xs, y + r, ys);
}

BF16_TARGET void bf16_tile(int64_t n, const uint8_t* w, size_t ws, int64_t nr, const uint8_t* x, size_t xs, int64_t nt,
                           float* y, size_t ys) {
  int64_t t = 0;
  for (; t + 4 <= nt; t += 4) bf16_rows<4>(n, w, ws, nr, x + t * xs, xs, y + t * ys, ys);
  for (; t < nt; ++t) bf16_rows<1>(n, w, ws, nr, x + t * xs, xs, y + t * ys, ys);
}

#undef BF16_TARGET

}  // namespace

const MatmulKernel* avx512_bf16_kernel(DType w) {
  static const MatmulKernel bf16{DType::BF16, bf16_tile};
  return w == DType::BF16 && cpu_has_avx512_bf16() ? &bf16 : nullptr;
}

}  // namespace edgerag
