#version 450
#extension GL_GOOGLE_include_directive : require
#ifdef SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
// Y[t, r] = sum_c W[r, c] * X[t, c]. One workgroup per (row, tile of TILE tokens):
// each weight block is dequantized once and used for all tokens of the tile
// (n_tokens = 1 is the decode matrix-vector product, more the prefill product).
// Rows go in dispatches of at most 65535 groups (r_off). Threads split the row's blocks; their partials
// are summed by subgroupAdd and one shared slot per subgroup (SUBGROUP, when the device has it) or by a
// shared-memory tree (everywhere).
// INTDOT: X holds the tokens' Q8 blocks (quantize_q8.comp) and each weight block is
// unpacked once to packed signed bytes for integer dot products (intdot.glsl).
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
#ifdef INTDOT
#include "intdot.glsl"
#else
#include "dequant.glsl"
#endif
#define TILE 8u
shared float red[64u * TILE];

void main() {
  const uint r = p.r_off + gl_WorkGroupID.x, t0 = gl_WorkGroupID.y * TILE, tid = gl_LocalInvocationID.x;
  const uint nt = min(TILE, p.n_tokens - t0);
  float acc[TILE];
  for (uint t = 0u; t < TILE; ++t) acc[t] = 0.0;
  const uint base = p.w_off + r * p.row_bytes;
  for (uint b = tid; b < p.cols / BLOCK; b += 64u) {
    const uint boff = base + b * BLOCK_BYTES;
#ifdef INTDOT
    int q[8];
    wquants(boff, q);
    const vec2 dm = wdm(boff);
    for (uint t = 0u; t < nt; ++t) {
      uint a[Q8_WORDS];
      const uint a0 = ((t0 + t) * (p.cols / BLOCK) + b) * Q8_WORDS;
      for (uint i = 0u; i < Q8_WORDS; ++i) a[i] = xq[a0 + i];
      acc[t] += block_dot(q, dm, a);
    }
#else
    for (uint j = 0u; j < BLOCK; ++j) {
      const float w = dq(boff, j);
      const uint c = p.x_off + t0 * p.cols + b * BLOCK + j;
      for (uint t = 0u; t < nt; ++t) acc[t] += w * xr(x[c + t * p.cols]);
    }
#endif
  }
#ifdef SUBGROUP
  for (uint t = 0u; t < TILE; ++t) {
    const float s = subgroupAdd(acc[t]);
    if (subgroupElect()) red[t * 64u + gl_SubgroupID] = s;
  }
  barrier();
  if (tid < nt) {
    float s = 0.0;
    for (uint g = 0u; g < gl_NumSubgroups; ++g) s += red[tid * 64u + g];
    y[p.y_off + (t0 + tid) * p.rows + r] = s;
  }
#else
  for (uint t = 0u; t < TILE; ++t) red[t * 64u + tid] = acc[t];
  barrier();
  for (uint s = 32u; s > 0u; s >>= 1) {
    if (tid < s)
      for (uint t = 0u; t < TILE; ++t) red[t * 64u + tid] += red[t * 64u + tid + s];
    barrier();
  }
  if (tid < nt) y[p.y_off + (t0 + tid) * p.rows + r] = red[tid * 64u];
#endif
}
