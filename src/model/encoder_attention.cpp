#include "model/encoder_attention.h"

#include <algorithm>
#include <cmath>

#include "tensor/ops.h"

namespace edgerag {

void encoder_attention(const float* q, const float* k, const float* v, int64_t stride,
                       const std::vector<int64_t>& start, int64_t n_head, int64_t head_dim, int64_t half_window,
                       float* out, ThreadPool* pool) {
  constexpr int64_t kTile = 64;  // queries per score block
  const int64_t H = n_head, D = head_dim, E = H * D;
  const size_t n_inputs = start.size() - 1;
  int64_t max_len = 0;
  for (size_t s = 0; s < n_inputs; ++s) max_len = std::max(max_len, start[s + 1] - start[s]);
  const float scale = 1.0f / std::sqrt(static_cast<float>(D));
  const int n_workers = pool ? pool->size() : 1;
  // Per worker: the head's scaled Q and K [len, D], a V^T panel [D, <= len],
  // scores [kTile, <= len] and a tile of output [kTile, D].
  std::vector<std::vector<float>> scratch(n_workers,
                                          std::vector<float>(3 * max_len * D + kTile * max_len + kTile * D));

  auto job = [&](int worker, size_t j0, size_t j1) {
    for (size_t j = j0; j < j1; ++j) {
      const size_t s = j / static_cast<size_t>(H);
      const int64_t h = static_cast<int64_t>(j % H), s0 = start[s], n = start[s + 1] - s0;
      float* qh = scratch[worker].data();
      float* kh = qh + n * D;
      float* vt = kh + n * D;
      float* p = vt + n * D;
      float* oh = p + kTile * n;
      for (int64_t i = 0; i < n; ++i)
        for (int64_t d = 0; d < D; ++d) {
          const int64_t src = (s0 + i) * stride + h * D + d;
          qh[i * D + d] = q[src] * scale;
          kh[i * D + d] = k[src];
        }
      int64_t panel_lo = -1, panel_hi = -1;
      for (int64_t i0 = 0; i0 < n; i0 += kTile) {
        const int64_t rows = std::min(kTile, n - i0);
        // Keys any query of the tile may see.
        const int64_t lo = half_window < 0 ? 0 : std::max<int64_t>(0, i0 - half_window);
        const int64_t hi = half_window < 0 ? n : std::min(n, i0 + rows + half_window);
        const int64_t w = hi - lo;
        if (lo != panel_lo || hi != panel_hi) {  // global layers build the panel once
          for (int64_t d = 0; d < D; ++d)
            for (int64_t c = lo; c < hi; ++c) vt[d * w + (c - lo)] = v[(s0 + c) * stride + h * D + d];
          panel_lo = lo, panel_hi = hi;
        }
        matmul(Matrix::of(DType::F32, D, w, kh + lo * D), qh + i0 * D, rows, p, nullptr);
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t i = i0 + r;
          const int64_t a = half_window < 0 ? lo : std::max(lo, i - half_window);
          const int64_t b = half_window < 0 ? hi : std::min(hi, i + half_window + 1);
          float* row = p + r * w;
          std::fill(row, row + (a - lo), 0.0f);
          softmax_inplace(row + (a - lo), b - a);
          std::fill(row + (b - lo), row + w, 0.0f);
        }
        matmul(Matrix::of(DType::F32, w, D, vt), p, rows, oh, nullptr);
        for (int64_t r = 0; r < rows; ++r) std::copy(oh + r * D, oh + (r + 1) * D, out + (s0 + i0 + r) * E + h * D);
      }
    }
  };
  const size_t n_jobs = n_inputs * static_cast<size_t>(H);
  if (pool) pool->parallel_for(n_jobs, job);
  else job(0, 0, n_jobs);
}

}  // namespace edgerag
