#version 450
// y[r, :] = x[r, :] / sqrt(mean(x[r, :]^2) + eps) * w, one workgroup per row of n.
// Rows of a head (qwen3's per-head Q/K norm) are rows of n = head_dim. In place is allowed.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) buffer Y { float y[]; };
layout(push_constant) uniform P { uint row_off, n; float eps; } p;
shared float red[64];

void main() {
  const uint base = (p.row_off + gl_WorkGroupID.x) * p.n, tid = gl_LocalInvocationID.x;
  float s = 0.0;
  for (uint i = tid; i < p.n; i += 64u) s += x[base + i] * x[base + i];
  red[tid] = s;
  barrier();
  for (uint k = 32u; k > 0u; k >>= 1) {
    if (tid < k) red[tid] += red[tid + k];
    barrier();
  }
  const float scale = 1.0 / sqrt(red[0] / float(p.n) + p.eps);
  for (uint i = tid; i < p.n; i += 64u) y[base + i] = x[base + i] * scale * w[i];
}
