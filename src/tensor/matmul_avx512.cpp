// AVX-512 level: the same kernels on 256-bit vectors with VNNI dot products and
// the 32 vector registers of AVX512VL (larger token tiles). On Zen 4, 512-bit
// ops issue as two 256-bit halves, so wider vectors would not add throughput.
#define EDGERAG_SIMD_TARGET "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"
#define EDGERAG_SIMD_NS avx512
#define EDGERAG_SIMD_VNNI 1
#define EDGERAG_SIMD_NT 4
#define EDGERAG_SIMD_NR1 8
#define EDGERAG_SIMD_TABLE avx512_kernel
#include "tensor/matmul_simd.inc"
