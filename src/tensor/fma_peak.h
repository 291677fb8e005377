// The CPU's peak f32 multiply-add rate: independent FMA chains on every pool
// thread at the widest vector level the engine runs (`bench roofline`). A
// kernel whose only instruction for its products is an f32 FMA (F16 weights
// against F16 activations on a CPU without AVX512-FP16) is bounded by it.
#pragma once
#include "util/thread_pool.h"

namespace edgerag {

struct FmaPeak {
  double gflops = 0;  // best repetition: 2 x FMA lanes per second, all threads
  int vector_bits = 0;  // 512, 256 or 32 (scalar)
};

// Repeats the timed loop until min_seconds have passed (at least 3 times).
FmaPeak measure_fma_peak(ThreadPool& pool, double min_seconds = 0.2);

}  // namespace edgerag
