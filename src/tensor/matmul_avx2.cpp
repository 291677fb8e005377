// AVX2 + FMA + F16C (+ BMI2 pdep) kernels (see matmul_simd.inc).
#define EDGERAG_SIMD_TARGET "avx2,fma,f16c,bmi2"
#define EDGERAG_SIMD_NS avx2
#define EDGERAG_SIMD_VNNI 0
#define EDGERAG_SIMD_NT 2
#define EDGERAG_SIMD_NR1 4
#define EDGERAG_SIMD_TABLE avx2_kernel
#include "tensor/matmul_simd.inc"
