#include "rag/int8_codes.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace edgerag::rag {

void int8_encode(const float* v, size_t dim, void* out) {
  float amax = 0;
  for (size_t i = 0; i < dim; ++i) amax = std::max(amax, std::fabs(v[i]));
  const float scale = amax > 0 ? amax / 127.0f : 1.0f;
  const float inv = 1.0f / scale;
  auto* bytes = static_cast<unsigned char*>(out);
  std::memcpy(bytes, &scale, sizeof scale);
  auto* codes = reinterpret_cast<int8_t*>(bytes + sizeof scale);
  for (size_t i = 0; i < dim; ++i)
    codes[i] = static_cast<int8_t>(std::clamp(std::lround(v[i] * inv), -127L, 127L));
}

float int8_dot(const void* a, const void* b, size_t dim) {
  float sa = 0, sb = 0;
  std::memcpy(&sa, a, sizeof sa);
  std::memcpy(&sb, b, sizeof sb);
  const auto* ca = reinterpret_cast<const int8_t*>(static_cast<const unsigned char*>(a) + sizeof sa);
  const auto* cb = reinterpret_cast<const int8_t*>(static_cast<const unsigned char*>(b) + sizeof sb);
  // |code| <= 127, so 16-bit products summed in int32 cannot overflow below 2^17 dimensions;
  // the plain loop vectorizes (pmaddwd) at the baseline ISA.
  int32_t sum = 0;
  for (size_t i = 0; i < dim; ++i) sum += static_cast<int16_t>(ca[i]) * static_cast<int16_t>(cb[i]);
  return sa * sb * static_cast<float>(sum);
}

float int8_distance(const void* a, const void* b, const void* dim) {
  return 1.0f - int8_dot(a, b, *static_cast<const size_t*>(dim));
}

}  // namespace edgerag::rag
