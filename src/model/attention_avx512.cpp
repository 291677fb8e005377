// AVX-512 level of the attention kernels: 256-bit vectors with the 32 registers
// of AVX512VL, so 8 query rows per score tile and 4 per value tile.
#define ATTN_SIMD_TARGET "avx2,fma,avx512f,avx512vl"
#define ATTN_SIMD_NS avx512
#define ATTN_SIMD_QK_ROWS 8
#define ATTN_SIMD_PV_ROWS 4
#define ATTN_SIMD_TABLE avx512_kernels
#include "model/attention_simd.inc"
