// Internal to the model module: the inner kernels of the tiled attention in
// attention.cpp, one set per SIMD level. A query tile is `rows` rows (query
// token x query head) of head_dim values, already multiplied by the softmax
// scale; a key tile holds at most kKeyTile keys, transposed ([head_dim][kKeyTile])
// so one vector load serves every key of a row.
#pragma once
#include <cstdint>

#include "tensor/cpu_features.h"

namespace edgerag::attn {

constexpr int32_t kKeyTile = 16;

struct Kernels {
  // kt [hd][kKeyTile] = the transpose of keys k [n][hd] (n <= kKeyTile), zero past n.
  void (*transpose)(const float* k, int32_t n, int32_t hd, float* kt);
  // Scores of the query rows q [rows][hd] against kt, keys j >= lim[r] masked
  // out (lim[r] may be 0); online-softmax update of the running maximum m[r]
  // and sum l[r]; writes p [rows][kKeyTile] (probabilities under the new
  // maximum, 0 for masked keys) and f[r], the factor that rescales what was
  // accumulated under the old maximum.
  void (*scores)(const float* q, int32_t rows, int32_t hd, const float* kt, const int32_t* lim, float* m, float* l,
                 float* p, float* f);
  // o[r] = o[r] * f[r] + sum_{j < n} p[r][j] v[j], with v [n][hd] and o [rows][hd].
  void (*accumulate)(const float* p, const float* f, int32_t rows, int32_t hd, const float* v, int32_t n, float* o);
};

// The kernels for a level; the SIMD ones need head_dim % 8 == 0 (else scalar).
const Kernels& kernels_for(Isa isa, int32_t head_dim);

const Kernels& scalar_kernels();
const Kernels& avx2_kernels();
const Kernels& avx512_kernels();

}  // namespace edgerag::attn
