// Micro-benchmarks of matmul: GEMV (decode) and GEMM (prefill) per weight type,
// and a qwen2.5-0.5b-shaped model pass (24 layers of q/k/v/o/gate/up/down + a
// Q8_0 tied head). Counters: GB/s of weights read, GFLOP/s, tokens/s.
//   edgerag_microbench --benchmark_filter=Model   (set EDGERAG_ISA to force a level)
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "tensor/bandwidth.h"
#include "tensor/ops.h"
#include "tensor/repack.h"

namespace edgerag {
namespace {

// Valid quantized bytes for a rows x cols matrix: a few quantized random rows repeated.
std::vector<uint8_t> make_weights(DType t, int64_t cols, int64_t rows) {
  const size_t rb = row_size(t, cols);
  constexpr int64_t kDistinct = 8;
  std::mt19937 rng(42);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> src(cols);
  std::vector<uint8_t> distinct(rb * kDistinct), out(rb * rows);
  for (int64_t r = 0; r < kDistinct; ++r) {
    for (auto& f : src) f = dist(rng);
    quantize_row(t, src.data(), distinct.data() + r * rb, cols);
  }
  for (int64_t r = 0; r < rows; ++r) std::copy_n(distinct.data() + (r % kDistinct) * rb, rb, out.data() + r * rb);
  return out;
}

std::vector<float> make_acts(size_t n) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& f : v) f = dist(rng);
  return v;
}

const DType kTypes[] = {DType::F32,        DType::F16,       DType::BF16,      DType::Q8_0,      DType::Q4_0,
                        DType::Q4_1,       DType::Q5_0,      DType::Q5_1,      DType::Q4_K,      DType::Q5_K,
                        DType::Q6_K,       DType::ER_NF4,    DType::ER_NF4_DQ, DType::ER_Q4_G64, DType::ER_Q4_G128,
                        DType::ER_Q3_G32,  DType::ER_Q3_G64, DType::ER_Q3_G128, DType::ER_Q2_G32, DType::ER_Q2_G64,
                        DType::ER_Q2_G128};

// args: type index, n_tokens (1: decode, 5: a verification of 4 drafts, 64:
// prefill), threads, packed (1: the load-time layout of tensor/repack.h where
// the ISA level has kernels for it). 1024 -> 4864 (a multiple of every block
// size; the weights fit in the last-level cache: this times the arithmetic
// more than the memory).
void BM_Matmul(benchmark::State& state) {
  const DType t = kTypes[state.range(0)];
  const int64_t nt = state.range(1), cols = 1024, rows = 4864;
  ThreadPool pool(static_cast<int>(state.range(2)));
  auto wbytes = make_weights(t, cols, rows);
  Matrix w = Matrix::of(t, cols, rows, wbytes.data());
  if (state.range(3)) pack_rows(w, wbytes.data());
  const auto x = make_acts(static_cast<size_t>(nt * cols));
  std::vector<float> y(static_cast<size_t>(nt * rows));
  for (auto _ : state) {
    matmul(w, x.data(), nt, y.data(), &pool);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetLabel(dtype_name(t));
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(w.nbytes()) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * cols * rows * nt, benchmark::Counter::kIsIterationInvariantRate);
}

void matmul_args(benchmark::internal::Benchmark* b) {
  for (int i = 0; i < static_cast<int>(std::size(kTypes)); ++i)
    for (int nt : {1, 5, 64})
      for (int th : {1, 2})
        for (int packed : {0, 1}) b->Args({i, nt, th, packed});
}
BENCHMARK(BM_Matmul)->Apply(matmul_args)->UseRealTime()->MeasureProcessCPUTime()->MinTime(0.3);

// Decode and speculative verification from memory: one thread's matmul of 1-9
// tokens over 24 matrices of 2048 -> 8192 (226 MB at 4.5 bits per weight), far
// beyond the last-level cache, so every pass reads DRAM the way a decode step
// does. A memory-bound few-token product should cost little more than the GEMV.
// args: type index, packed (as in BM_Matmul), tokens.
void BM_MatmulFromMemory(benchmark::State& state) {
  const DType t = kTypes[state.range(0)];
  const int64_t nt = state.range(2);
  constexpr int64_t kCols = 2048, kRows = 8192, kMats = 24;
  std::vector<std::vector<uint8_t>> bytes(kMats);
  std::vector<Matrix> mats;
  for (auto& b : bytes) {
    b = make_weights(t, kCols, kRows);
    mats.push_back(Matrix::of(t, kCols, kRows, b.data()));
    if (state.range(1)) pack_rows(mats.back(), b.data());
  }
  const auto x = make_acts(static_cast<size_t>(nt * kCols));
  std::vector<float> y(static_cast<size_t>(nt * kRows));
  for (auto _ : state)
    for (const Matrix& w : mats) {
      matmul(w, x.data(), nt, y.data(), nullptr);
      benchmark::DoNotOptimize(y.data());
    }
  state.SetLabel(dtype_name(t));
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(kMats * mats[0].nbytes()) / 1e9,
                                              benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_MatmulFromMemory)->ArgsProduct({{3, 4, 8, 10}, {0, 1}, {1, 5}})->UseRealTime()->MeasureProcessCPUTime()
    ->Unit(benchmark::kMillisecond)->MinTime(1.0);

// qwen2.5-0.5b: hidden 896, 14 heads / 2 kv heads of 64, ffn 4864, vocab 151936.
struct Model {
  struct Layer { std::vector<uint8_t> q, k, v, o, gate, up, down; };
  DType type;
  std::vector<Layer> layers;
  std::vector<uint8_t> head;
  static constexpr int64_t kHidden = 896, kKv = 128, kFfn = 4864, kVocab = 151936, kLayers = 24;

  explicit Model(DType t) : type(t), layers(kLayers) {
    const Layer proto{make_weights(t, kHidden, kHidden), make_weights(t, kHidden, kKv), make_weights(t, kHidden, kKv),
                      make_weights(t, kHidden, kHidden), make_weights(t, kHidden, kFfn), make_weights(t, kHidden, kFfn),
                      make_weights(t, kFfn, kHidden)};
    for (auto& l : layers) l = proto;  // separate copies: every token reads all weights from memory
    head = make_weights(DType::Q8_0, kHidden, kVocab);
  }
  size_t bytes() const {
    size_t b = head.size();
    for (const auto& l : layers) b += l.q.size() + l.k.size() + l.v.size() + l.o.size() + l.gate.size() + l.up.size() + l.down.size();
    return b;
  }
  // All matmuls of a forward pass over n tokens; logits for the last token only.
  void forward(int64_t n, ThreadPool& pool, std::vector<float>& a, std::vector<float>& b, std::vector<float>& logits) const {
    for (const auto& l : layers) {
      matmul(Matrix::of(type, kHidden, kHidden, l.q.data()), a.data(), n, b.data(), &pool);
      matmul(Matrix::of(type, kHidden, kKv, l.k.data()), a.data(), n, b.data(), &pool);
      matmul(Matrix::of(type, kHidden, kKv, l.v.data()), a.data(), n, b.data(), &pool);
      matmul(Matrix::of(type, kHidden, kHidden, l.o.data()), a.data(), n, b.data(), &pool);
      matmul(Matrix::of(type, kHidden, kFfn, l.gate.data()), a.data(), n, b.data(), &pool);
      matmul(Matrix::of(type, kHidden, kFfn, l.up.data()), a.data(), n, b.data(), &pool);
      matmul(Matrix::of(type, kFfn, kHidden, l.down.data()), b.data(), n, a.data(), &pool);
    }
    matmul(Matrix::of(DType::Q8_0, kHidden, kVocab, head.data()), a.data() + (n - 1) * kHidden, 1, logits.data(), &pool);
  }
};

// args: 0 = Q8_0, 1 = Q4_0; n_tokens (1 = decode); threads.
void BM_Model(benchmark::State& state) {
  const DType t = state.range(0) == 0 ? DType::Q8_0 : DType::Q4_0;
  const int64_t n = state.range(1);
  static std::unique_ptr<Model> model;
  if (!model || model->type != t) {
    model.reset();
    model = std::make_unique<Model>(t);
  }
  ThreadPool pool(static_cast<int>(state.range(2)));
  std::vector<float> a = make_acts(static_cast<size_t>(n * Model::kFfn)), b(a.size()), logits(Model::kVocab);
  for (auto _ : state) model->forward(n, pool, a, b, logits);
  state.SetLabel(std::string(dtype_name(t)) + (n == 1 ? " decode" : " prefill"));
  state.counters["tok/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] = benchmark::Counter(static_cast<double>(model->bytes()) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  if (n == 1) {  // decode is bounded by reading every weight once per token
    const double bw = measure_read_bandwidth(pool).median_gbs;
    state.counters["bound_tok/s"] = bw * 1e9 / static_cast<double>(model->bytes());
    state.counters["read_GB/s"] = bw;
  }
}
BENCHMARK(BM_Model)->Args({0, 1, 2})->Args({1, 1, 2})->Args({0, 512, 2})->Args({1, 512, 2})->Args({0, 1, 1})->Args({1, 1, 1})
    ->UseRealTime()->MeasureProcessCPUTime()->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace
}  // namespace edgerag
