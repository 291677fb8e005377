// AVX-512 level of the attention kernels: 512-bit vectors (a 16-key score row
// is one register; on Intel cores with two 512-bit FMA units this halves the
// products' instructions, on Zen 4 they issue as two halves) and 32 registers,
// so 8 query rows x 2 key tiles per score tile (16 accumulators: each query
// element is loaded once for 32 keys) and 4 rows per value tile.
#define ATTN_SIMD_TARGET "avx2,fma,f16c,avx512f,avx512vl"
#define ATTN_SIMD_NS avx512
#define ATTN_SIMD_QK_ROWS 8
#define ATTN_SIMD_PV_ROWS 6
#define ATTN_SIMD_QK_TILES 2
#define ATTN_SIMD_ZMM 1
#define ATTN_SIMD_TABLE avx512_kernels
#include "model/attention_simd.inc"
