// Sustained memory read bandwidth, measured the way a tuned GEMV reads weights
// (wide loads, several accumulators, all pool threads): the bound that decode
// speed is compared against.
#pragma once
#include <cstddef>

#include "util/thread_pool.h"

namespace edgerag {

// Median GB/s (1e9 bytes/s) over several timed passes, each reading a `bytes`
// buffer once, after an untimed pass. bytes = 0: max(256 MiB, 8 x the
// last-level cache), so no pass can be served from cache.
double measure_read_bandwidth_gbs(ThreadPool& pool, size_t bytes = 0);

}  // namespace edgerag
