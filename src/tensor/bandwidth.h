// Sustained memory read bandwidth, measured the way a tuned GEMV reads weights
// (wide loads, several accumulators, all pool threads): the bound that decode
// speed is compared against.
#pragma once
#include <cstddef>

#include "util/thread_pool.h"

namespace edgerag {

// Best-of-several GB/s (1e9 bytes/s) reading a `bytes` buffer once per pass.
double measure_read_bandwidth_gbs(ThreadPool& pool, size_t bytes = size_t{256} << 20);

}  // namespace edgerag
