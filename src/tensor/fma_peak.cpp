#include "tensor/fma_peak.h"

#include <algorithm>
#include <vector>

#include "tensor/cpu_features.h"
#include "util/timer.h"

namespace edgerag {
namespace {

constexpr int64_t kIters = 1 << 16;  // per thread and repetition: ~1 M FMA instructions

typedef float F32x16 __attribute__((vector_size(64)));
typedef float F32x8 __attribute__((vector_size(32)));
typedef float F32x1 __attribute__((vector_size(4)));

// kChains independent multiply-add chains of vector type V, one value depending
// on all of them returned (so none can be dropped). Inlined into each level's
// wrapper, whose target and fp-contract options turn `acc * a + b` into one FMA.
template <class V, int kChains>
inline __attribute__((always_inline)) float chains(float seed) {
  V acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = V{} + (seed + static_cast<float>(c));
  const V a = V{} + 0.999f, b = V{} + 1e-3f;
  for (int64_t i = 0; i < kIters; ++i)
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * a + b;
  V sum = acc[0];
  for (int c = 1; c < kChains; ++c) sum += acc[c];
  float out = 0;
  for (size_t l = 0; l < sizeof(V) / sizeof(float); ++l) out += sum[l];
  return out;
}

// Enough chains to cover the FMA latency (4-5 cycles) on two pipes, few enough to
// stay in registers with the two constants (AVX-512 has 32 vector registers, AVX2 16).
constexpr int kChains512 = 16, kChains256 = 12, kChainsScalar = 16;

// GCC fuses a * b + c into one FMA only where allowed (ISO C++ mode turns that
// off) and vectorizes cheap loops at -O2; clang fuses within an expression by default.
#if defined(__clang__)
#define FUSED_MULTIPLY_ADD
#define NOT_VECTORIZED
#else
#define FUSED_MULTIPLY_ADD , optimize("fp-contract=fast")
#define NOT_VECTORIZED optimize("no-tree-vectorize")
#endif
__attribute__((target("avx512f") FUSED_MULTIPLY_ADD)) float chains512(float seed) {
  return chains<F32x16, kChains512>(seed);
}
__attribute__((target("avx2,fma") FUSED_MULTIPLY_ADD)) float chains256(float seed) {
  return chains<F32x8, kChains256>(seed);
}
// Scalar: the rate without vector units.
__attribute__((NOT_VECTORIZED)) float chains_scalar(float seed) { return chains<F32x1, kChainsScalar>(seed); }
#undef FUSED_MULTIPLY_ADD
#undef NOT_VECTORIZED

}  // namespace

FmaPeak measure_fma_peak(ThreadPool& pool, double min_seconds) {
  struct Level {
    float (*run)(float);
    int vector_bits, chains;
  };
  const Isa isa = active_isa();
  const Level lv = isa == Isa::Avx512 ? Level{chains512, 512, kChains512}
                   : isa == Isa::Avx2 ? Level{chains256, 256, kChains256}
                                      : Level{chains_scalar, 32, kChainsScalar};
  FmaPeak r;
  r.vector_bits = lv.vector_bits;
  std::vector<float> sink(static_cast<size_t>(pool.size()) * 16);  // a cache line per thread
  const double flops = 2.0 * kIters * lv.chains * (lv.vector_bits / 32) * pool.size();
  pool.run_all([&](int t) { sink[static_cast<size_t>(t) * 16] = lv.run(static_cast<float>(t)); });  // warm-up
  Timer total;
  for (int reps = 0; total.seconds() < min_seconds || reps < 3; ++reps) {
    Timer t;
    pool.run_all([&](int th) { sink[static_cast<size_t>(th) * 16] += lv.run(static_cast<float>(th)); });
    r.gflops = std::max(r.gflops, flops / std::max(t.seconds(), 1e-9) / 1e9);
  }
  volatile float keep = sink[0];
  (void)keep;
  return r;
}

}  // namespace edgerag
