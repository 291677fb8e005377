#version 450
// Stores the batch's K and V rows of one layer into the paged KV pool.
// Pool layout (F32, like the CPU cache's rows): [block][layer][K|V][kv_head][slot][head_dim].
// info[blk_off + t] / info[slot_off + t]: block and slot of batch token t.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer K { float k[]; };
layout(std430, binding = 1) readonly buffer V { float v[]; };
layout(std430, binding = 2) writeonly buffer Pool { float pool[]; };
layout(std430, binding = 3) readonly buffer Info { int info[]; };
layout(push_constant) uniform P {
  uint n_kv, head_dim, block_size, layer, n_layer, blk_off, slot_off;
} p;

void main() {
  const uint t = gl_WorkGroupID.y, row = p.n_kv * p.head_dim;
  const uint i = gl_GlobalInvocationID.x;
  if (i >= row) return;
  const uint h = i / p.head_dim, d = i % p.head_dim;
  const uint part = p.block_size * p.head_dim;
  const uint blk = uint(info[p.blk_off + t]), slot = uint(info[p.slot_off + t]);
  const uint kpart = ((blk * p.n_layer + p.layer) * 2u * p.n_kv + h) * part + slot * p.head_dim + d;
  pool[kpart] = k[t * row + i];
  pool[kpart + p.n_kv * part] = v[t * row + i];
}
