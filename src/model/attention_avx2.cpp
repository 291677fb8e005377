// AVX2 level of the attention kernels: 16 vector registers, so 4 query rows per
// score tile (8 accumulators; a second key tile would need all 16 registers)
// and 2 per value tile.
#define ATTN_SIMD_TARGET "avx2,fma,f16c"
#define ATTN_SIMD_NS avx2
#define ATTN_SIMD_QK_ROWS 4
#define ATTN_SIMD_PV_ROWS 2
#define ATTN_SIMD_QK_TILES 1
#define ATTN_SIMD_ZMM 0
#define ATTN_SIMD_TABLE avx2_kernels
#include "model/attention_simd.inc"
