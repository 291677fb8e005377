#include "tensor/bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace edgerag {

double measure_read_bandwidth_gbs(ThreadPool& pool, size_t bytes) {
  const size_t n = std::max<size_t>(bytes / sizeof(uint64_t), 4096);
  std::unique_ptr<uint64_t[]> buf(new uint64_t[n]);
  pool.parallel_for(n, [&](int, size_t b, size_t e) { std::memset(buf.get() + b, 1, (e - b) * 8); }, 512);
  std::vector<uint64_t> sink(static_cast<size_t>(pool.size()));
  double best = 0;
  for (int pass = 0; pass < 5; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(n, [&](int t, size_t b, size_t e) {
      uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      size_t i = b;
      for (; i + 4 <= e; i += 4) { a0 ^= buf[i]; a1 ^= buf[i + 1]; a2 ^= buf[i + 2]; a3 ^= buf[i + 3]; }
      for (; i < e; ++i) a0 ^= buf[i];
      sink[t] += a0 ^ a1 ^ a2 ^ a3;
    }, 512);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(n * 8) / s / 1e9);
  }
  return best;
}

}  // namespace edgerag
