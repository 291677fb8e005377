#include "tensor/bandwidth.h"

#include <immintrin.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "tensor/cpu_features.h"

namespace edgerag {
namespace {

constexpr size_t kChunk = 4096;  // bytes per parallel_for grain: whole pages per thread
constexpr size_t kPrefetchAhead = 16384;
constexpr int kPasses = 7;  // odd: the median is one pass

uint64_t read_scalar(const uint8_t* p, size_t n) {
  const auto* w = reinterpret_cast<const uint64_t*>(p);
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  for (size_t i = 0; i + 4 <= n / 8; i += 4) a0 ^= w[i], a1 ^= w[i + 1], a2 ^= w[i + 2], a3 ^= w[i + 3];
  return a0 ^ a1 ^ a2 ^ a3;
}

// 32-byte loads into four independent accumulators, 128 bytes per iteration:
// the access pattern of the GEMV kernels.
__attribute__((target("avx2"))) uint64_t read_avx2(const uint8_t* p, size_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 128 <= n; i += 128) {
    // Software prefetch well ahead, as the GEMV kernels do (see matmul_simd.inc).
    const uintptr_t ahead = reinterpret_cast<uintptr_t>(p) + i + kPrefetchAhead;  // may pass the end: no fault
    asm volatile("prefetcht0 %0" : : "m"(*reinterpret_cast<const char*>(ahead)));
    asm volatile("prefetcht0 %0" : : "m"(*reinterpret_cast<const char*>(ahead + 64)));
    a0 = _mm256_xor_si256(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_xor_si256(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    a2 = _mm256_xor_si256(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    a3 = _mm256_xor_si256(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  const __m256i a = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
  return static_cast<uint64_t>(_mm256_extract_epi64(a, 0) ^ _mm256_extract_epi64(a, 1) ^ _mm256_extract_epi64(a, 2) ^
                               _mm256_extract_epi64(a, 3));
}

size_t default_probe_bytes() {
  const long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);  // 0 or -1 where unknown
  return std::max<size_t>(size_t{256} << 20, llc > 0 ? 8 * static_cast<size_t>(llc) : 0);
}

}  // namespace

double measure_read_bandwidth_gbs(ThreadPool& pool, size_t bytes) {
  if (bytes == 0) bytes = default_probe_bytes();
  const size_t n = std::max<size_t>(bytes / kChunk, 1) * kChunk;
  std::unique_ptr<uint8_t, decltype(&std::free)> buf(static_cast<uint8_t*>(std::aligned_alloc(64, n)), &std::free);
  uint8_t* p = buf.get();
  // First touch from the threads that will read, so pages are mapped (and local)
  // before any timing; non-zero bytes, so no page can stay the shared zero page.
  pool.parallel_for(n / kChunk, [&](int, size_t b, size_t e) { std::memset(p + b * kChunk, 1, (e - b) * kChunk); });
  const bool simd = detected_isa() != Isa::Scalar;
  std::vector<uint64_t> sink(static_cast<size_t>(pool.size()) * 8);  // 64 bytes apart: no false sharing
  auto pass = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(n / kChunk, [&](int t, size_t b, size_t e) {
      const uint8_t* q = p + b * kChunk;
      const size_t len = (e - b) * kChunk;
      sink[static_cast<size_t>(t) * 8] ^= simd ? read_avx2(q, len) : read_scalar(q, len);
    });
    return static_cast<double>(n) / std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / 1e9;
  };
  pass();  // warm-up: TLB, thread wake-up, frequency ramp
  // The median, not the best: on a shared VM single passes swing both ways.
  std::vector<double> gbs(kPasses);
  for (double& g : gbs) g = pass();
  std::nth_element(gbs.begin(), gbs.begin() + kPasses / 2, gbs.end());
  // The result must be observable or the reads could be optimized away.
  volatile uint64_t keep = 0;
  for (uint64_t v : sink) keep = keep ^ v;
  return gbs[kPasses / 2];
}

}  // namespace edgerag
