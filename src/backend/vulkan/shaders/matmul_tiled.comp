#version 450
#extension GL_GOOGLE_include_directive : require
// Prefill Y[t, r] = sum_c W[r, c] * X[t, c] in shared-memory tiles: a workgroup owns
// 16 rows x 16 tokens and walks the columns 32 at a time, dequantizing its weight
// tile once into shared memory beside the activation tile; each thread then
// accumulates 4 outputs (one row, 4 tokens) from shared memory only.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer W { uint wq[]; };
layout(std430, binding = 1) readonly buffer X { float x[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
  uint cols, rows, n_tokens, row_bytes, w_off, x_off, y_off, r_off;
} p;
#include "dequant.glsl"
#define TR 16u
#define TT 16u
#define TK 32u
shared float ws[TR * TK];
shared float xs[TT * TK];

void main() {
  const uint r0 = p.r_off + gl_WorkGroupID.x * TR, t0 = gl_WorkGroupID.y * TT, tid = gl_LocalInvocationID.x;
  const uint my_r = tid % TR, my_t = (tid / TR) * 4u;  // this thread's row and first of 4 tokens
  float acc[4] = float[4](0.0, 0.0, 0.0, 0.0);
  for (uint k0 = 0u; k0 < p.cols; k0 += TK) {
    for (uint i = tid; i < TR * TK; i += 64u) {
      const uint rr = r0 + i / TK, c = k0 + i % TK;
      ws[i] = (rr < p.rows && c < p.cols)
                  ? dq(p.w_off + rr * p.row_bytes + (c / BLOCK) * BLOCK_BYTES, c % BLOCK)
                  : 0.0;
      const uint tt = t0 + i / TK;
      xs[i] = (tt < p.n_tokens && c < p.cols) ? x[p.x_off + tt * p.cols + c] : 0.0;
    }
    barrier();
    for (uint k = 0u; k < TK; ++k) {
      const float w = ws[my_r * TK + k];
      for (uint j = 0u; j < 4u; ++j) acc[j] += w * xs[(my_t + j) * TK + k];
    }
    barrier();
  }
  const uint r = r0 + my_r;
  for (uint j = 0u; j < 4u; ++j) {
    const uint t = t0 + my_t + j;
    if (r < p.rows && t < p.n_tokens) y[p.y_off + t * p.rows + r] = acc[j];
  }
}
