// Internal to the model module: the inner kernels of the tiled attention in
// attention.cpp, one set per SIMD level. A query tile is `rows` rows (query
// token x query head) of head_dim values, already multiplied by the softmax
// scale; a key tile holds at most kKeyTile keys, transposed ([head_dim][kKeyTile])
// so one vector load serves every key of a row. Key tiles and value rows are
// F32, or F16 read in place from an F16 cache (model/kv_cache.h stores keys in
// this layout) and widened exactly as they are loaded.
//
// A call takes up to kMaxKeyTiles consecutive key tiles of a sequence so that
// a register tile of several rows and tiles loads each query element once for
// all the tiles. Every row performs exactly the operations of one-row,
// one-tile calls made in turn: a row's result never depends on how many other
// rows or tiles share its call (chunk KV reuse relies on that bit identity).
#pragma once
#include <cstdint>

#include "model/kv_cache.h"
#include "tensor/cpu_features.h"

namespace edgerag::attn {

constexpr int32_t kKeyTile = kKvKeyTile;
constexpr int32_t kMaxKeyTiles = 2;

// Scores and value products over key tiles and value rows of element type T
// (float, or uint16_t: F16).
template <typename T>
struct TileKernels {
  // For each of `tiles` key tiles t in order (kt[t] [hd][kKeyTile]): the
  // scores of the query rows q [rows][hd] against tile t, keys j >=
  // lim[t][r] masked out (lim[t][r] may be 0; a masked key's elements are
  // never part of a result, whatever they hold); online-softmax update of the
  // running maximum m[r] and sum l[r]; writes p [t][rows][kKeyTile]
  // (probabilities under the new maximum, 0 for masked keys) and f[t][r], the
  // factor that rescales what was accumulated under the old maximum.
  void (*scores)(const float* q, int32_t rows, int32_t hd, const T* const* kt, int32_t tiles, const int32_t* lim,
                 float* m, float* l, float* p, float* f);
  // For each tile t in order: o[r] = o[r] * f[t][r] + sum_{j < n[t]} p[t][r][j] v[t][j],
  // with v[t] [n[t]][hd] and o [rows][hd].
  void (*accumulate)(const float* p, const float* f, int32_t rows, int32_t hd, const T* const* v, const int32_t* n,
                     int32_t tiles, float* o);
};

struct Kernels {
  // kt [hd][kKeyTile] = the transpose of keys k [n][hd] (n <= kKeyTile), zero past n.
  void (*transpose)(const float* k, int32_t n, int32_t hd, float* kt);
  TileKernels<float> f32;
  TileKernels<uint16_t> f16;
};

// The kernels for a level; the SIMD ones need head_dim % 8 == 0 (else scalar).
const Kernels& kernels_for(Isa isa, int32_t head_dim);

const Kernels& scalar_kernels();
const Kernels& avx2_kernels();
const Kernels& avx512_kernels();

}  // namespace edgerag::attn
