// matmul driver: converts activations once, splits weight rows across the
// pool, and hands each thread cache-sized panels of rows for the tile kernels.
#include <algorithm>
#include <vector>

#include "tensor/matmul_kernels.h"
#include "tensor/ops.h"
#include "tensor/repack.h"
#include "util/error.h"

namespace edgerag {
namespace {

// A panel of weight rows this large stays in L2 while every token tile passes over it.
constexpr size_t kPanelBytes = 96 << 10;
constexpr int64_t kRowGrain = 16;
constexpr int64_t kPanelGrain = 32;  // the tallest register tile: 2 packed groups (F16, BF16)
constexpr int64_t kSerialPrepareTokens = 8;

// Rows per panel: a multiple of every register tile height, so only a thread's
// last panel can leave shorter tiles.
int64_t panel_rows(size_t row_bytes) {
  return std::max<int64_t>(kPanelGrain, static_cast<int64_t>(kPanelBytes / std::max<size_t>(row_bytes, 1)) &
                                            ~static_cast<int64_t>(kPanelGrain - 1));
}

void for_rows(int64_t rows, ThreadPool* pool, const std::function<void(int, size_t, size_t)>& body) {
  if (pool) pool->parallel_for(static_cast<size_t>(rows), body, static_cast<size_t>(kRowGrain));
  else body(0, 0, static_cast<size_t>(rows));
}

// Packed groups when the ISA level has no kernel for them (tests forcing a
// lower level, EDGERAG_ISA): each group back in plain rows, then the row kernel.
void unpacked_groups(const MatmulKernel& k, const Matrix& w, int64_t r0, int64_t ng, const uint8_t* act, size_t xs,
                     int64_t n_tokens, float* y) {
  thread_local std::vector<uint8_t> plain;
  plain.resize(static_cast<size_t>(kPackRows) * w.row_bytes);
  for (int64_t g = r0 / kPackRows; g < r0 / kPackRows + ng; ++g) {
    unpack_group(w, g, plain.data());
    k.tile(w.cols, plain.data(), w.row_bytes, kPackRows, act, xs, n_tokens, y + g * kPackRows,
           static_cast<size_t>(w.rows));
  }
}

void run_matmul(Isa isa, const Matrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool) {
  EDGERAG_CHECK(w.data != nullptr || w.rows == 0, "matmul: matrix has no data");
  if (n_tokens <= 0 || w.rows <= 0) return;
  const MatmulKernel* k = kernel_for(w.type, isa);
  EDGERAG_CHECK(k != nullptr, "matmul: unsupported weight type {}", dtype_name(w.type));
  const size_t xs = row_size(k->act_type, w.cols);
  const int64_t packed = w.packed_rows();
  const PackedFn pk = packed > 0 ? packed_kernel_for(w.type, isa) : nullptr;
  const uint8_t* act = reinterpret_cast<const uint8_t*>(x);
  // One buffer each per calling thread, reused across calls (decode makes hundreds per token).
  thread_local std::vector<uint8_t> converted;
  thread_local std::vector<float> term_floats;
  thread_local std::vector<int32_t> term_ints;
  // Activations are converted, and the packed kernels' token terms derived, once per call
  // (not per panel of rows): they cost a tenth of a 16-row tile pass over the same blocks.
  const int64_t nb = pk ? w.cols / pk->elems : 0;
  if (pk) {
    term_floats.resize(static_cast<size_t>(n_tokens * nb * pk->floats));
    term_ints.resize(static_cast<size_t>(n_tokens * nb * pk->ints));
  }
  float* tf = term_floats.data();  // workers must not name the thread_locals: they are per thread
  int32_t* ti = term_ints.data();
  if (k->act_type != DType::F32) {  // every packed format has a converted activation type
    converted.resize(xs * static_cast<size_t>(n_tokens));
    uint8_t* buf = converted.data();
    auto prepare = [&](int, size_t t0, size_t t1) {
      for (size_t t = t0; t < t1; ++t) {
        if (k->convert) k->convert(x + t * w.cols, buf + t * xs, w.cols);
        else quantize_activations(k->act_type, x + t * w.cols, buf + t * xs, w.cols);
      }
      if (pk)
        pk->terms(w.cols, buf + t0 * xs, xs, static_cast<int64_t>(t1 - t0), tf + t0 * nb * pk->floats,
                  ti + t0 * nb * pk->ints);
    };
    // A few tokens (decode, verification) convert faster than the pool hands work over.
    if (pool && n_tokens > kSerialPrepareTokens) pool->parallel_for(static_cast<size_t>(n_tokens), prepare);
    else prepare(0, 0, static_cast<size_t>(n_tokens));
    act = buf;
  }
  // Batch invariance (tests/tensor/packed_matmul_test.cpp, TokenResultsDoNotDependOnTheBatch):
  // token t's row is bit-identical for any n_tokens, thread count or panel split,
  // decode GEMV included. Activations are converted per token; every kernel, packed
  // or row-major, sums a (row, token) in one fixed order whatever its tile height
  // (the packed float kernels keep two chains at every NT, the 1-token block-pair
  // GEMV keeps the per-block float FMAs of the multi-token tile; integer block sums
  // are exact in any order). A row is packed or not by its matrix, never by the batch.
  // One token reads each weight once anyway: no panels, longest row streams.
  const int64_t panel = n_tokens == 1 ? w.rows : panel_rows(w.row_bytes);
  // Ranges and panels are multiples of kRowGrain, a multiple of kPackRows: packed groups are never split.
  static_assert(kRowGrain % kPackRows == 0);
  for_rows(w.rows, pool, [&](int, size_t r0, size_t r1) {
    for (int64_t p = static_cast<int64_t>(r0); p < static_cast<int64_t>(r1); p += panel) {
      const int64_t nr = std::min<int64_t>(panel, static_cast<int64_t>(r1) - p);
      const int64_t np = std::clamp<int64_t>(packed - p, 0, nr);
      if (np > 0 && pk)
        pk->run(w.cols, w.row(p), np / kPackRows, act, xs, n_tokens, tf, ti, y + p, static_cast<size_t>(w.rows));
      else if (np > 0) unpacked_groups(*k, w, p, np / kPackRows, act, xs, n_tokens, y);
      if (nr > np)
        k->tile(w.cols, w.row(p + np), w.row_bytes, nr - np, act, xs, n_tokens, y + p + np, static_cast<size_t>(w.rows));
    }
  });
}

}  // namespace

void matmul(const Matrix& w, const float* x, int64_t n_tokens, float* y, ThreadPool* pool) {
  run_matmul(active_isa(), w, x, n_tokens, y, pool);
}

void matmul_ref(const Matrix& w, const float* x, int64_t n_tokens, float* y) {
  run_matmul(Isa::Scalar, w, x, n_tokens, y, nullptr);
}

}  // namespace edgerag
