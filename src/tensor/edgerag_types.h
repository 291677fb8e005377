// edgerag's own quantized tensor types (ids >= 64, see docs/FORMATS.md): block
// layouts and scalar reference (de)quantization. They cover what the standard
// GGUF blocks cannot hold: the NormalFloat-4 codebook (optionally with 8-bit
// double-quantized scales), 2- and 3-bit codes, and 4-bit groups of 64/128.
#pragma once
#include <cstddef>
#include <cstdint>

#include "tensor/dtype.h"

namespace edgerag {

// NormalFloat-4 levels (quantiles of N(0,1) scaled to [-1, 1], as published with QLoRA).
extern const float kNF4Levels[16];
// The levels as int8: round(127 * level), the codebook of the NF4 matmul kernels.
extern const int8_t kNF4Levels8[16];

constexpr int QK_NF4 = 64;       // ER_NF4: one fp16 absmax per 64 weights
constexpr int QK_NF4_DQ = 256;   // ER_NF4_DQ: 4 groups of 64 share one fp16 super-scale
constexpr int NF4_DQ_GROUPS = QK_NF4_DQ / QK_NF4;

#pragma pack(push, 1)
struct BlockNF4 { uint16_t d; uint8_t qs[QK_NF4 / 2]; };
// Group g's absmax = d * sc[g] (8-bit double quantization of the per-group scales).
struct BlockNF4DQ { uint16_t d; uint8_t sc[NF4_DQ_GROUPS]; uint8_t qs[QK_NF4_DQ / 2]; };
#pragma pack(pop)
static_assert(sizeof(BlockNF4) == 34 && sizeof(BlockNF4DQ) == 134);

// Affine low-bit group types ER_Q{bits}_G{group}: per group one fp16 scale d and
// one fp16 offset m, w = d * q + m with q in [0, 2^bits); the codes are a
// little-endian bit stream (code i in bits [i*bits, (i+1)*bits)).
struct ErAffineSpec { int bits; int group; };
// True (and the spec) for the ER_Q*_G* types.
bool er_affine_spec(DType t, ErAffineSpec* spec);
// The ER_Q*_G* type with these parameters, or false if there is none.
bool er_affine_type(int bits, int group, DType* out);
constexpr size_t er_affine_block_bytes(int bits, int group) { return 4 + static_cast<size_t>(bits) * group / 8; }

// Code i of an ER_Q*_G* bit stream (qs: the group's code bytes).
uint8_t er_affine_code(const uint8_t* qs, int bits, int i);
// Packs one group of codes with its (already fp16) scale and offset into `dst`.
void er_affine_pack(int bits, int group, const uint8_t* codes, uint16_t d, uint16_t m, void* dst);
// Packs one ER_NF4 block from codes (indices into kNF4Levels) and its fp16 absmax.
void nf4_pack(const uint8_t* codes, uint16_t d, BlockNF4* dst);
// Index of the NF4 level nearest to x (x in units of the group absmax).
uint8_t nf4_nearest(float x);

// ER_Q3_G16_BL, SpQR's bilevel statistics: blocks of 64 weights, 4 groups of 16
// whose scale and zero are themselves 3-bit codes over the block: group j's
// scale is D (s_j + 1) with the block's fp16 step D, its zero z_j an integer code
// point, so w = D (s_j + 1) (q - z_j) with q, s_j, z_j in [0, 8). 29 bytes per 64
// weights (3.625 bits each): fp16 D; 3 bytes of statistics (s_j in bits [6j,
// 6j + 3), z_j in [6j + 3, 6j + 6)); 24 bytes of 3-bit codes (the ER_Q3 bit stream).
constexpr int QK_BL = 64, BL_GROUP = 16, BL_GROUPS = QK_BL / BL_GROUP;
#pragma pack(push, 1)
struct BlockQ3Bl { uint16_t d; uint8_t stats[3]; uint8_t qs[QK_BL * 3 / 8]; };
#pragma pack(pop)
static_assert(sizeof(BlockQ3Bl) == 29);
// Group j's scale code s (scale D (s + 1)) and zero z.
inline void q3bl_stats(const BlockQ3Bl& b, int j, int* s, int* z) {
  const unsigned v = (b.stats[0] | b.stats[1] << 8 | b.stats[2] << 16) >> (6 * j);
  *s = static_cast<int>(v & 7), *z = static_cast<int>((v >> 3) & 7);
}
// The fp16 step D of a block from its groups' ideal scales (range / 7): the
// largest is code 6 (D = largest / 7), leaving code 7 as headroom for groups that
// GPTQ's updates widen after it fixed the block's step (at D = largest / 8, 13%
// of stories260K's groups clipped).
uint16_t q3bl_step(const float* group_scales);
// The nearest stored statistics under step D for a group whose range [lo, lo + 7 d]
// contains 0: s nearest to d / D - 1, then z nearest to -lo / (D (s + 1)).
void q3bl_fit(float d, float lo, float step, int* s, int* z);
// Packs one block from its 64 codes, fp16 step and 4 (s, z) pairs.
void q3bl_pack(const uint8_t* codes, uint16_t step, const int* s, const int* z, BlockQ3Bl* dst);

// Scalar reference conversions for the types above (called by dequantize_row /
// quantize_row in dtype.cpp). The quantizers are round-to-nearest: min/max
// offset and scale for the affine types, absmax for NF4, for ER_Q3_G16_BL min/max
// with 0 in the range and statistics from q3bl_step / q3bl_fit.
void er_dequantize_row(DType t, const void* src, float* dst, int64_t n);
void er_quantize_row(DType t, const float* src, void* dst, int64_t n);

}  // namespace edgerag
