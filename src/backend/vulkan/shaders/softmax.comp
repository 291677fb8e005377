#version 450
// Softmax of each row of n values in place, one workgroup per row.
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer X { float x[]; };
layout(push_constant) uniform P { uint row_off, n; } p;
shared float red[64];

void main() {
  const uint base = (p.row_off + gl_WorkGroupID.x) * p.n, tid = gl_LocalInvocationID.x;
  float m = -1.0 / 0.0;
  for (uint i = tid; i < p.n; i += 64u) m = max(m, x[base + i]);
  red[tid] = m;
  barrier();
  for (uint k = 32u; k > 0u; k >>= 1) {
    if (tid < k) red[tid] = max(red[tid], red[tid + k]);
    barrier();
  }
  m = red[0];
  barrier();
  float s = 0.0;
  for (uint i = tid; i < p.n; i += 64u) {
    const float e = exp(x[base + i] - m);
    x[base + i] = e;
    s += e;
  }
  red[tid] = s;
  barrier();
  for (uint k = 32u; k > 0u; k >>= 1) {
    if (tid < k) red[tid] += red[tid + k];
    barrier();
  }
  const float inv = 1.0 / red[0];
  for (uint i = tid; i < p.n; i += 64u) x[base + i] *= inv;
}
