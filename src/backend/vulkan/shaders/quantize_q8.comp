#version 450
#extension GL_GOOGLE_include_directive : require
// Activations to Q8 blocks for the int-dot matmuls, as the CPU's quantize_activations
// (ggml's x86 quantizers): per 32 floats d = amax / 127, q = round-half-even(x * 127 / amax),
// s = d * sum(q) (the block sum that Q4_1's min needs), d and s rounded through F16 as
// the CPU stores them, so a GPU layer computes what a CPU layer does up to float
// summation order (--gpu-layers splits). Block k of the tokens' rows (cols a multiple
// of 32) goes to words [10k, 10k + 10): d, s, then the quants 4 to a word.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Q { uint q[]; };
layout(push_constant) uniform P {
  uint n_blocks, x_off;
} p;

#include "exact.glsl"

void main() {
  for (uint k = gl_GlobalInvocationID.x; k < p.n_blocks; k += gl_NumWorkGroups.x * 64u) {
    const uint x0 = p.x_off + k * 32u;
    float amax = 0.0;
    for (uint j = 0u; j < 32u; ++j) amax = max(amax, abs(x[x0 + j]));
    const float d = div_rn(amax, 127.0), id = amax != 0.0 ? div_rn(127.0, amax) : 0.0;
    int sum = 0;
    for (uint w = 0u; w < 8u; ++w) {
      uint packed = 0u;
      for (uint j = 0u; j < 4u; ++j) {
        const int v = int(roundEven(x[x0 + 4u * w + j] * id));
        sum += v;
        packed |= uint(v & 0xFF) << (8u * j);
      }
      q[k * 10u + 2u + w] = packed;
    }
    q[k * 10u] = floatBitsToUint(f16_rne(d));
    q[k * 10u + 1u] = floatBitsToUint(f16_rne(d * float(sum)));
  }
}
