#version 450
// y[r, :] = (x[r, :] - mean) / sqrt(var + eps) * w + b, one workgroup per row of n
// (two passes over the row: the mean, then the variance around it, as the CPU does).
// has_bias = 0 binds w as b and adds nothing. In place is allowed.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer Wt { float w[]; };
layout(std430, binding = 2) readonly buffer B { float b[]; };
layout(std430, binding = 3) buffer Y { float y[]; };
layout(push_constant) uniform P { uint row_off, n, has_bias; float eps; } p;
shared float red[64];

float row_sum(float s) {
  const uint tid = gl_LocalInvocationID.x;
  red[tid] = s;
  barrier();
  for (uint k = 32u; k > 0u; k >>= 1) {
    if (tid < k) red[tid] += red[tid + k];
    barrier();
  }
  const float total = red[0];
  barrier();  // red is reused by the next reduction
  return total;
}

void main() {
  const uint base = (p.row_off + gl_WorkGroupID.x) * p.n, tid = gl_LocalInvocationID.x;
  float s = 0.0;
  for (uint i = tid; i < p.n; i += 64u) s += x[base + i];
  const float mean = row_sum(s) / float(p.n);
  float v = 0.0;
  for (uint i = tid; i < p.n; i += 64u) v += (x[base + i] - mean) * (x[base + i] - mean);
  const float scale = 1.0 / sqrt(row_sum(v) / float(p.n) + p.eps);
  for (uint i = tid; i < p.n; i += 64u)
    y[base + i] = (x[base + i] - mean) * scale * w[i] + (p.has_bias != 0u ? b[i] : 0.0);
}
