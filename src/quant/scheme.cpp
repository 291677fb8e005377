#include "quant/scheme.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "tensor/edgerag_types.h"
#include "tensor/fp16.h"
#include "util/error.h"

namespace edgerag::quant {
namespace {

float r16(float x) { return fp16_to_fp32(fp32_to_fp16(x)); }

// Q4_0/Q4_1/Q5_0/Q5_1 nibble layout: element j in the low nibble of qs[j],
// element j + 16 in the high nibble; Q5 keeps the fifth bits in qh.
template <typename Block>
void pack_nibbles(const uint8_t* q, Block& b) {
  for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
}
template <typename Block>
void pack_fifth_bits(const uint8_t* q, Block& b) {
  uint32_t qh = 0;
  for (int j = 0; j < 32; ++j) qh |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
  std::memcpy(b.qh, &qh, 4);
}

}  // namespace

Scheme Scheme::of(DType type, bool asymmetric) {
  Scheme s;
  s.type = type;
  ErAffineSpec spec;
  switch (type) {
    case DType::Q8_0: s.bits = 8, s.group = 32, s.asymmetric = false; break;
    case DType::Q4_0: s.bits = 4, s.group = 32, s.asymmetric = false; break;
    case DType::Q5_0: s.bits = 5, s.group = 32, s.asymmetric = false; break;
    case DType::Q4_1: s.bits = 4, s.group = 32, s.asymmetric = asymmetric; break;
    case DType::Q5_1: s.bits = 5, s.group = 32, s.asymmetric = asymmetric; break;
    case DType::ER_NF4: s.bits = 4, s.group = QK_NF4, s.asymmetric = false, s.nf4 = true; break;
    case DType::ER_Q3_G16_BL: s.bits = 3, s.group = BL_GROUP, s.asymmetric = true, s.block = QK_BL; break;  // zeros always stored
    default:
      if (!er_affine_spec(type, &spec)) fail("no quantization scheme for tensor type {}", dtype_name(type));
      s.bits = spec.bits, s.group = spec.group, s.asymmetric = asymmetric;
  }
  s.zero = s.nf4 ? 0 : 1 << (s.bits - 1);
  return s;
}

float Scheme::level(int q) const { return nf4 ? kNF4Levels[q] : static_cast<float>(q); }

uint8_t Scheme::code(float x, GroupParams p) const {
  if (p.d == 0) return static_cast<uint8_t>(zero);
  const float t = (x - p.m) / p.d;
  if (nf4) return nf4_nearest(t);
  return static_cast<uint8_t>(std::clamp(static_cast<int>(std::lround(t)), 0, qmax()));
}

GroupParams Scheme::stored(GroupParams p) const {
  if (bilevel()) {
    EDGERAG_CHECK(p.step >= 0, "{}: group statistics need their block's step (methods rtn, gptq, spqr)",
                  dtype_name(type));
    int sc, z;
    q3bl_fit(p.d, p.m, p.step, &sc, &z);
    const float d = p.step * static_cast<float>(sc + 1);
    return {d, -d * static_cast<float>(z), p.step};
  }
  GroupParams s{r16(p.d), 0};
  s.m = (asymmetric ? r16(p.m) : -static_cast<float>(zero) * s.d);
  return s;
}

GroupParams Scheme::fit(const float* w, int n) const {
  if (nf4) {
    float amax = 0;
    for (int i = 0; i < n; ++i) amax = std::max(amax, std::fabs(w[i]));
    return {amax, 0};
  }
  if (asymmetric) {
    const auto [lo, hi] = std::minmax_element(w, w + n);
    if (bilevel()) {
      const float l = std::min(*lo, 0.0f);
      return {(std::max(*hi, 0.0f) - l) / qmax(), l};
    }
    return {(*hi - *lo) / qmax(), *lo};
  }
  float amax = 0, max = 0;
  for (int i = 0; i < n; ++i)
    if (std::fabs(w[i]) > amax) amax = std::fabs(w[i]), max = w[i];
  // Q8_0 maps absmax to +-127 (its reference); the narrower types put the signed
  // extreme on code 0 so both halves of the code range are used.
  const float d = bits == 8 ? amax / 127 : max / -static_cast<float>(zero);
  return {d, -zero * d};
}

void Scheme::share_steps(GroupParams* params, int64_t n_groups) const {
  if (!bilevel()) return;
  EDGERAG_CHECK(n_groups % BL_GROUPS == 0, "{} groups do not fill {}'s blocks of {}", n_groups, dtype_name(type), block);
  for (int64_t b = 0; b < n_groups; b += BL_GROUPS) {
    float d[BL_GROUPS];
    for (int j = 0; j < BL_GROUPS; ++j) d[j] = params[b + j].d;
    const float step = fp16_to_fp32(q3bl_step(d));
    for (int j = 0; j < BL_GROUPS; ++j) params[b + j].step = step;
  }
}

void Scheme::pack(const uint8_t* q, const GroupParams* params, int64_t n, void* dst) const {
  EDGERAG_CHECK(n % group == 0, "row of {} is not a multiple of the group size {}", n, group);
  if (bilevel()) {  // the codes of (s, z) back from the stored d = D (s + 1) and m = -d z
    EDGERAG_CHECK(n % block == 0, "row of {} is not a multiple of the {} block {}", n, dtype_name(type), block);
    for (int64_t b = 0; b < n / block; ++b, q += block, params += BL_GROUPS) {
      int sc[BL_GROUPS], z[BL_GROUPS];
      for (int j = 0; j < BL_GROUPS; ++j) {
        const GroupParams& p = params[j];
        sc[j] = p.step > 0 ? std::clamp(static_cast<int>(std::lround(p.d / p.step)) - 1, 0, 7) : 0;
        z[j] = p.d > 0 ? std::clamp(static_cast<int>(std::lround(-p.m / p.d)), 0, 7) : 0;
      }
      q3bl_pack(q, fp32_to_fp16(params[0].step), sc, z, &static_cast<BlockQ3Bl*>(dst)[b]);
    }
    return;
  }
  const int64_t nb = n / group;
  ErAffineSpec spec;
  for (int64_t b = 0; b < nb; ++b, q += group) {
    const uint16_t d = fp32_to_fp16(params[b].d), m = fp32_to_fp16(params[b].m);
    switch (type) {
      case DType::Q8_0: {
        auto& blk = static_cast<BlockQ8_0*>(dst)[b];
        blk.d = d;
        for (int j = 0; j < 32; ++j) blk.qs[j] = static_cast<int8_t>(q[j] - 128);
        break;
      }
      case DType::Q4_0: {
        auto& blk = static_cast<BlockQ4_0*>(dst)[b];
        blk.d = d;
        pack_nibbles(q, blk);
        break;
      }
      case DType::Q4_1: {
        auto& blk = static_cast<BlockQ4_1*>(dst)[b];
        blk.d = d, blk.m = m;
        pack_nibbles(q, blk);
        break;
      }
      case DType::Q5_0: {
        auto& blk = static_cast<BlockQ5_0*>(dst)[b];
        blk.d = d;
        pack_nibbles(q, blk);
        pack_fifth_bits(q, blk);
        break;
      }
      case DType::Q5_1: {
        auto& blk = static_cast<BlockQ5_1*>(dst)[b];
        blk.d = d, blk.m = m;
        pack_nibbles(q, blk);
        pack_fifth_bits(q, blk);
        break;
      }
      case DType::ER_NF4: nf4_pack(q, d, &static_cast<BlockNF4*>(dst)[b]); break;
      default:
        EDGERAG_CHECK(er_affine_spec(type, &spec), "cannot pack codes into {}", dtype_name(type));
        er_affine_pack(bits, group, q, d, m,
                       static_cast<uint8_t*>(dst) + b * er_affine_block_bytes(bits, group));
    }
  }
}

std::string Scheme::describe() const {
  return fmt::format("{} ({}-bit{}, group {}{})", dtype_name(type), bits,
                     nf4 ? " NF4" : asymmetric ? " asymmetric" : " symmetric", group,
                     bilevel() ? fmt::format(", 3-bit scales and zeros over blocks of {}", block) : "");
}

DType storage_type(int bits, int group, bool asymmetric, bool nf4, bool double_quant) {
  if (nf4) {
    EDGERAG_CHECK(bits == 4, "nf4 is a 4-bit format (got --bits {})", bits);
    return double_quant ? DType::ER_NF4_DQ : DType::ER_NF4;
  }
  if (bits == 8) return DType::Q8_0;
  if (group == 32 && bits == 4) return asymmetric ? DType::Q4_1 : DType::Q4_0;
  if (group == 32 && bits == 5) return asymmetric ? DType::Q5_1 : DType::Q5_0;
  if (bits == 3 && group == BL_GROUP) return DType::ER_Q3_G16_BL;
  DType t;
  if (er_affine_type(bits, group, &t)) return t;
  fail("no storage type for {}-bit codes in groups of {} (supported: 8/g32, 5/g32, 4/g32|64|128, 3/g16 (bilevel), "
       "3 and 2/g32|64|128)", bits, group);
}

}  // namespace edgerag::quant
