// Internal to the tensor module: the driver shared by the packed-layout kernels
// of every ISA level (matmul_packed_avx512.cpp, matmul_packed_avx2.cpp). A
// packed format P gives kElems elements and kBlockBytes bytes per block of
// kPackRows rows, kFloats / kInts terms per (token, block) computed by
// terms(), tile<NT, G, kStream>() for G groups of rows (1 unless P has
// kGroups) and NT tokens, prefetching its weights as one stream when kStream,
// and kNT, the widest token tile. No target attribute here: the kernels carry
// their own.
#pragma once
#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"
#include "tensor/ops.h"

namespace edgerag {
namespace {

// Streaming tiles (decode, verification, the first full tile of a panel) read
// each weight once from memory: their packed stream is prefetched kAhead bytes
// in front of the reads (`bytes` from p on, once per cache line), as the
// row-major GEMV does; without it the K-quant GEMVs, with long computations per
// block, ran slower than row-major in a model, and a verification of 7 drafts
// (8 tokens, one full tile) cost x2.5-2.8 a decode step against x1.8 for 6.
// Prefill tiles after the first re-read L2-resident panels and do not prefetch.
constexpr size_t kAhead = 16384;
inline void prefetch_ahead(const uint8_t* p, size_t bytes) {
  for (size_t off = 0; off < bytes; off += 64)  // GCC 12 drops _mm_prefetch once inlined, hence asm
    asm volatile("prefetcht0 %0" : : "m"(*reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(p) + off + kAhead)));
}

// Q4_K / Q5_K token terms against Q8_K: d_x, and the activation sums of the 8
// sub-blocks as int16 pairs matching the packed kernels' pairs of mins:
// (0, 2), (1, 3), (4, 6), (5, 7).
inline void q45k_terms(int64_t nsb, int nt, const uint8_t* x, size_t xs, float* dx, int32_t* ints) {
  for (int t = 0; t < nt; ++t) {
    const auto* xb = reinterpret_cast<const BlockQ8_K*>(x + t * xs);
    for (int64_t b = 0; b < nsb; ++b) {
      int32_t sum[8];
      for (int j = 0; j < 8; ++j) sum[j] = xb[b].bsums[2 * j] + xb[b].bsums[2 * j + 1];
      const size_t i = static_cast<size_t>(t * nsb + b);
      dx[i] = xb[b].d;
      for (int k = 0; k < 4; ++k) {
        const int lo = (k / 2) * 4 + k % 2;
        ints[4 * i + k] = static_cast<int32_t>(static_cast<uint16_t>(sum[lo]) |
                                               static_cast<uint32_t>(static_cast<uint16_t>(sum[lo + 2])) << 16);
      }
    }
  }
}

// Groups per register tile: formats that tile several groups (kGroups) do so
// at the widest token tile when it re-reads an L2-resident panel; a streaming
// tile (kStream: the weights come from memory once, prefetched) keeps one
// group, one stream.
template <class P, int NT, bool kStream>
constexpr int tile_groups() {
  if constexpr (kStream) return 1;
  if constexpr (requires { P::kGroups; }) return NT == P::kNT ? P::kGroups : 1;
  return 1;
}

// All groups for NT tokens, whose terms are dx / ints. Tiles narrower than the
// widest stream; so does the first full tile of a call (packed_matmul).
template <class P, int NT, bool kStream = (NT < P::kNT)>
void groups_pass(int64_t nb, const uint8_t* w, size_t group_bytes, int64_t ng, const uint8_t* x, size_t xs,
                 const float* dx, const int32_t* ints, float* y, size_t ys) {
  constexpr int G = tile_groups<P, NT, kStream>();
  int64_t g = 0;
  if constexpr (G > 1)
    for (; g + G <= ng; g += G)
      P::template tile<NT, G, kStream>(nb, w + g * group_bytes, x, xs, dx, ints, y + g * kPackRows, ys);
  for (; g < ng; ++g)
    P::template tile<NT, 1, kStream>(nb, w + g * group_bytes, x, xs, dx, ints, y + g * kPackRows, ys);
}

template <class P, int NT>
void tail_tokens(int64_t rem, int64_t nb, const uint8_t* w, size_t gb, int64_t ng, const uint8_t* x, size_t xs,
                 const float* dx, const int32_t* ints, float* y, size_t ys) {
  if constexpr (NT > 0) {
    if (rem == NT) return groups_pass<P, NT>(nb, w, gb, ng, x, xs, dx, ints, y, ys);
    tail_tokens<P, NT - 1>(rem, nb, w, gb, ng, x, xs, dx, ints, y, ys);
  }
}

template <class P>
void packed_terms(int64_t cols, const uint8_t* x, size_t xs, int64_t nt, float* dx, int32_t* ints) {
  P::terms(cols / P::kElems, static_cast<int>(nt), x, xs, dx, ints);
}

template <class P>
void packed_matmul(int64_t cols, const uint8_t* w, int64_t ng, const uint8_t* x, size_t xs, int64_t nt,
                   const float* dx, const int32_t* ints, float* y, size_t ys) {
  const int64_t nb = cols / P::kElems;
  const size_t gb = static_cast<size_t>(nb) * P::kBlockBytes;
  const int64_t fs = nb * P::kFloats, is = nb * P::kInts;  // terms per token
  int64_t t = 0;
  if (nt >= P::kNT) {  // the first full tile reads the panel from memory: it streams; the rest re-read it from L2
    groups_pass<P, P::kNT, true>(nb, w, gb, ng, x, xs, dx, ints, y, ys);
    t = P::kNT;
  }
  for (; t + P::kNT <= nt; t += P::kNT)
    groups_pass<P, P::kNT>(nb, w, gb, ng, x + t * xs, xs, dx + t * fs, ints + t * is, y + t * ys, ys);
  if (t < nt) tail_tokens<P, P::kNT - 1>(nt - t, nb, w, gb, ng, x + t * xs, xs, dx + t * fs, ints + t * is, y + t * ys, ys);
}

// The PackedKernel of format P.
template <class P>
constexpr PackedKernel kPacked{P::kElems, P::kFloats, P::kInts, packed_terms<P>, packed_matmul<P>};

}  // namespace
}  // namespace edgerag
