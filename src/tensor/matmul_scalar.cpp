// Scalar kernels: the portable fallback and the reference the SIMD paths are
// tested against. Integer block sums are exact, so SIMD results differ from
// these only by float summation order.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "tensor/edgerag_types.h"
#include "tensor/fp16.h"
#include "tensor/matmul_kernels.h"
#include "util/error.h"

namespace edgerag {
namespace {

// q = round-half-even(v * id), as _mm256_round_ps(_MM_ROUND_NEAREST) does.
inline int8_t round_q8(float v, float id) { return static_cast<int8_t>(std::nearbyintf(v * id)); }

template <typename Block>
void quantize_q8_blocks(const float* x, Block* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.f, id = amax != 0.0f ? 127.f / amax : 0.0f;
    y[i].d = fp32_to_fp16(d);
    int sum = 0;
    for (int j = 0; j < 32; ++j) sum += y[i].qs[j] = round_q8(x[j], id);
    if constexpr (sizeof(Block) == sizeof(BlockQ8_1)) y[i].s = fp32_to_fp16(d * static_cast<float>(sum));
  }
}

// --- per-row dot products -------------------------------------------------

template <typename T, float (*conv)(uint16_t)>
float dot_half(int64_t n, const uint8_t* w, const uint8_t* x) {
  T a, b;
  double s = 0;  // ggml's scalar path accumulates in double as well
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(&a, w + i * 2, 2);
    std::memcpy(&b, x + i * 2, 2);
    s += static_cast<double>(conv(a) * conv(b));
  }
  return static_cast<float>(s);
}

float dot_f32_row(int64_t n, const uint8_t* w, const uint8_t* x) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    float a, b;
    std::memcpy(&a, w + i * 4, 4);
    std::memcpy(&b, x + i * 4, 4);
    s += static_cast<double>(a * b);
  }
  return static_cast<float>(s);
}
float dot_f16_row(int64_t n, const uint8_t* w, const uint8_t* x) { return dot_half<uint16_t, fp16_to_fp32>(n, w, x); }
float dot_bf16_row(int64_t n, const uint8_t* w, const uint8_t* x) { return dot_half<uint16_t, bf16_to_fp32>(n, w, x); }

// Unpacks 32 weights of a 32-element block to integers in the dot's order.
inline void unpack(const BlockQ4_0& b, int* q) {
  for (int j = 0; j < 16; ++j) q[j] = (b.qs[j] & 15) - 8, q[j + 16] = (b.qs[j] >> 4) - 8;
}
inline void unpack(const BlockQ4_1& b, int* q) {
  for (int j = 0; j < 16; ++j) q[j] = b.qs[j] & 15, q[j + 16] = b.qs[j] >> 4;
}
template <typename Block>
inline void unpack5(const Block& b, int* q, int offset) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  for (int j = 0; j < 16; ++j) {
    q[j] = ((b.qs[j] & 15) | (((qh >> j) & 1) << 4)) - offset;
    q[j + 16] = ((b.qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - offset;
  }
}
inline void unpack(const BlockQ5_0& b, int* q) { unpack5(b, q, 16); }
inline void unpack(const BlockQ5_1& b, int* q) { unpack5(b, q, 0); }
inline void unpack(const BlockQ8_0& b, int* q) {
  for (int j = 0; j < 32; ++j) q[j] = b.qs[j];
}

// sum_b d_w d_x sum(q_w q_x) against Q8_0 activations; blocks with a min
// (Q4_1/Q5_1, against Q8_1) add m_w * s_x per block.
template <typename Block, typename Act = BlockQ8_0>
float dot_q32_row(int64_t n, const uint8_t* w, const uint8_t* x) {
  const auto* wb = reinterpret_cast<const Block*>(w);
  const auto* xb = reinterpret_cast<const Act*>(x);
  float s = 0;
  int q[32];
  for (int64_t b = 0; b < n / 32; ++b) {
    unpack(wb[b], q);
    int isum = 0;
    for (int j = 0; j < 32; ++j) isum += q[j] * xb[b].qs[j];
    const float block = static_cast<float>(isum) * (fp16_to_fp32(wb[b].d) * fp16_to_fp32(xb[b].d));
    if constexpr (std::is_same_v<Act, BlockQ8_1>) s += block + fp16_to_fp32(wb[b].m) * fp16_to_fp32(xb[b].s);
    else s += block;
  }
  return s;
}

// edgerag group formats in 32-element sub-blocks, as the SIMD kernels walk
// them: the integer dot of the codes with the Q8 activations, scaled per
// sub-block by the group's d (plus m * s_x for the affine types).
template <int kBits, int kGroup>
float dot_er_affine_row(int64_t n, const uint8_t* w, const uint8_t* x) {
  constexpr size_t kBlockBytes = er_affine_block_bytes(kBits, kGroup);
  const auto* xb = reinterpret_cast<const BlockQ8_1*>(x);
  float s = 0;
  for (int64_t b = 0; b < n / 32; ++b) {
    const uint8_t* blk = w + static_cast<size_t>(b / (kGroup / 32)) * kBlockBytes;
    const int i0 = static_cast<int>(b % (kGroup / 32)) * 32;
    uint16_t d, m;
    std::memcpy(&d, blk, 2);
    std::memcpy(&m, blk + 2, 2);
    int isum = 0;
    for (int j = 0; j < 32; ++j) isum += er_affine_code(blk + 4, kBits, i0 + j) * xb[b].qs[j];
    s += static_cast<float>(isum) * (fp16_to_fp32(d) * fp16_to_fp32(xb[b].d)) + fp16_to_fp32(m) * fp16_to_fp32(xb[b].s);
  }
  return s;
}

// ER_Q3_G16_BL against Q8_0 activations: the integer weights (s + 1)(q - z) of
// each 32-element sub-block (two groups) dotted with the quants, times D d_x.
float dot_er_q3bl_row(int64_t n, const uint8_t* w, const uint8_t* x) {
  const auto* wb = reinterpret_cast<const BlockQ3Bl*>(w);
  const auto* xb = reinterpret_cast<const BlockQ8_0*>(x);
  float s = 0;
  for (int64_t b = 0; b < n / 32; ++b) {
    const BlockQ3Bl& blk = wb[b / 2];
    int isum = 0;
    for (int j = 0; j < 32; ++j) {
      const int i = static_cast<int>(b % 2) * 32 + j;
      int sc, z;
      q3bl_stats(blk, i / BL_GROUP, &sc, &z);
      isum += (sc + 1) * (er_affine_code(blk.qs, 3, i) - z) * xb[b].qs[j];
    }
    s += static_cast<float>(isum) * (fp16_to_fp32(blk.d) * fp16_to_fp32(xb[b].d));
  }
  return s;
}

// ER_NF4 / ER_NF4_DQ with the int8 codebook kNF4Levels8 (127 * level), hence
// the final / 127. A sub-block's codes: 16 bytes, the first `i0` weights of its group skipped.
template <typename Block>
float dot_er_nf4_row(int64_t n, const uint8_t* w, const uint8_t* x) {
  constexpr int kSub = (sizeof(Block) == sizeof(BlockNF4) ? QK_NF4 : QK_NF4_DQ) / 32;
  const auto* wb = reinterpret_cast<const Block*>(w);
  const auto* xb = reinterpret_cast<const BlockQ8_0*>(x);
  float s = 0;
  for (int64_t b = 0; b < n / 32; ++b) {
    const Block& blk = wb[b / kSub];
    const int sub = static_cast<int>(b % kSub);
    float d = fp16_to_fp32(blk.d);
    if constexpr (std::is_same_v<Block, BlockNF4DQ>) d *= static_cast<float>(blk.sc[sub / 2]);
    int isum = 0;
    for (int j = 0; j < 32; ++j) isum += kNF4Levels8[(blk.qs[sub * 16 + j / 2] >> (4 * (j & 1))) & 15] * xb[b].qs[j];
    s += static_cast<float>(isum) * (d * fp16_to_fp32(xb[b].d));
  }
  return s * (1.0f / 127);
}

// 6-bit scale j and min j of a Q4_K / Q5_K super-block.
inline void scale_min_k4(int j, const uint8_t* q, int* d, int* m) {
  if (j < 4) {
    *d = q[j] & 63, *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

// Q4_K / Q5_K x Q8_K: d_w d_x sum_j sc_j (q_j . x_j) - dmin_w d_x sum_j m_j sum(x_j).
template <bool kFive>
float dot_qk45_row(int64_t n, const uint8_t* w, const uint8_t* x) {
  const auto* xb = reinterpret_cast<const BlockQ8_K*>(x);
  float s = 0;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    const uint8_t* scales;
    const uint8_t* qs;
    const uint8_t* qh = nullptr;
    uint16_t d, dmin;
    if constexpr (kFive) {
      const auto& wb = reinterpret_cast<const BlockQ5_K*>(w)[b];
      scales = wb.scales, qs = wb.qs, qh = wb.qh, d = wb.d, dmin = wb.dmin;
    } else {
      const auto& wb = reinterpret_cast<const BlockQ4_K*>(w)[b];
      scales = wb.scales, qs = wb.qs, d = wb.d, dmin = wb.dmin;
    }
    int isum = 0, msum = 0;
    for (int j = 0; j < 8; ++j) {  // 32-element sub-blocks: low nibbles, then high
      int sc, m;
      scale_min_k4(j, scales, &sc, &m);
      const uint8_t* q = qs + (j / 2) * 32;
      const int8_t* q8 = xb[b].qs + j * 32;
      int dot = 0;
      for (int l = 0; l < 32; ++l) {
        int v = (j & 1) ? q[l] >> 4 : q[l] & 15;
        if constexpr (kFive) v |= ((qh[l] >> j) & 1) << 4;
        dot += v * q8[l];
      }
      isum += sc * dot;
      msum += m * (xb[b].bsums[2 * j] + xb[b].bsums[2 * j + 1]);
    }
    s += fp16_to_fp32(d) * xb[b].d * static_cast<float>(isum) - fp16_to_fp32(dmin) * xb[b].d * static_cast<float>(msum);
  }
  return s;
}

float dot_q6k_row(int64_t n, const uint8_t* w, const uint8_t* x) {
  const auto* wb = reinterpret_cast<const BlockQ6_K*>(w);
  const auto* xb = reinterpret_cast<const BlockQ8_K*>(x);
  float s = 0;
  for (int64_t b = 0; b < n / QK_K; ++b) {
    int isum = 0;
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = wb[b].ql + half * 64;
      const uint8_t* qh = wb[b].qh + half * 32;
      const int8_t* sc = wb[b].scales + half * 8;
      const int8_t* q8 = xb[b].qs + half * 128;
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        isum += sc[is] * q1 * q8[l] + sc[is + 2] * q2 * q8[l + 32] + sc[is + 4] * q3 * q8[l + 64] +
                sc[is + 6] * q4 * q8[l + 96];
      }
    }
    s += fp16_to_fp32(wb[b].d) * xb[b].d * static_cast<float>(isum);
  }
  return s;
}

template <float (*dot)(int64_t, const uint8_t*, const uint8_t*)>
void tile(int64_t cols, const uint8_t* w, size_t ws, int64_t nr, const uint8_t* x, size_t xs, int64_t nt, float* y,
          size_t ys) {
  for (int64_t t = 0; t < nt; ++t)
    for (int64_t r = 0; r < nr; ++r) y[t * ys + r] = dot(cols, w + r * ws, x + t * xs);
}

}  // namespace

void quantize_activations(DType act, const float* x, void* dst, int64_t n) {
  switch (act) {
    case DType::Q8_0: return quantize_q8_blocks(x, static_cast<BlockQ8_0*>(dst), n / 32);
    case DType::Q8_1: return quantize_q8_blocks(x, static_cast<BlockQ8_1*>(dst), n / 32);
    case DType::F32: case DType::F16: case DType::BF16: case DType::Q8_K: return quantize_row(act, x, dst, n);
    default: fail("quantize_activations: {} is not an activation format", dtype_name(act));
  }
}

DType activation_type(DType w) {
  const MatmulKernel* k = scalar_kernel(w);
  return k ? k->act_type : DType::F32;
}

const MatmulKernel* scalar_kernel(DType w) {
  static const MatmulKernel f32{DType::F32, tile<dot_f32_row>}, f16{DType::F16, tile<dot_f16_row>},
      bf16{DType::BF16, tile<dot_bf16_row>}, q4_0{DType::Q8_0, tile<dot_q32_row<BlockQ4_0>>},
      q5_0{DType::Q8_0, tile<dot_q32_row<BlockQ5_0>>}, q8_0{DType::Q8_0, tile<dot_q32_row<BlockQ8_0>>},
      q4_1{DType::Q8_1, tile<dot_q32_row<BlockQ4_1, BlockQ8_1>>}, q5_1{DType::Q8_1, tile<dot_q32_row<BlockQ5_1, BlockQ8_1>>},
      q4_k{DType::Q8_K, tile<dot_qk45_row<false>>}, q5_k{DType::Q8_K, tile<dot_qk45_row<true>>},
      q6_k{DType::Q8_K, tile<dot_q6k_row>}, er_nf4{DType::Q8_0, tile<dot_er_nf4_row<BlockNF4>>},
      er_nf4_dq{DType::Q8_0, tile<dot_er_nf4_row<BlockNF4DQ>>},
      er_q4_g64{DType::Q8_1, tile<dot_er_affine_row<4, 64>>}, er_q4_g128{DType::Q8_1, tile<dot_er_affine_row<4, 128>>},
      er_q3_g32{DType::Q8_1, tile<dot_er_affine_row<3, 32>>}, er_q3_g64{DType::Q8_1, tile<dot_er_affine_row<3, 64>>},
      er_q3_g128{DType::Q8_1, tile<dot_er_affine_row<3, 128>>}, er_q2_g32{DType::Q8_1, tile<dot_er_affine_row<2, 32>>},
      er_q2_g64{DType::Q8_1, tile<dot_er_affine_row<2, 64>>}, er_q2_g128{DType::Q8_1, tile<dot_er_affine_row<2, 128>>},
      er_q3_g16_bl{DType::Q8_0, tile<dot_er_q3bl_row>};
  switch (w) {
    case DType::F32: return &f32;
    case DType::F16: return &f16;
    case DType::BF16: return &bf16;
    case DType::Q4_0: return &q4_0;
    case DType::Q4_1: return &q4_1;
    case DType::Q5_0: return &q5_0;
    case DType::Q5_1: return &q5_1;
    case DType::Q8_0: return &q8_0;
    case DType::Q4_K: return &q4_k;
    case DType::Q5_K: return &q5_k;
    case DType::Q6_K: return &q6_k;
    case DType::ER_NF4: return &er_nf4;
    case DType::ER_NF4_DQ: return &er_nf4_dq;
    case DType::ER_Q4_G64: return &er_q4_g64;
    case DType::ER_Q4_G128: return &er_q4_g128;
    case DType::ER_Q3_G32: return &er_q3_g32;
    case DType::ER_Q3_G64: return &er_q3_g64;
    case DType::ER_Q3_G128: return &er_q3_g128;
    case DType::ER_Q2_G32: return &er_q2_g32;
    case DType::ER_Q2_G64: return &er_q2_g64;
    case DType::ER_Q2_G128: return &er_q2_g128;
    case DType::ER_Q3_G16_BL: return &er_q3_g16_bl;
    default: return nullptr;
  }
}

const MatmulKernel* kernel_for(DType w, Isa isa) {
  const MatmulKernel* k = nullptr;
  if (isa == Isa::Avx512) k = avx512_kernel(w);
  if (!k && isa >= Isa::Avx2) k = avx2_kernel(w);
  return k ? k : scalar_kernel(w);
}

PackedFn packed_kernel_for(DType w, Isa isa) {
  switch (isa) {
    case Isa::Avx512: return avx512_packed_kernel(w);
    case Isa::Avx2: return avx2_packed_kernel(w);
    default: return nullptr;
  }
}

}  // namespace edgerag
