// Arithmetic the CPU does exactly that Vulkan leaves to the driver. Vulkan lets
// packHalf2x16 round either way (to nearest even or toward zero), gives division
// 2.5 ulp and cos/sin an absolute error bound only on [-pi, pi]; lavapipe happens
// to match the CPU, an NVIDIA H200 did not (wrong Q8 scales, F16 activations and
// rotary angles at large positions: GPU layers off the CPU's by up to 0.3 in the
// logits). These helpers use integer operations and fma, whose results are exact.
#ifndef EXACT_GLSL
#define EXACT_GLSL

// v rounded to the nearest F16 value, ties to even (ggml's FP32_TO_FP16, F16C), as a float.
float f16_rne(float v) {
  const uint u = floatBitsToUint(v);
  const uint a = u & 0x7FFFFFFFu, s = u & 0x80000000u;
  if (a >= 0x7F800000u) return v;                                   // inf, NaN
  if (a >= 0x477FF000u) return uintBitsToFloat(s | 0x7F800000u);    // >= 65520 rounds to inf
  if (a >= 0x38800000u)                                             // normal F16: 10 mantissa bits
    return uintBitsToFloat(s | ((a + 0x0FFFu + ((a >> 13) & 1u)) & 0xFFFFE000u));
  // F16 subnormals: multiples of 2^-24 (scaling by a power of two is exact)
  const float q = roundEven(uintBitsToFloat(a) * 16777216.0) * (1.0 / 16777216.0);
  return uintBitsToFloat(s | floatBitsToUint(q));
}

// a / b rounded to nearest: one correction from the exact remainder fma(-q, b, a).
float div_rn(float a, float b) {
  precise const float q = a / b;
  precise const float r = fma(-q, b, a);
  return fma(r, 1.0 / b, q);
}

// theta reduced into [-pi, pi] by n * 2pi in three parts (Cody-Waite: n * C1 and
// n * C2 are exact for |n| < 2^13), so cos/sin get an argument where their bound holds.
float reduce_2pi(float theta) {
  const float n = roundEven(theta * 0.15915493667125702);
  precise float r = fma(-n, 6.28125, theta);
  r = fma(-n, 1.9350051879882812e-3, r);
  r = fma(-n, 3.019916050561733e-7, r);
  return r;
}
#endif
