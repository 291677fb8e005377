// Small AVX2+FMA helpers on 8 floats (e^x, horizontal sum and maximum) and e^x
// on 16 (AVX-512), shared by the element-wise ops and the attention kernels.
// Callers compile under a target that includes "avx2,fma" (exp16: "avx512f").
#pragma once
#include <immintrin.h>

namespace edgerag::simd {

__attribute__((target("avx2,fma"))) inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) inline float hmax(__m256 v) {
  __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_max_ps(s, _mm_movehl_ps(s, s));
  s = _mm_max_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// e^x to about 1 ulp: x = n ln2 + r, |r| <= ln2/2, degree-6 polynomial for e^r
// (Cephes expf coefficients), times 2^n. Below -87.3 (and for -inf) the result is 0.
// One body for both widths W (256 or 512 bits), ROUND the width's
// round-to-nearest: from x to p = e^r and e = the bits of 2^n, the same
// operations lane by lane.
#define EDGERAG_EXP_POLY(W, ROUND)                                                                              \
  x = _mm##W##_min_ps(_mm##W##_max_ps(x, lo), _mm##W##_set1_ps(88.37f));                                      \
  const __m##W n = ROUND(_mm##W##_mul_ps(x, _mm##W##_set1_ps(1.44269504088896341f)),                          \
                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);                                      \
  __m##W r = _mm##W##_fnmadd_ps(n, _mm##W##_set1_ps(0.693359375f), x);                                        \
  r = _mm##W##_fnmadd_ps(n, _mm##W##_set1_ps(-2.12194440e-4f), r);                                            \
  __m##W p = _mm##W##_set1_ps(1.9875691500e-4f);                                                              \
  p = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(1.3981999507e-3f));                                            \
  p = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(8.3334519073e-3f));                                            \
  p = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(4.1665795894e-2f));                                            \
  p = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(1.6666665459e-1f));                                            \
  p = _mm##W##_fmadd_ps(p, r, _mm##W##_set1_ps(5.0000001201e-1f));                                            \
  p = _mm##W##_fmadd_ps(p, _mm##W##_mul_ps(r, r), _mm##W##_add_ps(r, _mm##W##_set1_ps(1.0f)));                \
  const __m##W##i e = _mm##W##_slli_epi32(_mm##W##_add_epi32(_mm##W##_cvtps_epi32(n), _mm##W##_set1_epi32(127)), 23);

__attribute__((target("avx2,fma"))) inline __m256 exp8(__m256 x) {
  const __m256 lo = _mm256_set1_ps(-87.3f);
  const __m256 keep = _mm256_cmp_ps(x, lo, _CMP_GE_OQ);
  EDGERAG_EXP_POLY(256, _mm256_round_ps)
  return _mm256_and_ps(_mm256_mul_ps(p, _mm256_castsi256_ps(e)), keep);
}

// exp8 on 16 floats (AVX-512F).
__attribute__((target("avx512f"))) inline __m512 exp16(__m512 x) {
  const __m512 lo = _mm512_set1_ps(-87.3f);
  const __mmask16 keep = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);
  EDGERAG_EXP_POLY(512, _mm512_roundscale_ps)
  return _mm512_maskz_mul_ps(keep, p, _mm512_castsi512_ps(e));
}
#undef EDGERAG_EXP_POLY
}  // namespace edgerag::simd
