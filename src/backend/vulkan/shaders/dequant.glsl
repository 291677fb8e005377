// Dequantization of one element of a GGUF block, read from a uint[] buffer named
// `wq` through byte offsets (blocks are not 4-byte aligned). The including shader
// defines one TYPE_*; this sets BLOCK (elements per block), BLOCK_BYTES and
// dq(block_offset_in_bytes, j), the element j of that block as a float, and
// xr(v), an activation as the CPU's matmul converts it for this weight type.
// Layouts as in ggml (tensor/dtype.h); tests compare with dequantize_row.

#include "exact.glsl"

uint u8(uint off) { return (wq[off >> 2] >> ((off & 3u) * 8u)) & 0xFFu; }
int i8(uint off) { return int(u8(off) << 24) >> 24; }
float f16(uint off) { return unpackHalf2x16(u8(off) | (u8(off + 1u) << 8)).x; }

// F16 / BF16 weights: the CPU rounds the activations to that type (ggml's vec_dot
// partners, round-to-nearest-even), so GPU layers round them too and agree with CPU
// layers; the quantized types' float kernels take them as they are.
#if defined(TYPE_F16)
float xr(float v) { return f16_rne(v); }
#elif defined(TYPE_BF16)
float xr(float v) {
  const uint u = floatBitsToUint(v);
  return uintBitsToFloat((u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u);
}
#else
float xr(float v) { return v; }
#endif

#if defined(TYPE_F32)
#define BLOCK 1u
#define BLOCK_BYTES 4u
float dq(uint b, uint j) { return uintBitsToFloat(wq[b >> 2]); }
#elif defined(TYPE_F16)
#define BLOCK 1u
#define BLOCK_BYTES 2u
float dq(uint b, uint j) { return f16(b); }
#elif defined(TYPE_BF16)
// A bf16 is the top half of an f32: widened exactly by a shift, with no device
// feature needed (bf16 arithmetic extensions would only speed up the products).
#define BLOCK 1u
#define BLOCK_BYTES 2u
float dq(uint b, uint j) { return uintBitsToFloat((u8(b) | (u8(b + 1u) << 8)) << 16); }
#elif defined(TYPE_Q8_0)
#define BLOCK 32u
#define BLOCK_BYTES 34u
float dq(uint b, uint j) { return f16(b) * float(i8(b + 2u + j)); }
#elif defined(TYPE_Q4_0)
#define BLOCK 32u
#define BLOCK_BYTES 18u
float dq(uint b, uint j) {
  const uint q = u8(b + 2u + (j & 15u));
  return f16(b) * (float(j < 16u ? (q & 15u) : (q >> 4)) - 8.0);
}
#elif defined(TYPE_Q4_1)
#define BLOCK 32u
#define BLOCK_BYTES 20u
float dq(uint b, uint j) {
  const uint q = u8(b + 4u + (j & 15u));
  return f16(b) * float(j < 16u ? (q & 15u) : (q >> 4)) + f16(b + 2u);
}
#elif defined(TYPE_Q4_K) || defined(TYPE_Q5_K)
#define BLOCK 256u
// 6-bit scale and min of sub-block s (ggml's get_scale_min_k4); sc at byte b + 4.
vec2 scale_min(uint b, uint s) {
  const uint sc = b + 4u;
  if (s < 4u) return vec2(float(u8(sc + s) & 63u), float(u8(sc + s + 4u) & 63u));
  return vec2(float((u8(sc + s + 4u) & 15u) | ((u8(sc + s - 4u) >> 6) << 4)),
              float((u8(sc + s + 4u) >> 4) | ((u8(sc + s) >> 6) << 4)));
}
#if defined(TYPE_Q4_K)
#define BLOCK_BYTES 144u
float dq(uint b, uint j) {
  const uint g = j >> 6, hi = (j >> 5) & 1u, l = j & 31u;
  const uint q = (u8(b + 16u + 32u * g + l) >> (4u * hi)) & 15u;
  const vec2 sm = scale_min(b, 2u * g + hi);
  return f16(b) * sm.x * float(q) - f16(b + 2u) * sm.y;
}
#else
#define BLOCK_BYTES 176u
float dq(uint b, uint j) {
  const uint g = j >> 6, hi = (j >> 5) & 1u, l = j & 31u;
  const uint q = ((u8(b + 48u + 32u * g + l) >> (4u * hi)) & 15u) + 16u * ((u8(b + 16u + l) >> (2u * g + hi)) & 1u);
  const vec2 sm = scale_min(b, 2u * g + hi);
  return f16(b) * sm.x * float(q) - f16(b + 2u) * sm.y;
}
#endif
#elif defined(TYPE_Q6_K)
#define BLOCK 256u
#define BLOCK_BYTES 210u
float dq(uint b, uint j) {
  const uint n = j >> 7, quarter = (j >> 5) & 3u, l = j & 31u;
  const uint ql = u8(b + 64u * n + l + 32u * (quarter & 1u)) >> (4u * (quarter >> 1));
  const uint qh = u8(b + 128u + 32u * n + l) >> (2u * quarter);
  const int q = int((ql & 15u) | ((qh & 3u) << 4)) - 32;
  return f16(b + 208u) * float(i8(b + 192u + 8u * n + l / 16u + 2u * quarter)) * float(q);
}
#else
#error "no TYPE_* defined"
#endif
