// Tensor element types and the GGUF/ggml quantization block layouts.
// Numeric ids and byte layouts follow the published GGUF specification so files
// from the usual model hubs load unchanged; values >= 64 are edgerag's own types
// (see docs/FORMATS.md).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace edgerag {

enum class DType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, BF16 = 30,
  // edgerag types (tensor/edgerag_types.h, docs/FORMATS.md)
  ER_NF4 = 64, ER_NF4_DQ = 65, ER_Q4_G64 = 66, ER_Q4_G128 = 67, ER_Q3_G32 = 68, ER_Q3_G64 = 69,
  ER_Q3_G128 = 70, ER_Q2_G32 = 71, ER_Q2_G64 = 72, ER_Q2_G128 = 73, ER_Q3_G16_BL = 74,
};
constexpr uint32_t kDTypeIdEnd = 75;  // one past the largest id

constexpr int QK4_0 = 32, QK4_1 = 32, QK5_0 = 32, QK5_1 = 32, QK8_0 = 32, QK8_1 = 32, QK_K = 256;
constexpr int K_SCALE_SIZE = 12;

#pragma pack(push, 1)
struct BlockQ4_0 { uint16_t d; uint8_t qs[QK4_0 / 2]; };
struct BlockQ4_1 { uint16_t d, m; uint8_t qs[QK4_1 / 2]; };
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; };
struct BlockQ5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; };
struct BlockQ8_0 { uint16_t d; int8_t qs[QK8_0]; };
struct BlockQ8_1 { uint16_t d, s; int8_t qs[QK8_1]; };
struct BlockQ4_K { uint16_t d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qs[QK_K / 2]; };
struct BlockQ5_K { uint16_t d, dmin; uint8_t scales[K_SCALE_SIZE]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; };
struct BlockQ6_K { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; };
struct BlockQ8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };
#pragma pack(pop)

static_assert(sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20 && sizeof(BlockQ5_0) == 22 &&
              sizeof(BlockQ5_1) == 24 && sizeof(BlockQ8_0) == 34 && sizeof(BlockQ8_1) == 36 &&
              sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210 &&
              sizeof(BlockQ8_K) == 292);

struct DTypeTraits {
  const char* name;
  int block_size;      // elements per block (1 for plain types)
  size_t type_size;    // bytes per block
  bool supported;      // can be dequantized / multiplied by edgerag
};

// Traits of a type id; unknown ids return {"unknown", 0, 0, false}.
const DTypeTraits& dtype_traits(DType t);
inline const char* dtype_name(DType t) { return dtype_traits(t).name; }
bool dtype_from_name(std::string_view name, DType* out);  // case-insensitive "q4_0", "F16", ...

// Bytes of a row of n elements (n must be a multiple of the block size).
size_t row_size(DType t, int64_t n);

// Scalar reference conversions of one row of n elements (n a multiple of the block size).
void dequantize_row(DType t, const void* src, float* dst, int64_t n);
// Reference quantizers for the types the engine writes itself. Throws for others.
void quantize_row(DType t, const float* src, void* dst, int64_t n);

}  // namespace edgerag
