#version 450
#extension GL_GOOGLE_include_directive : require
// Prefill Y[t, r] = sum_c W[r, c] * X[t, c] in shared-memory tiles: a workgroup owns
// 16 rows x 16 tokens and walks the columns 32 at a time, dequantizing its weight
// tile once into shared memory beside the activation tile; each thread then
// accumulates 4 outputs (one row, 4 tokens) from shared memory only.
// INTDOT: the column step is one 32-element block; the tile holds the weight rows'
// quants unpacked to packed signed bytes with their scales, and the tokens' Q8
// blocks (quantize_q8.comp), multiplied by integer dot products (intdot.glsl).
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer W { uint wq[]; };
#ifdef INTDOT
layout(std430, binding = 1) readonly buffer X { uint xq[]; };
#else
layout(std430, binding = 1) readonly buffer X { float x[]; };
#endif
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
  uint cols, rows, n_tokens, row_bytes, w_off, x_off, y_off, r_off;
} p;
#define TR 16u
#define TT 16u
#define TK 32u
#ifdef INTDOT
#include "intdot.glsl"
shared int ws[TR * 8u];
shared vec2 wds[TR];
shared uint xs[TT * Q8_WORDS];
#else
#include "dequant.glsl"
shared float ws[TR * TK];
shared float xs[TT * TK];
#endif

void main() {
  const uint r0 = p.r_off + gl_WorkGroupID.x * TR, t0 = gl_WorkGroupID.y * TT, tid = gl_LocalInvocationID.x;
  const uint my_r = tid % TR, my_t = (tid / TR) * 4u;  // this thread's row and first of 4 tokens
  float acc[4] = float[4](0.0, 0.0, 0.0, 0.0);
  for (uint k0 = 0u; k0 < p.cols; k0 += TK) {
#ifdef INTDOT
    const uint blk = k0 / BLOCK;
    if (tid < TR) {
      int q[8] = int[8](0, 0, 0, 0, 0, 0, 0, 0);
      vec2 dm = vec2(0.0);
      if (r0 + tid < p.rows) {
        const uint boff = p.w_off + (r0 + tid) * p.row_bytes + blk * BLOCK_BYTES;
        wquants(boff, q);
        dm = wdm(boff);
      }
      for (uint i = 0u; i < 8u; ++i) ws[tid * 8u + i] = q[i];
      wds[tid] = dm;
    }
    for (uint i = tid; i < TT * Q8_WORDS; i += 64u) {
      const uint tt = t0 + i / Q8_WORDS;
      xs[i] = tt < p.n_tokens ? xq[(tt * (p.cols / BLOCK) + blk) * Q8_WORDS + i % Q8_WORDS] : 0u;
    }
    barrier();
    int q[8];
    for (uint i = 0u; i < 8u; ++i) q[i] = ws[my_r * 8u + i];
    for (uint j = 0u; j < 4u; ++j) {
      uint a[Q8_WORDS];
      for (uint i = 0u; i < Q8_WORDS; ++i) a[i] = xs[(my_t + j) * Q8_WORDS + i];
      acc[j] += block_dot(q, wds[my_r], a);
    }
#else
    for (uint i = tid; i < TR * TK; i += 64u) {
      const uint rr = r0 + i / TK, c = k0 + i % TK;
      ws[i] = (rr < p.rows && c < p.cols)
                  ? dq(p.w_off + rr * p.row_bytes + (c / BLOCK) * BLOCK_BYTES, c % BLOCK)
                  : 0.0;
      const uint tt = t0 + i / TK;
      xs[i] = (tt < p.n_tokens && c < p.cols) ? xr(x[p.x_off + tt * p.cols + c]) : 0.0;
    }
    barrier();
    for (uint k = 0u; k < TK; ++k) {
      const float w = ws[my_r * TK + k];
      for (uint j = 0u; j < 4u; ++j) acc[j] += w * xs[(my_t + j) * TK + k];
    }
#endif
    barrier();
  }
  const uint r = r0 + my_r;
  for (uint j = 0u; j < 4u; ++j) {
    const uint t = t0 + my_t + j;
    if (r < p.rows && t < p.n_tokens) y[p.y_off + t * p.rows + r] = acc[j];
  }
}
