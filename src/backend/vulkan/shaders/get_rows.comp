#version 450
#extension GL_GOOGLE_include_directive : require
// out[t, :] = row ids[t] of a typed matrix as floats (embedding lookup).
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer W { uint wq[]; };
layout(std430, binding = 1) readonly buffer Ids { int ids[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint cols, row_bytes, n_tokens, ids_off; } p;
#include "dequant.glsl"

void main() {
  const uint t = gl_WorkGroupID.y;
  const uint base = uint(ids[p.ids_off + t]) * p.row_bytes;
  for (uint c = gl_GlobalInvocationID.x; c < p.cols; c += gl_NumWorkGroups.x * 64u)
    y[t * p.cols + c] = dq(base + (c / BLOCK) * BLOCK_BYTES, c % BLOCK);
}
