#include "tensor/edgerag_types.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/fp16.h"
#include "util/error.h"

namespace edgerag {

const float kNF4Levels[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f, -0.28444138169288635f,
    -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f, 0.16093020141124725f,
    0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
    0.7229568362236023f, 1.0f};
const int8_t kNF4Levels8[16] = {-127, -88, -67, -50, -36, -23, -12, 0, 10, 20, 31, 43, 56, 71, 92, 127};

namespace {

struct AffineRow { DType type; ErAffineSpec spec; };
constexpr AffineRow kAffine[] = {
    {DType::ER_Q4_G64, {4, 64}},  {DType::ER_Q4_G128, {4, 128}}, {DType::ER_Q3_G32, {3, 32}},
    {DType::ER_Q3_G64, {3, 64}},  {DType::ER_Q3_G128, {3, 128}}, {DType::ER_Q2_G32, {2, 32}},
    {DType::ER_Q2_G64, {2, 64}},  {DType::ER_Q2_G128, {2, 128}},
};

void dequant_affine(const ErAffineSpec& s, const uint8_t* src, float* dst, int64_t n) {
  const size_t bb = er_affine_block_bytes(s.bits, s.group);
  for (int64_t b = 0; b < n / s.group; ++b, src += bb) {
    uint16_t dh, mh;
    std::memcpy(&dh, src, 2);
    std::memcpy(&mh, src + 2, 2);
    const float d = fp16_to_fp32(dh), m = fp16_to_fp32(mh);
    for (int i = 0; i < s.group; ++i) *dst++ = d * er_affine_code(src + 4, s.bits, i) + m;
  }
}

void quant_affine(const ErAffineSpec& s, const float* x, uint8_t* dst, int64_t n) {
  const size_t bb = er_affine_block_bytes(s.bits, s.group);
  const int qmax = (1 << s.bits) - 1;
  uint8_t codes[128];
  for (int64_t b = 0; b < n / s.group; ++b, x += s.group, dst += bb) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < s.group; ++i) { lo = std::min(lo, x[i]); hi = std::max(hi, x[i]); }
    const uint16_t dh = fp32_to_fp16((hi - lo) / qmax), mh = fp32_to_fp16(lo);
    const float d = fp16_to_fp32(dh), m = fp16_to_fp32(mh), id = d ? 1.0f / d : 0.0f;
    for (int i = 0; i < s.group; ++i)
      codes[i] = static_cast<uint8_t>(std::clamp<int>(static_cast<int>(std::lround((x[i] - m) * id)), 0, qmax));
    er_affine_pack(s.bits, s.group, codes, dh, mh, dst);
  }
}

float absmax(const float* x, int n) {
  float a = 0;
  for (int i = 0; i < n; ++i) a = std::max(a, std::fabs(x[i]));
  return a;
}

void nf4_codes(const float* x, float d, uint8_t* codes) {
  const float id = d ? 1.0f / d : 0.0f;
  for (int i = 0; i < QK_NF4; ++i) codes[i] = nf4_nearest(x[i] * id);
}

}  // namespace

uint8_t er_affine_code(const uint8_t* qs, int bits, int i) {
  const int bit = i * bits;
  // Codes of 2 and 4 bits never straddle a byte; 3-bit codes may, so read 16 bits.
  unsigned v = qs[bit / 8];
  if ((bit % 8) + bits > 8) v |= static_cast<unsigned>(qs[bit / 8 + 1]) << 8;
  return static_cast<uint8_t>((v >> (bit % 8)) & ((1u << bits) - 1));
}

bool er_affine_spec(DType t, ErAffineSpec* spec) {
  for (const auto& r : kAffine)
    if (r.type == t) {
      *spec = r.spec;
      return true;
    }
  return false;
}

bool er_affine_type(int bits, int group, DType* out) {
  for (const auto& r : kAffine)
    if (r.spec.bits == bits && r.spec.group == group) {
      *out = r.type;
      return true;
    }
  return false;
}

void er_affine_pack(int bits, int group, const uint8_t* codes, uint16_t d, uint16_t m, void* dst) {
  auto* p = static_cast<uint8_t*>(dst);
  std::memcpy(p, &d, 2);
  std::memcpy(p + 2, &m, 2);
  uint8_t* qs = p + 4;
  std::memset(qs, 0, static_cast<size_t>(bits) * group / 8);
  for (int i = 0; i < group; ++i) {
    const int bit = i * bits;
    const unsigned v = static_cast<unsigned>(codes[i]) << (bit % 8);
    qs[bit / 8] |= static_cast<uint8_t>(v);
    if ((bit % 8) + bits > 8) qs[bit / 8 + 1] |= static_cast<uint8_t>(v >> 8);
  }
}

uint16_t q3bl_step(const float* group_scales) {
  float top = 0;
  for (int j = 0; j < BL_GROUPS; ++j) top = std::max(top, group_scales[j]);
  return fp32_to_fp16(top / 7);  // code 6: one code of headroom (below)
}

void q3bl_fit(float d, float lo, float step, int* s, int* z) {
  *s = step > 0 ? std::clamp(static_cast<int>(std::lround(d / step)) - 1, 0, 7) : 0;
  const float dq = step * static_cast<float>(*s + 1);
  *z = dq > 0 ? std::clamp(static_cast<int>(std::lround(-lo / dq)), 0, 7) : 0;
}

void q3bl_pack(const uint8_t* codes, uint16_t step, const int* s, const int* z, BlockQ3Bl* dst) {
  unsigned v = 0;
  for (int j = 0; j < BL_GROUPS; ++j) v |= static_cast<unsigned>(s[j] | z[j] << 3) << (6 * j);
  dst->d = step;
  for (int k = 0; k < 3; ++k) dst->stats[k] = static_cast<uint8_t>(v >> (8 * k));
  uint8_t packed[4 + sizeof(dst->qs)];  // er_affine_pack's layout minus its d and m
  er_affine_pack(3, QK_BL, codes, 0, 0, packed);
  std::memcpy(dst->qs, packed + 4, sizeof(dst->qs));
}

uint8_t nf4_nearest(float x) {
  // Levels are sorted: pick the nearest of the two around x.
  const float* it = std::lower_bound(kNF4Levels, kNF4Levels + 16, x);
  if (it == kNF4Levels) return 0;
  if (it == kNF4Levels + 16) return 15;
  const int hi = static_cast<int>(it - kNF4Levels);
  return static_cast<uint8_t>(x - kNF4Levels[hi - 1] < kNF4Levels[hi] - x ? hi - 1 : hi);
}

void nf4_pack(const uint8_t* codes, uint16_t d, BlockNF4* dst) {
  dst->d = d;
  for (int j = 0; j < QK_NF4 / 2; ++j) dst->qs[j] = static_cast<uint8_t>(codes[2 * j] | (codes[2 * j + 1] << 4));
}

void er_dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  ErAffineSpec spec;
  if (er_affine_spec(t, &spec)) return dequant_affine(spec, static_cast<const uint8_t*>(src), dst, n);
  if (t == DType::ER_NF4) {
    const auto* x = static_cast<const BlockNF4*>(src);
    for (int64_t b = 0; b < n / QK_NF4; ++b) {
      const float d = fp16_to_fp32(x[b].d);
      for (int j = 0; j < QK_NF4 / 2; ++j) {
        *dst++ = d * kNF4Levels[x[b].qs[j] & 0xF];
        *dst++ = d * kNF4Levels[x[b].qs[j] >> 4];
      }
    }
    return;
  }
  if (t == DType::ER_NF4_DQ) {
    const auto* x = static_cast<const BlockNF4DQ*>(src);
    for (int64_t b = 0; b < n / QK_NF4_DQ; ++b) {
      const float dd = fp16_to_fp32(x[b].d);
      for (int g = 0; g < NF4_DQ_GROUPS; ++g) {
        const float d = dd * x[b].sc[g];
        for (int j = 0; j < QK_NF4 / 2; ++j) {
          const uint8_t q = x[b].qs[g * QK_NF4 / 2 + j];
          *dst++ = d * kNF4Levels[q & 0xF];
          *dst++ = d * kNF4Levels[q >> 4];
        }
      }
    }
    return;
  }
  if (t == DType::ER_Q3_G16_BL) {
    const auto* x = static_cast<const BlockQ3Bl*>(src);
    for (int64_t b = 0; b < n / QK_BL; ++b) {
      const float step = fp16_to_fp32(x[b].d);
      for (int i = 0; i < QK_BL; ++i) {
        int sc, z;
        q3bl_stats(x[b], i / BL_GROUP, &sc, &z);
        *dst++ = step * static_cast<float>((sc + 1) * (er_affine_code(x[b].qs, 3, i) - z));
      }
    }
    return;
  }
  fail("dequantize: {} is not an edgerag type", dtype_name(t));
}

void er_quantize_row(DType t, const float* src, void* dst, int64_t n) {
  ErAffineSpec spec;
  if (er_affine_spec(t, &spec)) return quant_affine(spec, src, static_cast<uint8_t*>(dst), n);
  uint8_t codes[QK_NF4];
  if (t == DType::ER_NF4) {
    auto* y = static_cast<BlockNF4*>(dst);
    for (int64_t b = 0; b < n / QK_NF4; ++b, src += QK_NF4) {
      const uint16_t dh = fp32_to_fp16(absmax(src, QK_NF4));
      nf4_codes(src, fp16_to_fp32(dh), codes);
      nf4_pack(codes, dh, &y[b]);
    }
    return;
  }
  if (t == DType::ER_NF4_DQ) {
    auto* y = static_cast<BlockNF4DQ*>(dst);
    for (int64_t b = 0; b < n / QK_NF4_DQ; ++b, src += QK_NF4_DQ) {
      float amax[NF4_DQ_GROUPS], top = 0;
      for (int g = 0; g < NF4_DQ_GROUPS; ++g) top = std::max(top, amax[g] = absmax(src + g * QK_NF4, QK_NF4));
      const uint16_t dh = fp32_to_fp16(top / 255);
      const float dd = fp16_to_fp32(dh);
      y[b].d = dh;
      for (int g = 0; g < NF4_DQ_GROUPS; ++g) {
        // Round the scale up so the group's largest weight stays inside [-1, 1] levels.
        const int sc = dd ? std::clamp(static_cast<int>(std::ceil(amax[g] / dd)), 0, 255) : 0;
        y[b].sc[g] = static_cast<uint8_t>(sc);
        nf4_codes(src + g * QK_NF4, dd * sc, codes);
        for (int j = 0; j < QK_NF4 / 2; ++j)
          y[b].qs[g * QK_NF4 / 2 + j] = static_cast<uint8_t>(codes[2 * j] | (codes[2 * j + 1] << 4));
      }
    }
    return;
  }
  if (t == DType::ER_Q3_G16_BL) {
    auto* y = static_cast<BlockQ3Bl*>(dst);
    for (int64_t b = 0; b < n / QK_BL; ++b, src += QK_BL) {
      float lo[BL_GROUPS], d[BL_GROUPS];
      for (int j = 0; j < BL_GROUPS; ++j) {
        const auto [mn, mx] = std::minmax_element(src + j * BL_GROUP, src + (j + 1) * BL_GROUP);
        lo[j] = std::min(*mn, 0.0f), d[j] = (std::max(*mx, 0.0f) - lo[j]) / 7;
      }
      const uint16_t step = q3bl_step(d);
      int sc[BL_GROUPS], z[BL_GROUPS];
      for (int j = 0; j < BL_GROUPS; ++j) {
        q3bl_fit(d[j], lo[j], fp16_to_fp32(step), &sc[j], &z[j]);
        const float dq = fp16_to_fp32(step) * static_cast<float>(sc[j] + 1), id = dq ? 1.0f / dq : 0.0f;
        for (int i = j * BL_GROUP; i < (j + 1) * BL_GROUP; ++i)
          codes[i] = static_cast<uint8_t>(std::clamp<int>(static_cast<int>(std::lround(src[i] * id)) + z[j], 0, 7));
      }
      q3bl_pack(codes, step, sc, z, &y[b]);
    }
    return;
  }
  fail("quantize: {} is not an edgerag type", dtype_name(t));
}

}  // namespace edgerag
