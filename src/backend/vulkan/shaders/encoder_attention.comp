#version 450
// Non-causal attention of token t, head h over the keys of its own input (inputs
// packed back to back), one workgroup per (h, t): keys j in [lo[t], hi[t]), and
// with half_window >= 0 only |t - j| <= half_window (ModernBERT's local layers).
// Q, K, V and out are [tokens, n_head * head_dim]. Online softmax over key tiles
// of 64, as attention.comp (head_dim <= 256).
// info: lo[lo_off + t], hi[lo_off + n_tokens + t] (absolute token rows).
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer K { float k[]; };
layout(std430, binding = 2) readonly buffer V { float v[]; };
layout(std430, binding = 3) writeonly buffer O { float o[]; };
layout(std430, binding = 4) readonly buffer Info { int info[]; };
layout(push_constant) uniform P { uint n_head, head_dim, n_tokens, lo_off; int half_window; float scale; } p;
shared float qs[256];
shared float ps[64];

void main() {
  const uint h = gl_WorkGroupID.x, t = gl_WorkGroupID.y, tid = gl_LocalInvocationID.x;
  const uint HD = p.head_dim, E = p.n_head * HD;
  int lo = info[p.lo_off + t], hi = info[p.lo_off + p.n_tokens + t];
  if (p.half_window >= 0) {
    lo = max(lo, int(t) - p.half_window);
    hi = min(hi, int(t) + p.half_window + 1);
  }
  const uint first = uint(lo), n_keys = uint(hi - lo);
  for (uint d = tid; d < HD; d += 64u) qs[d] = q[t * E + h * HD + d];
  barrier();
  float m = -1.0 / 0.0, l = 0.0;
  float acc[4] = float[4](0.0, 0.0, 0.0, 0.0);
  for (uint j0 = 0u; j0 < n_keys; j0 += 64u) {
    const uint j = j0 + tid;
    float s = -1.0 / 0.0;
    if (j < n_keys) {
      const uint kb = (first + j) * E + h * HD;
      float dot = 0.0;
      for (uint d = 0u; d < HD; ++d) dot += qs[d] * k[kb + d];
      s = dot * p.scale;
    }
    ps[tid] = s;
    barrier();
    float tmax = m;
    for (uint i = 0u; i < 64u; ++i) tmax = max(tmax, ps[i]);
    const float corr = exp(m - tmax);  // 0 on the first tile (m = -inf)
    barrier();
    ps[tid] = exp(s - tmax);  // 0 past the last key
    barrier();
    const uint nk = min(64u, n_keys - j0);
    float tsum = 0.0;
    for (uint i = 0u; i < nk; ++i) tsum += ps[i];
    l = l * corr + tsum;
    for (uint i = 0u; i < 4u; ++i) {
      const uint d = tid + 64u * i;
      if (d >= HD) break;
      float a = acc[i] * corr;
      for (uint kk = 0u; kk < nk; ++kk) a += ps[kk] * v[(first + j0 + kk) * E + h * HD + d];
      acc[i] = a;
    }
    m = tmax;
    barrier();
  }
  for (uint i = 0u; i < 4u; ++i) {
    const uint d = tid + 64u * i;
    if (d < HD) o[t * E + h * HD + d] = acc[i] / l;
  }
}
