#version 450
// Causal attention of batch token t, query head h over its sequence's paged KV
// (positions 0..pos[t]), one workgroup per (h, t). Keys go in tiles of 64, one
// per thread; the tile's scores update an online softmax (running max m and sum
// l rescaled by exp(m_old - m_new)), and each thread accumulates its output
// dims (d = tid + 64 i, head_dim <= 256) over the tile's values.
// info: pos[pos_off + t], start of t's block table in info: info[tab_off + t].
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer Q { float q[]; };
layout(std430, binding = 1) readonly buffer Pool { float pool[]; };
layout(std430, binding = 2) writeonly buffer O { float o[]; };
layout(std430, binding = 3) readonly buffer Info { int info[]; };
layout(push_constant) uniform P {
  uint n_head, n_kv, head_dim, block_size, layer, n_layer, pos_off, tab_off; float scale;
} p;
shared float qs[256];
shared float ps[64];
shared uint vbase[64];

void main() {
  const uint h = gl_WorkGroupID.x, t = gl_WorkGroupID.y, tid = gl_LocalInvocationID.x;
  const uint HD = p.head_dim, kvh = h / (p.n_head / p.n_kv), part = p.block_size * HD;
  const uint n_keys = uint(info[p.pos_off + t]) + 1u, tab = uint(info[p.tab_off + t]);
  for (uint d = tid; d < HD; d += 64u) qs[d] = q[(t * p.n_head + h) * HD + d];
  barrier();
  float m = -1.0 / 0.0, l = 0.0;
  float acc[4] = float[4](0.0, 0.0, 0.0, 0.0);
  for (uint j0 = 0u; j0 < n_keys; j0 += 64u) {
    const uint j = j0 + tid;
    float s = -1.0 / 0.0;
    if (j < n_keys) {
      const uint blk = uint(info[tab + j / p.block_size]);
      const uint kb = ((blk * p.n_layer + p.layer) * 2u * p.n_kv + kvh) * part + (j % p.block_size) * HD;
      float dot = 0.0;
      for (uint d = 0u; d < HD; ++d) dot += qs[d] * pool[kb + d];
      s = dot * p.scale;
      vbase[tid] = kb + p.n_kv * part;
    }
    ps[tid] = s;
    barrier();
    float tmax = m;
    for (uint k = 0u; k < 64u; ++k) tmax = max(tmax, ps[k]);
    const float corr = exp(m - tmax);  // 0 on the first tile (m = -inf)
    barrier();
    ps[tid] = exp(s - tmax);  // 0 past the last key
    barrier();
    const uint nk = min(64u, n_keys - j0);
    float tsum = 0.0;
    for (uint k = 0u; k < nk; ++k) tsum += ps[k];
    l = l * corr + tsum;
    for (uint i = 0u; i < 4u; ++i) {
      const uint d = tid + 64u * i;
      if (d >= HD) break;
      float a = acc[i] * corr;
      for (uint k = 0u; k < nk; ++k) a += ps[k] * pool[vbase[k] + d];
      acc[i] = a;
    }
    m = tmax;
    barrier();
  }
  for (uint i = 0u; i < 4u; ++i) {
    const uint d = tid + 64u * i;
    if (d < HD) o[(t * p.n_head + h) * HD + d] = acc[i] / l;
  }
}
