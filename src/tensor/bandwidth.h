// Sustained memory read bandwidth, measured the way a tuned GEMV reads weights
// (wide loads, several accumulators, all pool threads): the bound that decode
// speed is compared against.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "util/thread_pool.h"

namespace edgerag {

// One probe: `passes` timed passes, each reading the whole buffer once, after
// an untimed pass. On a shared VM single passes swing both ways, so the spread
// is reported with the median.
struct ReadBandwidth {
  double min_gbs = 0, median_gbs = 0, max_gbs = 0;  // GB/s = 1e9 bytes/s, per timed pass
  size_t buffer_bytes = 0;           // bytes one pass reads (the request in whole 4 KiB pages, at least one)
  uint64_t bytes_read = 0;           // counted by the read loops over the timed passes
  std::vector<double> pass_seconds;  // wall time of each timed pass, in order
};

// bytes = 0: max(256 MiB, 8 x the last-level cache), so no pass can be served
// from cache. passes >= 1.
ReadBandwidth measure_read_bandwidth(ThreadPool& pool, size_t bytes = 0, int passes = 7);

}  // namespace edgerag
