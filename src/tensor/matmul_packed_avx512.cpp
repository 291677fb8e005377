// AVX-512 VNNI kernels over the packed layout (tensor/repack.h): a 64-byte
// chunk holds 4 quants of each of 16 rows, so one vpdpbusd against 4 broadcast
// activation bytes (an embedded-broadcast memory operand) advances 16 rows at
// once. The register tile is 16 rows x NT tokens: a block's 8 unpacked weight
// vectors are reused by NT tokens, and each token pays per block only its 8
// dot products plus one int->float conversion and one FMA for all 16 rows
// (the row-major kernels pay a conversion and an FMA per row). The 32-element
// formats' prefill tile spans two groups (32 rows), so each broadcast serves
// two dot products.
// Numerics: per row and block, the exact integer dot times d_w * d_x,
// accumulated over blocks in order: the scalar reference's summation.
// Q4_0 / Q5_0 / Q8_0 (32-element blocks, Q8_0 activations), Q4_1 / Q5_1 (Q8_1) and Q4_K (super-blocks of
// 256 with 8 six-bit scales and mins, Q8_K activations).
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "tensor/matmul_kernels.h"
#include "tensor/matmul_packed.h"
#include "tensor/ops.h"

#define SIMD __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#define UNROLL _Pragma("GCC unroll 16")

namespace edgerag {
namespace {


SIMD inline __m512i load(const uint8_t* p) { return _mm512_loadu_si512(p); }

SIMD inline __m512i bcast4(const int8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}

template <int NT>
SIMD inline void store(const __m512* acc, float* y, size_t ys) {
  UNROLL
  for (int t = 0; t < NT; ++t) _mm512_storeu_ps(y + t * ys, acc[t]);
}

// A K-quant super-block's exact integer sums of 16 rows x NT tokens, times
// d_w (the 16 F16 at blk) * d_x (token t's at dx[t * stride]), into acc.
template <int NT>
SIMD inline void add_scaled(const uint8_t* blk, const __m512i* tot, const float* dx, int64_t stride, __m512* acc) {
  const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
  UNROLL
  for (int t = 0; t < NT; ++t)
    acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(tot[t]), _mm512_mul_ps(d, _mm512_set1_ps(dx[t * stride])), acc[t]);
}

// Per (token, block): d_x as float (then s_x for formats with a min) and
// -kOffset * sum(q_x), the start of the block's integer dot.
template <class P>
SIMD void block_terms(int64_t nb, int nt, const uint8_t* x, size_t xs, float* dx, int32_t* base) {
  const __m256i ones = _mm256_set1_epi8(1);
  for (int t = 0; t < nt; ++t) {
    const auto* xb = reinterpret_cast<const typename P::Act*>(x + t * xs);
    for (int64_t b = 0; b < nb; ++b) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb[b].qs));
      const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), ones, q);
      __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
      h = _mm_add_epi32(h, _mm_unpackhi_epi64(h, h));
      h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 1));
      dx[(t * nb + b) * P::kFloats] = _cvtsh_ss(xb[b].d);
      if constexpr (P::kFloats == 2) dx[(t * nb + b) * 2 + 1] = _cvtsh_ss(xb[b].s);
      base[t * nb + b] = -P::kOffset * _mm_cvtsi128_si32(h);
    }
  }
}

// G groups of 16 rows x NT tokens over all nb blocks. Each activation
// broadcast serves the G groups: with one group the broadcasts are as many
// instructions as the dot products, and the 8-token tile ran at about one
// vpdpbusd per cycle of the two the core issues (G = 2: +16-20% for Q4_0 /
// Q8_0 in BM_Matmul/64). Streaming tiles (kStream: decode, verification)
// keep one group: two groups are two weight streams, which read memory slower.
template <class P, int NT, int G, bool kStream>
SIMD void block_group_tile(int64_t nb, const uint8_t* g, const uint8_t* x, size_t xs, const float* dx, const int32_t* base,
                           float* y, size_t ys) {
  // Fewer tokens leave registers for two dot chains per token (shorter latency chains).
  constexpr int kChains = NT * G >= 4 ? 1 : 2;
  const size_t gb = static_cast<size_t>(nb) * P::kBlockBytes;
  __m512 acc[G][NT];
  UNROLL
  for (int j = 0; j < G; ++j)
    UNROLL
    for (int t = 0; t < NT; ++t) acc[j][t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b) {
    __m512 dw[G], mw[G];  // the 16 rows' d, and m (after the 16 d) for formats with a min
    __m512i u[G][P::kVecs];
    UNROLL
    for (int j = 0; j < G; ++j) {
      const uint8_t* blk = g + j * gb + b * P::kBlockBytes;
      if constexpr (kStream) prefetch_ahead(blk, P::kBlockBytes);
      dw[j] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk)));
      if constexpr (P::kFloats == 2) mw[j] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32)));
      P::unpack(blk + P::kHead, u[j]);
    }
    UNROLL
    for (int t = 0; t < NT; ++t) {
      const int8_t* xq = reinterpret_cast<const typename P::Act*>(x + t * xs)[b].qs;
      __m512i s[G][kChains];
      UNROLL
      for (int j = 0; j < G; ++j) {
        s[j][0] = _mm512_set1_epi32(base[t * nb + b]);
        if constexpr (kChains == 2) s[j][1] = _mm512_setzero_si512();
      }
      UNROLL
      for (int k = 0; k < P::kVecs; ++k) {
        const __m512i a = bcast4(xq + P::xoff(k));
        UNROLL
        for (int j = 0; j < G; ++j) s[j][k % kChains] = _mm512_dpbusd_epi32(s[j][k % kChains], u[j][k], a);
      }
      const float* d = dx + (t * nb + b) * P::kFloats;
      const __m512 dxv = _mm512_set1_ps(d[0]);
      UNROLL
      for (int j = 0; j < G; ++j) {
        if constexpr (kChains == 2) s[j][0] = _mm512_add_epi32(s[j][0], s[j][1]);
        acc[j][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s[j][0]), _mm512_mul_ps(dw[j], dxv), acc[j][t]);
        if constexpr (P::kFloats == 2) acc[j][t] = _mm512_fmadd_ps(mw[j], _mm512_set1_ps(d[1]), acc[j][t]);  // m_w s_x
      }
    }
  }
  UNROLL
  for (int j = 0; j < G; ++j) store<NT>(acc[j], y + j * kPackRows, ys);
}

// A packed format P: kElems elements and kBlockBytes bytes per block of 16
// rows, kInts integer terms per (token, block), terms() computing them with
// d_x, and tile<NT>() for one group.
// 32-element blocks against Q8_0 activations: kVecs unsigned-quant vectors per
// block (q = u - kOffset), xoff(k) the activation bytes vector k pairs with.
template <class Self, class A = BlockQ8_0>
struct Blocks32P {
  using Act = A;
  static constexpr int kElems = 32, kInts = 1, kNT = 8, kGroups = 2;
  static constexpr int kFloats = sizeof(A) == sizeof(BlockQ8_1) ? 2 : 1;  // d_x, and s_x against Q8_1
  static constexpr size_t kHead = 2 * kPackRows * kFloats;                // F16 d (and m) of the 16 rows
  SIMD static void terms(int64_t nb, int nt, const uint8_t* x, size_t xs, float* dx, int32_t* ints) {
    block_terms<Self>(nb, nt, x, xs, dx, ints);
  }
  template <int NT, int G, bool kStream>
  SIMD static void tile(int64_t nb, const uint8_t* g, const uint8_t* x, size_t xs, const float* dx, const int32_t* ints,
                        float* y, size_t ys) {
    block_group_tile<Self, NT, G, kStream>(nb, g, x, xs, dx, ints, y, ys);
  }
};
struct Q4_0P : Blocks32P<Q4_0P> {
  static constexpr int kVecs = 8, kOffset = 8;
  static constexpr size_t kBlockBytes = kPackRows * sizeof(BlockQ4_0);
  // Chunk j holds bytes 4j..4j+3 of qs: elements 4j.. in the low nibbles, 16+4j.. in the high.
  SIMD static void unpack(const uint8_t* q, __m512i* u) {
    const __m512i m = _mm512_set1_epi8(15);
    UNROLL
    for (int j = 0; j < 4; ++j) {
      const __m512i v = load(q + 64 * j);
      u[2 * j] = _mm512_and_si512(v, m);
      u[2 * j + 1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m);
    }
  }
  static constexpr int xoff(int k) { return k % 2 ? 16 + 4 * (k / 2) : 4 * (k / 2); }
};
// Q5_0: the qh words of the 16 rows (bit e: element e's 5th bit), then Q4_0's
// chunks. A vector's 5th bits come from one qh byte per row: spread over the
// lane's 4 bytes by pshufb, tested against 1, 2, 4, 8 (shifted to the nibble)
// into a byte mask that adds 16.
struct Q5_0P : Blocks32P<Q5_0P> {
  static constexpr int kVecs = 8, kOffset = 16;
  static constexpr size_t kBlockBytes = kPackRows * sizeof(BlockQ5_0);
  SIMD static void unpack(const uint8_t* q, __m512i* u) {
    const __m512i h = load(q);
    Q4_0P::unpack(q + 64, u);
    const __m512i lane_base = _mm512_set4_epi32(0x0c0c0c0c, 0x08080808, 0x04040404, 0);
    UNROLL
    for (int k = 0; k < 8; ++k) {
      const int e = Q4_0P::xoff(k);
      const __m512i spread = _mm512_shuffle_epi8(h, _mm512_add_epi32(lane_base, _mm512_set1_epi32((e / 8) * 0x01010101)));
      const __mmask64 bit = _mm512_test_epi8_mask(spread, _mm512_set1_epi32(static_cast<int>(0x08040201u << (e % 8))));
      u[k] = _mm512_mask_add_epi8(u[k], bit, u[k], _mm512_set1_epi8(16));
    }
  }
  static constexpr int xoff(int k) { return Q4_0P::xoff(k); }
};
// Q4_1 / Q5_1: unsigned quants (no offset) with a min, against Q8_1.
struct Q4_1P : Blocks32P<Q4_1P, BlockQ8_1> {
  static constexpr int kVecs = 8, kOffset = 0;
  static constexpr size_t kBlockBytes = kPackRows * sizeof(BlockQ4_1);
  SIMD static void unpack(const uint8_t* q, __m512i* u) { Q4_0P::unpack(q, u); }
  static constexpr int xoff(int k) { return Q4_0P::xoff(k); }
};
struct Q5_1P : Blocks32P<Q5_1P, BlockQ8_1> {
  static constexpr int kVecs = 8, kOffset = 0;
  static constexpr size_t kBlockBytes = kPackRows * sizeof(BlockQ5_1);
  SIMD static void unpack(const uint8_t* q, __m512i* u) { Q5_0P::unpack(q, u); }
  static constexpr int xoff(int k) { return Q4_0P::xoff(k); }
};
struct Q8_0P : Blocks32P<Q8_0P> {
  static constexpr int kVecs = 8, kOffset = 128;  // stored biased by 128
  static constexpr size_t kBlockBytes = kPackRows * sizeof(BlockQ8_0);
  SIMD static void unpack(const uint8_t* q, __m512i* u) {
    UNROLL
    for (int k = 0; k < 8; ++k) u[k] = load(q + 64 * k);
  }
  static constexpr int xoff(int k) { return 4 * k; }
};

// Q4_K / Q5_K against Q8_K: a packed super-block is d[16], dmin[16] (F16), the
// three 32-bit words of each row's 12 scale bytes (word-major), for Q5_K the 8
// chunks of qh (chunk k: bytes 4k.. of every row; bit s of a byte is sub-block
// s's 5th bit), then 32 quant chunks; chunk 8j + k holds qs bytes 32j + 4k..
// whose low nibbles are sub-block 2j's elements 4k.. and high nibbles sub-block
// 2j+1's. Per row, as in ggml:
// d d_x sum_s sc_s dot_s - dmin d_x sum_s m_s xsum_s, with the integer parts exact.
template <bool kFifthBit>
struct Q45_KP {
  static constexpr int kElems = QK_K, kInts = 4, kFloats = 1, kNT = 8;
  static constexpr size_t kBlockBytes = kPackRows * (kFifthBit ? sizeof(BlockQ5_K) : sizeof(BlockQ4_K));
  static constexpr size_t kQhBytes = kFifthBit ? kPackRows * QK_K / 8 : 0;
  // ints: activation sums of the 8 sub-blocks as int16 pairs matching the mins
  // pairs below: (0, 2), (1, 3), (4, 6), (5, 7).
  static void terms(int64_t nsb, int nt, const uint8_t* x, size_t xs, float* dx, int32_t* ints) {
    q45k_terms(nsb, nt, x, xs, dx, ints);
  }
  template <int NT, int G, bool kStream>
  SIMD static void tile(int64_t nsb, const uint8_t* g, const uint8_t* x, size_t xs, const float* dx, const int32_t* ints,
                        float* y, size_t ys) {
    static_assert(G == 1);
    constexpr int kChains = NT >= 4 ? 1 : 2;
    const __m512i k6 = _mm512_set1_epi32(0x3f3f3f3f), k4 = _mm512_set1_epi32(0x0f0f0f0f),
                  k2 = _mm512_set1_epi32(0x03030303), lo16 = _mm512_set1_epi32(0x00ff00ff),
                  byte = _mm512_set1_epi32(0xff), nib = _mm512_set1_epi8(15);
    __m512 acc[NT];
    UNROLL
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nsb; ++b) {
      const uint8_t* blk = g + b * kBlockBytes;
      if constexpr (kStream) prefetch_ahead(blk, kBlockBytes);
      const __m512i w0 = load(blk + 64), w1 = load(blk + 128), w2 = load(blk + 192);
      // Mins first (their registers are free again for the quants): 16 rows x 8 mins.
      {
        const __m512i m0 = _mm512_and_si512(w1, k6);
        const __m512i m1 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(w2, 4), k4),
                                           _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(w1, 6), k2), 4));
        const __m512i mp[4] = {_mm512_and_si512(m0, lo16), _mm512_and_si512(_mm512_srli_epi32(m0, 8), lo16),
                               _mm512_and_si512(m1, lo16), _mm512_and_si512(_mm512_srli_epi32(m1, 8), lo16)};
        const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 32)));
        UNROLL
        for (int t = 0; t < NT; ++t) {
          const int32_t* xi = ints + 4 * (t * nsb + b);
          __m512i ms = _mm512_setzero_si512();
          UNROLL
          for (int k = 0; k < 4; ++k) ms = _mm512_dpwssd_epi32(ms, mp[k], _mm512_set1_epi32(xi[k]));
          acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(ms), _mm512_mul_ps(dmin, _mm512_set1_ps(dx[t * nsb + b])), acc[t]);
        }
      }
      // The 8 scales of 16 rows as int32 lanes, read back as memory operands of vpmulld.
      alignas(64) int32_t sc[8][kPackRows];
      {
        const __m512i s0 = _mm512_and_si512(w0, k6);
        const __m512i s1 = _mm512_or_si512(_mm512_and_si512(w2, k4),
                                           _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(w0, 6), k2), 4));
        UNROLL
        for (int s = 0; s < 4; ++s) {
          _mm512_store_si512(sc[s], _mm512_and_si512(_mm512_srli_epi32(s0, 8 * s), byte));
          _mm512_store_si512(sc[s + 4], _mm512_and_si512(_mm512_srli_epi32(s1, 8 * s), byte));
        }
      }
      __m512i tot[NT];
      UNROLL
      for (int t = 0; t < NT; ++t) tot[t] = _mm512_setzero_si512();
      const uint8_t* qh = blk + 256;
      const uint8_t* q = qh + kQhBytes;
      for (int s = 0; s < 8; ++s) {
        __m512i u[8];
        UNROLL
        for (int k = 0; k < 8; ++k) {
          const __m512i v = load(q + 64 * (8 * (s / 2) + k));
          u[k] = _mm512_and_si512(s % 2 ? _mm512_srli_epi16(v, 4) : v, nib);
          if constexpr (kFifthBit)  // + 16 where bit s of the row's qh byte is set
            u[k] = _mm512_mask_add_epi8(u[k], _mm512_test_epi8_mask(load(qh + 64 * k), _mm512_set1_epi8(static_cast<char>(1 << s))),
                                        u[k], _mm512_set1_epi8(16));
        }
        const __m512i scv = _mm512_load_si512(sc[s]);
        UNROLL
        for (int t = 0; t < NT; ++t) {
          const int8_t* xq = reinterpret_cast<const BlockQ8_K*>(x + t * xs)[b].qs + 32 * s;
          __m512i c[kChains];
          UNROLL
          for (int j = 0; j < kChains; ++j) c[j] = _mm512_setzero_si512();
          UNROLL
          for (int k = 0; k < 8; ++k) c[k % kChains] = _mm512_dpbusd_epi32(c[k % kChains], u[k], bcast4(xq + 4 * k));
          if constexpr (kChains == 2) c[0] = _mm512_add_epi32(c[0], c[1]);
          tot[t] = _mm512_add_epi32(tot[t], _mm512_mullo_epi32(c[0], scv));
        }
      }
      add_scaled<NT>(blk, tot, dx + b, nsb, acc);
    }
    store<NT>(acc, y, ys);
  }
};

// Q6_K against Q8_K: a packed super-block is d[16] (F16), then in struct order
// the 32 ql chunks, the 16 qh chunks and the four 32-bit words of each row's 16
// int8 scales. Half h, group gg (elements 128h + 32gg + l) takes ql bytes
// 64h + 32(gg & 1) + l (low nibble for gg < 2, else high) and bits 2gg, 2gg+1
// of qh byte 32h + l; scale 8h + 2gg + l / 16. Per row and super-block, the
// exact integer sum_j sc_j (dot(u_j, x_j) - 32 sum(x_j)) over the 16 sub-blocks
// of 16 elements, then one multiply by d d_x (ggml's summation, integer exact).
struct Q6_KP {
  static constexpr int kElems = QK_K, kInts = 16, kFloats = 1, kNT = 8;
  static constexpr size_t kBlockBytes = kPackRows * sizeof(BlockQ6_K);
  static constexpr size_t kQl = 2 * kPackRows, kQh = kQl + 32 * 64, kScales = kQh + 16 * 64;
  // ints: -32 * (the sums of the 16 activation sub-blocks), the start of each sub-block dot.
  SIMD static void terms(int64_t nsb, int nt, const uint8_t* x, size_t xs, float* dx, int32_t* ints) {
    for (int t = 0; t < nt; ++t) {
      const auto* xb = reinterpret_cast<const BlockQ8_K*>(x + t * xs);
      for (int64_t b = 0; b < nsb; ++b) {
        const size_t i = static_cast<size_t>(t * nsb + b);
        dx[i] = xb[b].d;
        for (int j = 0; j < 16; ++j) ints[16 * i + j] = -32 * xb[b].bsums[j];
      }
    }
  }
  template <int NT, int G, bool kStream>
  SIMD static void tile(int64_t nsb, const uint8_t* g, const uint8_t* x, size_t xs, const float* dx, const int32_t* ints,
                        float* y, size_t ys) {
    static_assert(G == 1);
    const __m512i lo4 = _mm512_set1_epi8(0x0f), six = _mm512_set1_epi8(0x3f);
    __m512 acc[NT];
    UNROLL
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nsb; ++b) {
      const uint8_t* blk = g + b * kBlockBytes;
      if constexpr (kStream) prefetch_ahead(blk, kBlockBytes);
      // The 16 scales of 16 rows as sign-extended int32 lanes, memory operands of vpmulld.
      alignas(64) int32_t sc[16][kPackRows];
      UNROLL
      for (int w = 0; w < 4; ++w) {
        const __m512i v = load(blk + kScales + 64 * w);
        UNROLL
        for (int k = 0; k < 4; ++k) _mm512_store_si512(sc[4 * w + k], _mm512_srai_epi32(_mm512_slli_epi32(v, 24 - 8 * k), 24));
      }
      __m512i tot[NT];
      UNROLL
      for (int t = 0; t < NT; ++t) tot[t] = _mm512_setzero_si512();
      for (int grp = 0; grp < 8; ++grp) {
        const int h = grp / 4, gg = grp % 4;
        __m512i u[8];
        UNROLL
        for (int k = 0; k < 8; ++k) {
          __m512i lo = load(blk + kQl + 64 * (16 * h + 8 * (gg & 1) + k));
          if (gg >= 2) lo = _mm512_srli_epi16(lo, 4);
          __m512i hi = load(blk + kQh + 64 * (8 * h + k));  // bits 2gg, 2gg + 1 to bits 4, 5
          hi = gg < 2 ? _mm512_slli_epi16(hi, 4 - 2 * gg) : gg == 2 ? hi : _mm512_srli_epi16(hi, 2);
          // Bitwise select (lo where the mask has 0x0f, hi elsewhere), then the 6 bits.
          u[k] = _mm512_and_si512(_mm512_ternarylogic_epi32(lo4, lo, hi, 0xca), six);
        }
        const int j = 8 * h + 2 * gg;  // scales j (elements l < 16) and j + 1
        const __m512i sc0 = _mm512_load_si512(sc[j]), sc1 = _mm512_load_si512(sc[j + 1]);
        UNROLL
        for (int t = 0; t < NT; ++t) {
          const int8_t* xq = reinterpret_cast<const BlockQ8_K*>(x + t * xs)[b].qs + 32 * grp;
          const int32_t* xi = ints + 16 * (t * nsb + b) + j;
          __m512i c0 = _mm512_set1_epi32(xi[0]), c1 = _mm512_set1_epi32(xi[1]);
          UNROLL
          for (int k = 0; k < 4; ++k) {
            c0 = _mm512_dpbusd_epi32(c0, u[k], bcast4(xq + 4 * k));
            c1 = _mm512_dpbusd_epi32(c1, u[k + 4], bcast4(xq + 16 + 4 * k));
          }
          tot[t] = _mm512_add_epi32(tot[t], _mm512_add_epi32(_mm512_mullo_epi32(c0, sc0), _mm512_mullo_epi32(c1, sc1)));
        }
      }
      add_scaled<NT>(blk, tot, dx + b, nsb, acc);
    }
    store<NT>(acc, y, ys);
  }
};

// Float weights: the tile is G groups of 16 rows x NT tokens of FMAs, the
// weights of one element (F16) or element pair (BF16) of 16 rows one register,
// each activation broadcast serving the G groups (with one group, the loads of
// a step outnumbered its FMAs). Two fixed accumulator chains per row and token
// (even and odd steps, added at the end): the same order for any NT and G, so
// a token's result never depends on the batch. Streaming tiles (kStream)
// prefetch the group's stream kAhead bytes ahead, as the row-major GEMV does.
// A macro because BF16's tile needs its own target (a step must inline into it).
#define EDGERAG_FLOAT_TILE(TARGET)                                                                                     \
  template <int NT, int G, bool kStream>                                                                               \
  TARGET static void tile(int64_t n, const uint8_t* g, const uint8_t* x, size_t xs, const float* dx, const int32_t*,   \
                          float* y, size_t ys) {                                                                       \
    __m512 acc[2][G][NT];                                                                                              \
    UNROLL                                                                                                             \
    for (int j = 0; j < G; ++j)                                                                                        \
      UNROLL                                                                                                           \
      for (int t = 0; t < NT; ++t) acc[0][j][t] = acc[1][j][t] = _mm512_setzero_ps();                                  \
    int64_t e = 0;                                                                                                     \
    for (; e + 2 <= n; e += 2) {                                                                                       \
      if constexpr (kStream)                                                                                           \
        for (int j = 0; j < G; ++j) prefetch_ahead(g + (j * n + e) * kBlockBytes, 2 * kBlockBytes);                   \
      UNROLL                                                                                                           \
      for (int c = 0; c < 2; ++c) step<NT, G>(g, e + c, x, xs, dx, n, acc[c]);                                        \
    }                                                                                                                  \
    if (e < n) step<NT, G>(g, e, x, xs, dx, n, acc[0]);                                                                \
    UNROLL                                                                                                             \
    for (int j = 0; j < G; ++j)                                                                                        \
      UNROLL                                                                                                           \
      for (int t = 0; t < NT; ++t)                                                                                     \
        _mm512_storeu_ps(y + j * kPackRows + t * ys, _mm512_add_ps(acc[0][j][t], acc[1][j][t]));                      \
  }

// F16 weights (one element of 16 rows per 32 bytes) against F16 activations,
// both widened exactly to F32 (F16C): products and sums in F32 FMA, as the
// row-major kernel; the activations are widened once per token group (dx).
struct F16P {
  static constexpr int kElems = 1, kFloats = 1, kInts = 0, kNT = 6, kGroups = 2;  // 24 accumulators
  static constexpr size_t kBlockBytes = 2 * kPackRows;
  SIMD static void terms(int64_t n, int nt, const uint8_t* x, size_t xs, float* dx, int32_t*) {
    for (int t = 0; t < nt; ++t) f16_to_f32(reinterpret_cast<const uint16_t*>(x + t * xs), dx + t * n, n);
  }
  // Element e of G groups (n elements each) into acc[group][token].
  template <int NT, int G>
  SIMD static void step(const uint8_t* g, int64_t e, const uint8_t*, size_t, const float* dx, int64_t n,
                        __m512 (*acc)[NT]) {
    __m512 wv[G];
    UNROLL
    for (int j = 0; j < G; ++j)
      wv[j] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + (j * n + e) * kBlockBytes)));
    UNROLL
    for (int t = 0; t < NT; ++t) {
      const __m512 a = _mm512_set1_ps(dx[t * n + e]);
      UNROLL
      for (int j = 0; j < G; ++j) acc[j][t] = _mm512_fmadd_ps(wv[j], a, acc[j][t]);
    }
  }
  EDGERAG_FLOAT_TILE(SIMD)
};

// BF16 weights (an element pair of 16 rows per 64 bytes) against BF16
// activations: one vdpbf16ps per pair and token, the pair broadcast from the
// activation row (as the row-major vdpbf16ps kernel, which the CPU must have).
#define SIMD_BF16 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx512bf16")))
struct BF16P {
  static constexpr int kElems = 2, kFloats = 0, kInts = 0, kNT = 6, kGroups = 2;
  static constexpr size_t kBlockBytes = 4 * kPackRows;
  SIMD static void terms(int64_t, int, const uint8_t*, size_t, float*, int32_t*) {}
  template <int NT, int G>
  SIMD_BF16 static void step(const uint8_t* g, int64_t e, const uint8_t* x, size_t xs, const float*, int64_t n,
                             __m512 (*acc)[NT]) {
    __m512bh wv[G];
    UNROLL
    for (int j = 0; j < G; ++j) wv[j] = (__m512bh)load(g + (j * n + e) * kBlockBytes);
    UNROLL
    for (int t = 0; t < NT; ++t) {
      float pair;  // broadcast as a float: a memory operand, not a move through a general register
      std::memcpy(&pair, x + t * xs + 4 * e, 4);
      const __m512bh a = (__m512bh)_mm512_set1_ps(pair);
      UNROLL
      for (int j = 0; j < G; ++j) acc[j][t] = _mm512_dpbf16_ps(acc[j][t], wv[j], a);
    }
  }
  EDGERAG_FLOAT_TILE(SIMD_BF16)
};
#undef SIMD_BF16
#undef EDGERAG_FLOAT_TILE

}  // namespace

PackedFn avx512_packed_kernel(DType w) {
  switch (w) {
    case DType::Q4_0: return &kPacked<Q4_0P>;
    case DType::Q4_1: return &kPacked<Q4_1P>;
    case DType::Q5_0: return &kPacked<Q5_0P>;
    case DType::Q5_1: return &kPacked<Q5_1P>;
    case DType::Q8_0: return &kPacked<Q8_0P>;
    case DType::Q4_K: return &kPacked<Q45_KP<false>>;
    case DType::Q5_K: return &kPacked<Q45_KP<true>>;
    case DType::Q6_K: return &kPacked<Q6_KP>;
    case DType::F16: return &kPacked<F16P>;
    case DType::BF16: return cpu_has_avx512_bf16() ? &kPacked<BF16P> : nullptr;
    default: return nullptr;
  }
}

}  // namespace edgerag

#undef SIMD
#undef UNROLL
