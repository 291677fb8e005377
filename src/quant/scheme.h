// How one group of weights is coded in a storage type: every quantizer (RTN,
// HQQ, GPTQ, AWQ) picks per-group parameters and integer codes through this
// interface and packs them into standard GGUF blocks (Q8_0, Q4_0, Q4_1, Q5_0,
// Q5_1) or edgerag types (tensor/edgerag_types.h).
//
// Every scheme dequantizes as w = d * level(q) + m, where level(q) = q for the
// uniform types and the NormalFloat-4 table for ER_NF4; symmetric schemes tie
// the offset to the scale (m = -zero * d).
#pragma once
#include <cstdint>
#include <string>

#include "tensor/dtype.h"

namespace edgerag::quant {

struct GroupParams {
  float d = 0;      // scale
  float m = 0;      // offset
  float step = -1;  // bilevel types: the block's step D of scales (block_step); -1: not set
};

struct Scheme {
  DType type = DType::Q8_0;
  int bits = 8;
  int group = 32;
  bool asymmetric = false;
  bool nf4 = false;
  int zero = 128;  // code of the value 0 in symmetric schemes
  int block = 0;   // bilevel types (ER_Q3_G16_BL): weights whose group statistics share one step D

  bool bilevel() const { return block > 0; }

  // The scheme of a storage type. `asymmetric` matters only where the type
  // stores a free offset (Q4_1, Q5_1, ER_Q*): it may still be coded symmetric.
  static Scheme of(DType type, bool asymmetric = true);

  int qmax() const { return (1 << bits) - 1; }
  float level(int q) const;
  float value(uint8_t q, GroupParams p) const { return p.d * level(q) + p.m; }
  uint8_t code(float x, GroupParams p) const;  // nearest code
  // Rounds (d, m) to what the storage holds (fp16) and re-ties m for symmetric schemes;
  // bilevel: to the 3-bit scale and zero codes under p.step (which must be set).
  GroupParams stored(GroupParams p) const;
  // Bilevel: sets the step D of each block of n_groups consecutive fitted (not yet
  // stored) groups from their scales (q3bl_step); no-op for other schemes.
  void share_steps(GroupParams* params, int64_t n_groups) const;
  // Round-to-nearest parameters of a group: min/max (asymmetric), signed absmax
  // mapped to the most negative code (symmetric, as llama.cpp does), absmax (NF4);
  // bilevel: min/max with 0 inside the range, so that the zero is a code point.
  GroupParams fit(const float* w, int n) const;

  // Packs one row of n codes with its n / group (stored) parameters into the type's blocks.
  void pack(const uint8_t* codes, const GroupParams* params, int64_t n, void* dst) const;
  std::string describe() const;
};

// Storage type for `bits` and `group`: standard blocks where they fit (8 -> Q8_0,
// 4/5-bit group 32 -> Q4_0/Q4_1/Q5_0/Q5_1), else an edgerag type. nf4 -> ER_NF4
// (or ER_NF4_DQ with double quantization), 3-bit group 16 -> ER_Q3_G16_BL (bilevel).
// Throws for unsupported combinations.
DType storage_type(int bits, int group, bool asymmetric, bool nf4 = false, bool double_quant = false);

}  // namespace edgerag::quant
