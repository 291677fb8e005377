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

// Scalar reference conversions for the types above (called by dequantize_row /
// quantize_row in dtype.cpp). The quantizers are round-to-nearest: min/max
// offset and scale for the affine types, absmax for NF4.
void er_dequantize_row(DType t, const void* src, float* dst, int64_t n);
void er_quantize_row(DType t, const float* src, void* dst, int64_t n);

}  // namespace edgerag
