// Micro-benchmark of the tiled attention (model/attention.h) on a
// qwen2.5-0.5b-shaped cache (14 query heads, 2 KV heads of 64) or a
// llama-3.2-1b-shaped one (32 query heads, 8 KV heads of 64), F32 or F16 KV:
// the last 64 tokens of a prefill (query tiles of 16 tokens x the group's heads)
// or one decode step, at a given context length, in a cache of 1 layer (its K/V
// stay in the CPU's caches) or of the model's layers (24 or 16: over 100 MB at
// 4,096, read from memory, as in a model's decode). Counters: query tokens per
// CPU second and layer; ns_per_key: CPU time per cached key and KV head.
//   edgerag_microbench --benchmark_filter=Attention   (set EDGERAG_ISA to force a level)
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "model/attention.h"

namespace edgerag {
namespace {

// args: context length, query tokens (64: prefill tail, 1: decode step), layers,
// KV type (0: F32, 1: F16), shape (0: qwen2.5-0.5b, 1: llama-3.2-1b).
void BM_Attention(benchmark::State& state) {
  constexpr int32_t kHd = 64;
  const int32_t n_ctx = static_cast<int32_t>(state.range(0)), n_q = static_cast<int32_t>(state.range(1));
  const int32_t n_layer = static_cast<int32_t>(state.range(2));
  const bool llama = state.range(4) != 0;
  const int32_t kHead = llama ? 32 : 14, kHeadKv = llama ? 8 : 2;
  KvCacheConfig c;
  c.type = state.range(3) != 0 ? DType::F16 : DType::F32;
  c.n_layer = n_layer;
  c.n_head_kv = kHeadKv;
  c.head_dim = kHd;
  c.budget_bytes = c.block_bytes() * (n_ctx / c.block_size + 2);
  KvCache kv(c);
  Batch prefix, batch;
  for (int32_t p = 0; p < n_ctx - n_q; ++p) prefix.add(0, p, 0, false);
  for (int32_t p = n_ctx - n_q; p < n_ctx; ++p) batch.add(0, p, 0, false);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0, 1);
  std::vector<float> row(kHd);
  auto write = [&](const Batch& b) {
    kv.reserve_batch(b);
    for (const BatchToken& t : b.tokens)
      for (int32_t l = 0; l < n_layer; ++l)
        for (int32_t h = 0; h < kHeadKv; ++h) {
          const int32_t blk = kv.block_of(t.seq, t.pos), slot = t.pos % c.block_size;
          for (float& x : row) x = nd(rng);
          kv.write_k(blk, l, h, slot, row.data());
          for (float& x : row) x = nd(rng);
          kv.write_v(blk, l, h, slot, row.data());
        }
  };
  if (!prefix.empty()) write(prefix), kv.commit(0, static_cast<int32_t>(prefix.size()));
  write(batch);
  std::vector<float> q(static_cast<size_t>(n_q) * kHead * kHd), out(q.size());
  for (float& x : q) x = nd(rng);
  for (auto _ : state) {
    for (int32_t l = 0; l < n_layer; ++l) attention(kv, batch, l, q.data(), kHead, 0.125f, out.data(), nullptr);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["tok/s"] =
      benchmark::Counter(static_cast<double>(n_q) * n_layer, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["ns_per_key"] = benchmark::Counter(
      static_cast<double>(n_ctx) * n_layer * kHeadKv * 1e-9,
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_Attention)
    ->ArgsProduct({{512, 2048, 4096}, {64, 1}, {1}, {0}, {0}})
    ->ArgsProduct({{4096}, {64, 1}, {24}, {0, 1}, {0}})
    ->ArgsProduct({{3000}, {1}, {1, 16}, {0, 1}, {1}})
    ->MeasureProcessCPUTime()
    ->MinTime(0.5);

}  // namespace
}  // namespace edgerag
