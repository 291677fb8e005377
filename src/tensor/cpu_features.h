// Run-time choice of the SIMD level used by the tensor kernels. The binary is
// built for baseline x86-64; faster paths are picked from cpuid/xgetbv, and
// EDGERAG_ISA=scalar|avx2|avx512 (or set_isa, for tests) forces a lower level.
#pragma once

namespace edgerag {

enum class Isa { Scalar = 0, Avx2 = 1, Avx512 = 2 };

// Avx2 means AVX2+FMA+F16C+BMI2; Avx512 means F+BW+VL+DQ+VNNI on top of that.
Isa detected_isa();
// AVX512-BF16 (vdpbf16ps) is a separate flag: not every AVX-512 CPU has it.
bool cpu_has_avx512_bf16();

// The level kernels use now: EDGERAG_ISA if set (clamped to detected), else detected.
Isa active_isa();
// Forces a level (clamped to detected_isa()); returns the level in effect.
Isa set_isa(Isa isa);

const char* isa_name(Isa isa);
bool isa_from_name(const char* name, Isa* out);

}  // namespace edgerag
