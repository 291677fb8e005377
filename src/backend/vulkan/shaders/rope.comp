#version 450
#extension GL_GOOGLE_include_directive : require
// Rotary embedding in place of x [n_tokens, n_heads, head_dim] at positions pos[t]:
// pairs (2i, 2i+1) (normal) or (i, i + n_rot/2) (NeoX) of the first n_rot dims,
// theta = pos * freq_scale * base^(-2i/n_rot) / factor[i] (factor: Llama-3.1
// rope_freqs, or all 1 when has_factors is 0). One invocation per pair.
layout(local_size_x = 64) in;
#include "exact.glsl"
layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Pos { int pos[]; };
layout(std430, binding = 2) readonly buffer F { float factor[]; };
layout(push_constant) uniform P {
  uint n_heads, head_dim, n_rot, neox, has_factors, pos_off; float freq_base, freq_scale;
} p;

void main() {
  const uint half_rot = p.n_rot / 2u;
  const uint i = gl_GlobalInvocationID.x;
  if (i >= half_rot * p.n_heads) return;
  const uint h = i / half_rot, k = i % half_rot, t = gl_WorkGroupID.y;
  // The CPU's order (tensor/ops.cpp rope_inplace, model/cpu_decoder_ops.cpp rope_heads):
  // theta = (freq_scale * pos) * base^(-2k/n_rot), or with factors
  // (freq_scale * base^(-2k/n_rot) / factor) * pos; cos/sin of the reduced angle.
  const float pw = pow(p.freq_base, div_rn(-2.0 * float(k), float(p.n_rot))), fpos = float(pos[p.pos_off + t]);
  precise float theta;
  if (p.has_factors != 0u) theta = div_rn(p.freq_scale * pw, factor[k]) * fpos;
  else theta = (p.freq_scale * fpos) * pw;
  const float r = reduce_2pi(theta);
  const float c = cos(r), s = sin(r);
  const uint base = (t * p.n_heads + h) * p.head_dim;
  const uint a = base + (p.neox != 0u ? k : 2u * k);
  const uint b = a + (p.neox != 0u ? half_rot : 1u);
  const float x0 = x[a], x1 = x[b];
  x[a] = x0 * c - x1 * s;
  x[b] = x0 * s + x1 * c;
}
