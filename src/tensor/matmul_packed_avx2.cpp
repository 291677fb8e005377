// AVX2 kernels over the packed layout (tensor/repack.h) for the 32-element
// block types, Q4_K, F16 and BF16, for CPUs without AVX-512. A 64-byte chunk of a group is two
// 256-bit halves of 8 rows each; a half is one register with row i in 32-bit
// lane i, so maddubs against 4 broadcast activation bytes gives 8 rows'
// partial dots with no shuffle. Without VNNI, maddubs' int16 pair sums are
// added in int16 while they cannot overflow (Q4: 8 vectors, |pair| <= 2*15*127;
// Q5: 4 vectors) and widened by one madd. Q8_0 has no AVX2 packed kernel: its
// quants need the sign trick (|w|, activation signs flipped by w) and one madd
// per vector, and the GEMV measured 20% slower than the row-major one (the
// 64-token GEMM 1.5x faster; docs/PERFORMANCE.md), so it stays row-major. The register tile
// is 8 rows x kNT tokens: the block's 8 unpacked weight registers are reused by
// every token. Numerics: per row and block the exact integer dot times
// d_w * d_x, then the min, accumulated over blocks in order: the same float
// operations as the AVX-512 packed kernels, so both levels give the same bits.
#include <immintrin.h>

#include <cstring>

#include "tensor/matmul_kernels.h"
#include "tensor/matmul_packed.h"

#define SIMD __attribute__((target("avx2,fma,f16c")))
#define UNROLL _Pragma("GCC unroll 16")

namespace edgerag {
namespace {

SIMD inline __m256i load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

SIMD inline __m256i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm256_set1_epi32(v);
}

// A group is two passes of 8 rows (Self::half<NT>(.., h, ..) for h = 0, 1).
template <class Self>
struct Halves {
  template <int NT, int G, bool kStream>
  SIMD static void tile(int64_t nb, const uint8_t* g, const uint8_t* x, size_t xs, const float* dx, const int32_t* ints,
                        float* y, size_t ys) {
    static_assert(G == 1);
    Self::template half<NT, kStream>(nb, g, 0, x, xs, dx, ints, y, ys);
    Self::template half<NT, kStream>(nb, g, 1, x, xs, dx, ints, y, ys);
  }
};

enum class Quants { kNibbles, kFiveBits };

// A 4- or 5-bit 32-element block format: Act the activation block (Q8_0 or
// Q8_1), Q the quant encoding, W the weight block (for the packed block size),
// kOffset the offset subtracted from the unsigned quants.
template <class W, class A, Quants Q, int kOffset>
struct Avx2P : Halves<Avx2P<W, A, Q, kOffset>> {
  using Act = A;
  static constexpr int kElems = 32, kInts = 1, kNT = 4;  // 8 weight + 4 accumulator registers
  static constexpr int kFloats = sizeof(A) == sizeof(BlockQ8_1) ? 2 : 1;  // d_x, and s_x against Q8_1
  static constexpr size_t kBlockBytes = kPackRows * sizeof(W);
  static constexpr size_t kHead = 2 * kPackRows * kFloats;  // F16 d (and m) of the 16 rows
  static constexpr size_t kQuants = kHead + (Q == Quants::kFiveBits ? 4 * kPackRows : 0);
  // int16 pair sums that may be added before widening.
  static constexpr int kGroup = Q == Quants::kNibbles ? 8 : 4;
  // Vector k holds elements xoff(k).. of the block (4 per lane).
  static constexpr int xoff(int k) { return k % 2 ? 16 + 4 * (k / 2) : 4 * (k / 2); }

  // Per (token, block): d_x (and s_x) and -kOffset * sum(q_x).
  SIMD static void terms(int64_t nb, int nt, const uint8_t* x, size_t xs, float* dx, int32_t* base) {
    for (int t = 0; t < nt; ++t) {
      const auto* xb = reinterpret_cast<const Act*>(x + t * xs);
      for (int64_t b = 0; b < nb; ++b) {
        int32_t sum = 0;
        for (int i = 0; i < 32; ++i) sum += xb[b].qs[i];
        dx[(t * nb + b) * kFloats] = _cvtsh_ss(xb[b].d);
        if constexpr (kFloats == 2) dx[(t * nb + b) * 2 + 1] = _cvtsh_ss(xb[b].s);
        base[t * nb + b] = -kOffset * sum;
      }
    }
  }

  // The 8 unsigned quant vectors of rows 8h..8h+7 of a block.
  SIMD static void unpack(const uint8_t* blk, int h, __m256i* u) {
    const uint8_t* q = blk + kQuants + 32 * h;
    const __m256i m = _mm256_set1_epi8(15);
    UNROLL
    for (int j = 0; j < 4; ++j) {
      const __m256i v = load(q + 64 * j);
      u[2 * j] = _mm256_and_si256(v, m);
      u[2 * j + 1] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m);
    }
    if constexpr (Q == Quants::kFiveBits) {
      // Each lane's qh word spread over its 4 bytes by pshufb, tested against
      // the 4 element bits of vector k: 16 where set.
      const __m256i h5 = load(blk + kHead + 32 * h);
      const __m256i lane_base = _mm256_setr_epi32(0, 0x04040404, 0x08080808, 0x0c0c0c0c, 0, 0x04040404, 0x08080808, 0x0c0c0c0c);
      UNROLL
      for (int k = 0; k < 8; ++k) {
        const int e = xoff(k);
        const __m256i spread = _mm256_shuffle_epi8(h5, _mm256_add_epi32(lane_base, _mm256_set1_epi32((e / 8) * 0x01010101)));
        const __m256i bits = _mm256_set1_epi32(static_cast<int>(0x08040201u << (e % 8)));
        const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bits), bits);
        u[k] = _mm256_or_si256(u[k], _mm256_and_si256(set, _mm256_set1_epi8(16)));
      }
    }
  }

  // Rows 8h..8h+7 x NT tokens over all blocks, into y[t * ys + i].
  template <int NT, bool kStream>
  SIMD static void half(int64_t nb, const uint8_t* g, int h, const uint8_t* x, size_t xs, const float* dx,
                        const int32_t* base, float* y, size_t ys) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[NT];
    UNROLL
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t* blk = g + b * kBlockBytes;
      if (kStream && h == 0) prefetch_ahead(blk, kBlockBytes);  // the second half finds the group cached
      const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16 * h)));
      __m256i u[8];
      unpack(blk, h, u);
      UNROLL
      for (int t = 0; t < NT; ++t) {
        const int8_t* xq = reinterpret_cast<const Act*>(x + t * xs)[b].qs;
        __m256i s = _mm256_set1_epi32(base[t * nb + b]), p = _mm256_setzero_si256();
        UNROLL
        for (int k = 0; k < 8; ++k) {
          const __m256i pk = _mm256_maddubs_epi16(u[k], bcast4(xq + xoff(k)));
          p = k % kGroup == 0 ? pk : _mm256_add_epi16(p, pk);
          if (k % kGroup == kGroup - 1) s = _mm256_add_epi32(s, _mm256_madd_epi16(p, ones));
        }
        const float* d = dx + (t * nb + b) * kFloats;
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, _mm256_set1_ps(d[0])), acc[t]);
        if constexpr (kFloats == 2)  // the min: m_w * s_x (m after the 16 scales)
          acc[t] = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 32 + 16 * h))),
                                   _mm256_set1_ps(d[1]), acc[t]);
      }
    }
    UNROLL
    for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ys + 8 * h, acc[t]);
  }

};


// Q4_K against Q8_K (layout: matmul_packed_avx512.cpp's Q45_KP), rows 8h..8h+7
// of the 16 per pass. A sub-block's 8 maddubs pair sums stay int16 and one
// vpmaddwd against the row's scale in both int16 halves of its lane widens and
// scales them at once. No software prefetch: with it the 1-token pass from
// memory was 3% slower. The integer sums and the float steps are the AVX-512
// kernel's: the same bits. (Q5_K, with its fifth bits spread per vector, gave a
// packed GEMV 7% slower than row-major here, 64 tokens 1.9x faster, and Q6_K,
// with its 2-bit highs and 16 scales a block, 13% slower and 1.5x faster: both
// stay row-major at this level.)
struct Avx2Q4K : Halves<Avx2Q4K> {
  static constexpr int kElems = QK_K, kInts = 4, kFloats = 1, kNT = 4;
  static constexpr size_t kBlockBytes = kPackRows * sizeof(BlockQ4_K);
  static void terms(int64_t nsb, int nt, const uint8_t* x, size_t xs, float* dx, int32_t* ints) {
    q45k_terms(nsb, nt, x, xs, dx, ints);
  }
  template <int NT, bool kStream>  // kStream unused: Q4_K read memory 3% slower with the prefetch at this level
  SIMD static void half(int64_t nsb, const uint8_t* g, int h, const uint8_t* x, size_t xs, const float* dx,
                        const int32_t* ints, float* y, size_t ys) {
    const __m256i k6 = _mm256_set1_epi32(0x3f3f3f3f), k4 = _mm256_set1_epi32(0x0f0f0f0f),
                  k2 = _mm256_set1_epi32(0x03030303), lo16 = _mm256_set1_epi32(0x00ff00ff),
                  byte = _mm256_set1_epi32(0xff), nib = _mm256_set1_epi8(15);
    __m256 acc[NT];
    UNROLL
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nsb; ++b) {
      const uint8_t* blk = g + b * kBlockBytes;
      const __m256i w0 = load(blk + 64 + 32 * h), w1 = load(blk + 128 + 32 * h), w2 = load(blk + 192 + 32 * h);
      {  // mins: 8 rows x 8 mins as int16 pairs against the activation sum pairs
        const __m256i m0 = _mm256_and_si256(w1, k6);
        const __m256i m1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(w2, 4), k4),
                                           _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(w1, 6), k2), 4));
        const __m256i mp[4] = {_mm256_and_si256(m0, lo16), _mm256_and_si256(_mm256_srli_epi32(m0, 8), lo16),
                               _mm256_and_si256(m1, lo16), _mm256_and_si256(_mm256_srli_epi32(m1, 8), lo16)};
        const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 32 + 16 * h)));
        UNROLL
        for (int t = 0; t < NT; ++t) {
          const int32_t* xi = ints + 4 * (t * nsb + b);
          __m256i ms = _mm256_setzero_si256();
          UNROLL
          for (int k = 0; k < 4; ++k) ms = _mm256_add_epi32(ms, _mm256_madd_epi16(mp[k], _mm256_set1_epi32(xi[k])));
          acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_mul_ps(dmin, _mm256_set1_ps(dx[t * nsb + b])), acc[t]);
        }
      }
      // The 8 scales of 8 rows, each in both int16 halves of its lane.
      alignas(32) int32_t sc[8][8];
      {
        const __m256i s0 = _mm256_and_si256(w0, k6);
        const __m256i s1 = _mm256_or_si256(_mm256_and_si256(w2, k4),
                                           _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(w0, 6), k2), 4));
        UNROLL
        for (int s = 0; s < 4; ++s) {
          const __m256i a = _mm256_and_si256(_mm256_srli_epi32(s0, 8 * s), byte);
          const __m256i c = _mm256_and_si256(_mm256_srli_epi32(s1, 8 * s), byte);
          _mm256_store_si256(reinterpret_cast<__m256i*>(sc[s]), _mm256_or_si256(a, _mm256_slli_epi32(a, 16)));
          _mm256_store_si256(reinterpret_cast<__m256i*>(sc[s + 4]), _mm256_or_si256(c, _mm256_slli_epi32(c, 16)));
        }
      }
      __m256i tot[NT];
      UNROLL
      for (int t = 0; t < NT; ++t) tot[t] = _mm256_setzero_si256();
      const uint8_t* q = blk + 256 + 32 * h;
      for (int s = 0; s < 8; ++s) {
        __m256i u[8];
        UNROLL
        for (int k = 0; k < 8; ++k) {
          const __m256i v = load(q + 64 * (8 * (s / 2) + k));
          u[k] = _mm256_and_si256(s % 2 ? _mm256_srli_epi16(v, 4) : v, nib);
        }
        const __m256i scv = _mm256_load_si256(reinterpret_cast<const __m256i*>(sc[s]));
        UNROLL
        for (int t = 0; t < NT; ++t) {
          const int8_t* xq = reinterpret_cast<const BlockQ8_K*>(x + t * xs)[b].qs + 32 * s;
          __m256i p = _mm256_maddubs_epi16(u[0], bcast4(xq));  // |pair| <= 2*15*127: 8 of them fit int16
          UNROLL
          for (int k = 1; k < 8; ++k) p = _mm256_add_epi16(p, _mm256_maddubs_epi16(u[k], bcast4(xq + 4 * k)));
          tot[t] = _mm256_add_epi32(tot[t], _mm256_madd_epi16(p, scv));
        }
      }
      const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + 16 * h)));
      UNROLL
      for (int t = 0; t < NT; ++t)
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(tot[t]), _mm256_mul_ps(d, _mm256_set1_ps(dx[t * nsb + b])), acc[t]);
    }
    UNROLL
    for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ys + 8 * h, acc[t]);
  }
};

// Float weights (layout: matmul_packed_avx512.cpp's F16P / BF16P), the 16 rows
// as two registers of 8, against activations widened once per call to F32
// (dx: kPer floats per packed element). F16: one element of 8 rows is 16
// bytes, one vcvtph2ps; BF16: an element pair of 8 rows is 32 bytes, widened
// by a shift (even element) and a mask (odd), two FMAs where AVX-512 BF16 has
// one vdpbf16ps. Two accumulator chains per row half and token (even and odd
// steps, added at the end) whatever NT, so a token's result never depends on
// the batch; the F16 chains are AVX-512 F16P's, lane for lane: the same bits at
// both levels. Both halves in one pass: a 1-token tile then has 4 independent
// FMA chains (with 2, decode was bound by their latency).
template <int kPer>
struct Avx2Float {
  static constexpr int kElems = kPer, kFloats = kPer, kInts = 0, kNT = 3;  // 12 accumulators, 2 weight registers
  static constexpr size_t kBlockBytes = 2 * kPer * kPackRows;
  static constexpr bool kBf16 = kPer == 2;
  // n packed elements (kPer * n values) of nt tokens, widened to F32.
  SIMD static void terms(int64_t n, int nt, const uint8_t* x, size_t xs, float* dx, int32_t*) {
    const int64_t m = n * kPer;
    for (int t = 0; t < nt; ++t) {
      const auto* h = reinterpret_cast<const uint16_t*>(x + t * xs);
      if constexpr (kBf16) bf16_to_f32(h, dx + t * m, m);
      else f16_to_f32(h, dx + t * m, m);
    }
  }
  // Element (or pair) e of the 16 rows into acc[half][t].
  template <int NT>
  SIMD static void step(const uint8_t* g, int64_t e, const float* dx, int64_t n, __m256 (*acc)[NT]) {
    UNROLL
    for (int h = 0; h < 2; ++h) {
      const uint8_t* p = g + e * kBlockBytes + kBlockBytes / 2 * h;
      if constexpr (kBf16) {
        const __m256i v = load(p);
        const __m256 w0 = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
        const __m256 w1 = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32(static_cast<int>(0xffff0000u))));
        UNROLL
        for (int t = 0; t < NT; ++t) {
          acc[h][t] = _mm256_fmadd_ps(w0, _mm256_set1_ps(dx[t * 2 * n + 2 * e]), acc[h][t]);
          acc[h][t] = _mm256_fmadd_ps(w1, _mm256_set1_ps(dx[t * 2 * n + 2 * e + 1]), acc[h][t]);
        }
      } else {
        const __m256 wv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        UNROLL
        for (int t = 0; t < NT; ++t) acc[h][t] = _mm256_fmadd_ps(wv, _mm256_set1_ps(dx[t * n + e]), acc[h][t]);
      }
    }
  }
  template <int NT, int G, bool kStream>
  SIMD static void tile(int64_t n, const uint8_t* g, const uint8_t*, size_t, const float* dx, const int32_t*, float* y,
                        size_t ys) {
    static_assert(G == 1);
    __m256 acc[2][2][NT];  // [chain][half][token]
    UNROLL
    for (int h = 0; h < 2; ++h)
      UNROLL
      for (int t = 0; t < NT; ++t) acc[0][h][t] = acc[1][h][t] = _mm256_setzero_ps();
    int64_t e = 0;
    for (; e + 2 <= n; e += 2) {
      if constexpr (kStream) prefetch_ahead(g + e * kBlockBytes, 2 * kBlockBytes);
      UNROLL
      for (int c = 0; c < 2; ++c) step<NT>(g, e + c, dx, n, acc[c]);
    }
    if (e < n) step<NT>(g, e, dx, n, acc[0]);
    UNROLL
    for (int h = 0; h < 2; ++h)
      UNROLL
      for (int t = 0; t < NT; ++t) _mm256_storeu_ps(y + t * ys + 8 * h, _mm256_add_ps(acc[0][h][t], acc[1][h][t]));
  }
};

}  // namespace

PackedFn avx2_packed_kernel(DType w) {
  switch (w) {
    case DType::Q4_0: return &kPacked<Avx2P<BlockQ4_0, BlockQ8_0, Quants::kNibbles, 8>>;
    case DType::Q4_1: return &kPacked<Avx2P<BlockQ4_1, BlockQ8_1, Quants::kNibbles, 0>>;
    case DType::Q5_0: return &kPacked<Avx2P<BlockQ5_0, BlockQ8_0, Quants::kFiveBits, 16>>;
    case DType::Q5_1: return &kPacked<Avx2P<BlockQ5_1, BlockQ8_1, Quants::kFiveBits, 0>>;
    case DType::Q4_K: return &kPacked<Avx2Q4K>;
    case DType::F16: return &kPacked<Avx2Float<1>>;
    case DType::BF16: return &kPacked<Avx2Float<2>>;
    default: return nullptr;
  }
}

}  // namespace edgerag

#undef SIMD
#undef UNROLL
