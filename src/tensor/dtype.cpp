#include "tensor/dtype.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <string>

#include "tensor/edgerag_types.h"
#include "tensor/fp16.h"
#include "tensor/kquant_ref.h"
#include "tensor/ops.h"
#include "util/error.h"

namespace edgerag {
namespace {

const DTypeTraits kUnknown{"unknown", 0, 0, false};

const DTypeTraits* lookup(DType t) {
  static const DTypeTraits f32{"F32", 1, 4, true}, f16{"F16", 1, 2, true}, bf16{"BF16", 1, 2, true},
      q4_0{"Q4_0", QK4_0, sizeof(BlockQ4_0), true}, q4_1{"Q4_1", QK4_1, sizeof(BlockQ4_1), true},
      q5_0{"Q5_0", QK5_0, sizeof(BlockQ5_0), true}, q5_1{"Q5_1", QK5_1, sizeof(BlockQ5_1), true},
      q8_0{"Q8_0", QK8_0, sizeof(BlockQ8_0), true}, q8_1{"Q8_1", QK8_1, sizeof(BlockQ8_1), false},
      q2_k{"Q2_K", QK_K, 84, false}, q3_k{"Q3_K", QK_K, 110, false},
      q4_k{"Q4_K", QK_K, sizeof(BlockQ4_K), true}, q5_k{"Q5_K", QK_K, sizeof(BlockQ5_K), true},
      q6_k{"Q6_K", QK_K, sizeof(BlockQ6_K), true}, q8_k{"Q8_K", QK_K, sizeof(BlockQ8_K), false},
      i8{"I8", 1, 1, false}, i16{"I16", 1, 2, false}, i32{"I32", 1, 4, false}, i64{"I64", 1, 8, false},
      f64{"F64", 1, 8, false};
  static const DTypeTraits er_nf4{"ER_NF4", QK_NF4, sizeof(BlockNF4), true},
      er_nf4_dq{"ER_NF4_DQ", QK_NF4_DQ, sizeof(BlockNF4DQ), true},
      er_q4_g64{"ER_Q4_G64", 64, er_affine_block_bytes(4, 64), true},
      er_q4_g128{"ER_Q4_G128", 128, er_affine_block_bytes(4, 128), true},
      er_q3_g32{"ER_Q3_G32", 32, er_affine_block_bytes(3, 32), true},
      er_q3_g64{"ER_Q3_G64", 64, er_affine_block_bytes(3, 64), true},
      er_q3_g128{"ER_Q3_G128", 128, er_affine_block_bytes(3, 128), true},
      er_q2_g32{"ER_Q2_G32", 32, er_affine_block_bytes(2, 32), true},
      er_q2_g64{"ER_Q2_G64", 64, er_affine_block_bytes(2, 64), true},
      er_q2_g128{"ER_Q2_G128", 128, er_affine_block_bytes(2, 128), true},
      er_q3_g16_bl{"ER_Q3_G16_BL", QK_BL, sizeof(BlockQ3Bl), true};
  switch (t) {
    case DType::F32: return &f32;
    case DType::F16: return &f16;
    case DType::BF16: return &bf16;
    case DType::Q4_0: return &q4_0;
    case DType::Q4_1: return &q4_1;
    case DType::Q5_0: return &q5_0;
    case DType::Q5_1: return &q5_1;
    case DType::Q8_0: return &q8_0;
    case DType::Q8_1: return &q8_1;
    case DType::Q2_K: return &q2_k;
    case DType::Q3_K: return &q3_k;
    case DType::Q4_K: return &q4_k;
    case DType::Q5_K: return &q5_k;
    case DType::Q6_K: return &q6_k;
    case DType::Q8_K: return &q8_k;
    case DType::I8: return &i8;
    case DType::I16: return &i16;
    case DType::I32: return &i32;
    case DType::I64: return &i64;
    case DType::F64: return &f64;
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
  }
  return nullptr;
}

inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

void dequant_q4_0(const BlockQ4_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK4_0 / 2; ++j) {
      y[i * QK4_0 + j] = ((x[i].qs[j] & 0x0F) - 8) * d;
      y[i * QK4_0 + j + QK4_0 / 2] = ((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequant_q4_1(const BlockQ4_1* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d), m = fp16_to_fp32(x[i].m);
    for (int j = 0; j < QK4_1 / 2; ++j) {
      y[i * QK4_1 + j] = (x[i].qs[j] & 0x0F) * d + m;
      y[i * QK4_1 + j + QK4_1 / 2] = (x[i].qs[j] >> 4) * d + m;
    }
  }
}

template <typename Block, bool kHasMin>
void dequant_q5(const Block* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    float m = 0;
    if constexpr (kHasMin) m = fp16_to_fp32(x[i].m);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < 16; ++j) {
      const uint8_t xh0 = ((qh >> j) << 4) & 0x10;
      const uint8_t xh1 = (qh >> (j + 12)) & 0x10;
      int x0 = (x[i].qs[j] & 0x0F) | xh0, x1 = (x[i].qs[j] >> 4) | xh1;
      if constexpr (kHasMin) {
        y[i * 32 + j] = x0 * d + m;
        y[i * 32 + j + 16] = x1 * d + m;
      } else {
        y[i * 32 + j] = (x0 - 16) * d;
        y[i * 32 + j + 16] = (x1 - 16) * d;
      }
    }
  }
}

void dequant_q8_0(const BlockQ8_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    for (int j = 0; j < QK8_0; ++j) y[i * QK8_0 + j] = x[i].qs[j] * d;
  }
}

void dequant_q4_k(const BlockQ4_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* q = x[i].qs;
    const float d = fp16_to_fp32(x[i].d), min = fp16_to_fp32(x[i].dmin);
    int is = 0;
    uint8_t sc, m;
    for (int j = 0; j < QK_K; j += 64) {
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

void dequant_q5_k(const BlockQ5_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* ql = x[i].qs;
    const uint8_t* qh = x[i].qh;
    const float d = fp16_to_fp32(x[i].d), min = fp16_to_fp32(x[i].dmin);
    int is = 0;
    uint8_t sc, m, u1 = 1, u2 = 2;
    for (int j = 0; j < QK_K; j += 64) {
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      ql += 32;
      is += 2;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

void dequant_q6_k(const BlockQ6_K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = fp16_to_fp32(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    for (int n = 0; n < QK_K; n += 128) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int8_t q1 = static_cast<int8_t>((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int8_t q2 = static_cast<int8_t>((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int8_t q3 = static_cast<int8_t>((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int8_t q4 = static_cast<int8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l + 0] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
      y += 128;
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

// --- reference quantizers (same arithmetic as the published reference code) ---

void quant_q8_0(const float* x, BlockQ8_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    float amax = 0;
    for (int j = 0; j < QK8_0; ++j) amax = std::max(amax, std::fabs(x[i * QK8_0 + j]));
    const float d = amax / 127.f, id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < QK8_0; ++j) y[i].qs[j] = static_cast<int8_t>(std::roundf(x[i * QK8_0 + j] * id));
  }
}

void quant_q4_0(const float* x, BlockQ4_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    float amax = 0, max = 0;
    for (int j = 0; j < QK4_0; ++j) {
      const float v = x[i * QK4_0 + j];
      if (amax < std::fabs(v)) { amax = std::fabs(v); max = v; }
    }
    const float d = max / -8, id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    for (int j = 0; j < QK4_0 / 2; ++j) {
      const uint8_t a = std::min<int>(15, static_cast<int8_t>(x[i * QK4_0 + j] * id + 8.5f));
      const uint8_t b = std::min<int>(15, static_cast<int8_t>(x[i * QK4_0 + QK4_0 / 2 + j] * id + 8.5f));
      y[i].qs[j] = a | (b << 4);
    }
  }
}

void quant_q4_1(const float* x, BlockQ4_1* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    float min = INFINITY, max = -INFINITY;
    for (int j = 0; j < QK4_1; ++j) { min = std::min(min, x[i * QK4_1 + j]); max = std::max(max, x[i * QK4_1 + j]); }
    const float d = (max - min) / 15, id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    y[i].m = fp32_to_fp16(min);
    for (int j = 0; j < QK4_1 / 2; ++j) {
      const uint8_t a = std::min<int>(15, static_cast<int8_t>((x[i * QK4_1 + j] - min) * id + 0.5f));
      const uint8_t b = std::min<int>(15, static_cast<int8_t>((x[i * QK4_1 + QK4_1 / 2 + j] - min) * id + 0.5f));
      y[i].qs[j] = a | (b << 4);
    }
  }
}

template <typename Block, bool kHasMin>
void quant_q5(const float* x, Block* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float* v = x + i * 32;
    float d, id, min = 0;
    if constexpr (kHasMin) {
      float max = -INFINITY;
      min = INFINITY;
      for (int j = 0; j < 32; ++j) { min = std::min(min, v[j]); max = std::max(max, v[j]); }
      d = (max - min) / 31;
      y[i].m = fp32_to_fp16(min);
    } else {
      float amax = 0, max = 0;
      for (int j = 0; j < 32; ++j)
        if (amax < std::fabs(v[j])) { amax = std::fabs(v[j]); max = v[j]; }
      d = max / -16;
    }
    id = d ? 1.0f / d : 0.0f;
    y[i].d = fp32_to_fp16(d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const float off = kHasMin ? 0.5f : 16.5f;
      const uint8_t a = kHasMin ? static_cast<uint8_t>((v[j] - min) * id + off)
                                : std::min<int>(31, static_cast<int8_t>(v[j] * id + off));
      const uint8_t b = kHasMin ? static_cast<uint8_t>((v[j + 16] - min) * id + off)
                                : std::min<int>(31, static_cast<int8_t>(v[j + 16] * id + off));
      y[i].qs[j] = (a & 0x0F) | ((b & 0x0F) << 4);
      qh |= ((a & 0x10u) >> 4) << (j + 0);
      qh |= ((b & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(y[i].qh, &qh, 4);
  }
}

void quant_q8_k(const float* x, BlockQ8_K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    float max = 0, amax = 0;
    for (int j = 0; j < QK_K; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) { amax = ax; max = x[j]; }
    }
    if (!amax) {
      std::memset(&y[i], 0, sizeof(BlockQ8_K));
      x += QK_K;
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < QK_K; ++j) {
      int v = static_cast<int>(std::nearbyint(iscale * x[j]));
      y[i].qs[j] = static_cast<int8_t>(std::min(127, v));
    }
    for (int j = 0; j < QK_K / 16; ++j) {
      int sum = 0;
      for (int ii = 0; ii < 16; ++ii) sum += y[i].qs[j * 16 + ii];
      y[i].bsums[j] = static_cast<int16_t>(sum);
    }
    y[i].d = 1 / iscale;
    x += QK_K;
  }
}

}  // namespace

const DTypeTraits& dtype_traits(DType t) {
  const DTypeTraits* p = lookup(t);
  return p ? *p : kUnknown;
}

bool dtype_from_name(std::string_view name, DType* out) {
  std::string up(name);
  for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (uint32_t id = 0; id < kDTypeIdEnd; ++id) {
    const DTypeTraits* p = lookup(static_cast<DType>(id));
    if (p && up == p->name) {
      *out = static_cast<DType>(id);
      return true;
    }
  }
  return false;
}

size_t row_size(DType t, int64_t n) {
  const DTypeTraits& tr = dtype_traits(t);
  EDGERAG_CHECK(tr.block_size > 0, "row_size: unknown type {}", static_cast<uint32_t>(t));
  EDGERAG_CHECK(n % tr.block_size == 0, "row of {} elements is not a multiple of the {} block size {}", n,
                tr.name, tr.block_size);
  return static_cast<size_t>(n / tr.block_size) * tr.type_size;
}

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  const int64_t nb = n / std::max(1, dtype_traits(t).block_size);
  switch (t) {
    case DType::F32: std::memcpy(dst, src, n * sizeof(float)); return;
    case DType::F16: return f16_to_f32(static_cast<const uint16_t*>(src), dst, n);
    case DType::BF16: return bf16_to_f32(static_cast<const uint16_t*>(src), dst, n);
    case DType::Q4_0: return dequant_q4_0(static_cast<const BlockQ4_0*>(src), dst, nb);
    case DType::Q4_1: return dequant_q4_1(static_cast<const BlockQ4_1*>(src), dst, nb);
    case DType::Q5_0: return dequant_q5<BlockQ5_0, false>(static_cast<const BlockQ5_0*>(src), dst, nb);
    case DType::Q5_1: return dequant_q5<BlockQ5_1, true>(static_cast<const BlockQ5_1*>(src), dst, nb);
    case DType::Q8_0: return dequant_q8_0(static_cast<const BlockQ8_0*>(src), dst, nb);
    case DType::Q4_K: return dequant_q4_k(static_cast<const BlockQ4_K*>(src), dst, nb);
    case DType::Q5_K: return dequant_q5_k(static_cast<const BlockQ5_K*>(src), dst, nb);
    case DType::Q6_K: return dequant_q6_k(static_cast<const BlockQ6_K*>(src), dst, nb);
    case DType::ER_NF4: case DType::ER_NF4_DQ: case DType::ER_Q4_G64: case DType::ER_Q4_G128:
    case DType::ER_Q3_G32: case DType::ER_Q3_G64: case DType::ER_Q3_G128: case DType::ER_Q2_G32:
    case DType::ER_Q2_G64: case DType::ER_Q2_G128: case DType::ER_Q3_G16_BL:
      return er_dequantize_row(t, src, dst, n);
    default: fail("dequantize: unsupported tensor type {}", dtype_name(t));
  }
}

void quantize_row(DType t, const float* src, void* dst, int64_t n) {
  const int64_t nb = n / std::max(1, dtype_traits(t).block_size);
  switch (t) {
    case DType::F32: std::memcpy(dst, src, n * sizeof(float)); return;
    case DType::F16: return f32_to_f16(src, static_cast<uint16_t*>(dst), n);
    case DType::BF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = fp32_to_bf16(src[i]);
      return;
    }
    case DType::Q4_0: return quant_q4_0(src, static_cast<BlockQ4_0*>(dst), nb);
    case DType::Q4_1: return quant_q4_1(src, static_cast<BlockQ4_1*>(dst), nb);
    case DType::Q5_0: return quant_q5<BlockQ5_0, false>(src, static_cast<BlockQ5_0*>(dst), nb);
    case DType::Q5_1: return quant_q5<BlockQ5_1, true>(src, static_cast<BlockQ5_1*>(dst), nb);
    case DType::Q8_0: return quant_q8_0(src, static_cast<BlockQ8_0*>(dst), nb);
    case DType::Q8_K: return quant_q8_k(src, static_cast<BlockQ8_K*>(dst), nb);
    case DType::Q4_K: return quantize_q4_k_ref(src, static_cast<BlockQ4_K*>(dst), n);
    case DType::Q5_K: return quantize_q5_k_ref(src, static_cast<BlockQ5_K*>(dst), n);
    case DType::Q6_K: return quantize_q6_k_ref(src, static_cast<BlockQ6_K*>(dst), n);
    case DType::ER_NF4: case DType::ER_NF4_DQ: case DType::ER_Q4_G64: case DType::ER_Q4_G128:
    case DType::ER_Q3_G32: case DType::ER_Q3_G64: case DType::ER_Q3_G128: case DType::ER_Q2_G32:
    case DType::ER_Q2_G64: case DType::ER_Q2_G128: case DType::ER_Q3_G16_BL:
      return er_quantize_row(t, src, dst, n);
    default: fail("quantize: no quantizer for tensor type {}", dtype_name(t));
  }
}

}  // namespace edgerag
