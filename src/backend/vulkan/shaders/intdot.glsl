// Integer-dot block products for the int-dot matmul shaders (INTDOT): a 32-element
// weight block's quants as 8 words of 4 signed bytes, dotted with a Q8 activation
// block (quantize_q8.comp) by OpSDot on 4x8-bit packed words
// (VK_KHR_shader_integer_dot_product; declared through GL_EXT_spirv_intrinsics
// since Debian bookworm's glslc lacks GL_EXT_integer_dot_product). The block's
// value is isum * (d_w * d_x) + m_w * s_x, as the CPU's dot_q32_row computes it.
// The including shader defines one TYPE_* of Q8_0, Q4_0, Q4_1 and the buffer `wq`.
#extension GL_EXT_spirv_intrinsics : require
#include "dequant.glsl"

// OpSDot (4450); format 0 = PackedVectorFormat4x8Bit. Capabilities DotProductKHR
// (6018) and DotProductInput4x8BitPackedKHR (6019).
spirv_instruction(extensions = ["SPV_KHR_integer_dot_product"], capabilities = [6019, 6018], id = 4450)
int sdot(int a, int b, spirv_literal int fmt);

#define Q8_WORDS 10u  // words per activation block: d, s (floats), 32 quants 4 to a word

// 4 bytes at a 2-byte-aligned offset (every block field here is).
uint w32(uint off) {
  const uint i = off >> 2;
  return (off & 2u) == 0u ? wq[i] : (wq[i] >> 16) | (wq[i + 1u] << 16);
}

#if defined(TYPE_Q8_0)
void wquants(uint b, out int q[8]) {
  for (uint i = 0u; i < 8u; ++i) q[i] = int(w32(b + 2u + 4u * i));
}
vec2 wdm(uint b) { return vec2(f16(b), 0.0); }
#elif defined(TYPE_Q4_0) || defined(TYPE_Q4_1)
#if defined(TYPE_Q4_0)
#define QS 2u
// Each byte's nibble 0..15 becomes nibble - 8: + 0x78 stays inside the byte,
// ^ 0x80 turns 0x78..0x87 into the signed bytes -8..7.
uint nibbles(uint v) { return ((v & 0x0F0F0F0Fu) + 0x78787878u) ^ 0x80808080u; }
vec2 wdm(uint b) { return vec2(f16(b), 0.0); }
#else
#define QS 4u
uint nibbles(uint v) { return v & 0x0F0F0F0Fu; }
vec2 wdm(uint b) { return vec2(f16(b), f16(b + 2u)); }
#endif
// Elements 0..15 are the low nibbles of the 16 quant bytes, 16..31 the high ones.
void wquants(uint b, out int q[8]) {
  for (uint i = 0u; i < 4u; ++i) {
    const uint v = w32(b + QS + 4u * i);
    q[i] = int(nibbles(v));
    q[i + 4u] = int(nibbles(v >> 4));
  }
}
#else
#error "no int-dot kernel for this TYPE_*"
#endif

// One weight block (quants q, scale and min dm) times activation block a.
float block_dot(const int q[8], const vec2 dm, const uint a[Q8_WORDS]) {
  int s = 0;
  for (uint i = 0u; i < 8u; ++i) s += sdot(q[i], int(a[2u + i]), 0);
  return float(s) * (dm.x * uintBitsToFloat(a[0])) + dm.y * uintBitsToFloat(a[1]);
}
