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
#include "util/error.h"

namespace edgerag {
namespace {

constexpr size_t kChunk = 4096;  // bytes per parallel_for grain: whole pages per thread
constexpr size_t kPrefetchAhead = 16384;

// Each reader adds the bytes its loop covered to `covered` (what the probe's
// GB/s counts) and returns the xor of what it read.
uint64_t read_scalar(const uint8_t* p, size_t n, uint64_t& covered) {
  const auto* w = reinterpret_cast<const uint64_t*>(p);
  uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  size_t i = 0;
  for (; i + 4 <= n / 8; i += 4) a0 ^= w[i], a1 ^= w[i + 1], a2 ^= w[i + 2], a3 ^= w[i + 3];
  covered += i * 8;
  return a0 ^ a1 ^ a2 ^ a3;
}

// 32-byte loads into four independent accumulators, 128 bytes per iteration:
// the access pattern of the GEMV kernels.
__attribute__((target("avx2"))) uint64_t read_avx2(const uint8_t* p, size_t n, uint64_t& covered) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    // Software prefetch well ahead, as the GEMV kernels do (see matmul_simd.inc).
    const uintptr_t ahead = reinterpret_cast<uintptr_t>(p) + i + kPrefetchAhead;  // may pass the end: no fault
    asm volatile("prefetcht0 %0" : : "m"(*reinterpret_cast<const char*>(ahead)));
    asm volatile("prefetcht0 %0" : : "m"(*reinterpret_cast<const char*>(ahead + 64)));
    a0 = _mm256_xor_si256(a0, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    a1 = _mm256_xor_si256(a1, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    a2 = _mm256_xor_si256(a2, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    a3 = _mm256_xor_si256(a3, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  covered += i;
  const __m256i a = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
  return static_cast<uint64_t>(_mm256_extract_epi64(a, 0) ^ _mm256_extract_epi64(a, 1) ^ _mm256_extract_epi64(a, 2) ^
                               _mm256_extract_epi64(a, 3));
}

size_t default_probe_bytes() {
  const long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);  // 0 or -1 where unknown
  return std::max<size_t>(size_t{256} << 20, llc > 0 ? 8 * static_cast<size_t>(llc) : 0);
}

}  // namespace

ReadBandwidth measure_read_bandwidth(ThreadPool& pool, size_t bytes, int passes) {
  EDGERAG_CHECK(passes >= 1, "bandwidth probe: {} passes", passes);
  if (bytes == 0) bytes = default_probe_bytes();
  const size_t n = std::max<size_t>(bytes / kChunk, 1) * kChunk;
  std::unique_ptr<uint8_t, decltype(&std::free)> buf(static_cast<uint8_t*>(std::aligned_alloc(64, n)), &std::free);
  uint8_t* p = buf.get();
  // First touch from the threads that will read, so pages are mapped (and local)
  // before any timing; non-zero bytes, so no page can stay the shared zero page.
  pool.parallel_for(n / kChunk, [&](int, size_t b, size_t e) { std::memset(p + b * kChunk, 1, (e - b) * kChunk); });
  const bool simd = detected_isa() != Isa::Scalar;
  // Per thread, 64 bytes apart (no false sharing): [0] the xor of what was read,
  // [1] the bytes the read loops covered.
  std::vector<uint64_t> sink(static_cast<size_t>(pool.size()) * 8);
  auto pass = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(n / kChunk, [&](int t, size_t b, size_t e) {
      const uint8_t* q = p + b * kChunk;
      const size_t len = (e - b) * kChunk;
      uint64_t* s = &sink[static_cast<size_t>(t) * 8];
      s[0] ^= simd ? read_avx2(q, len, s[1]) : read_scalar(q, len, s[1]);
    });
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  pass();  // warm-up: TLB, thread wake-up, frequency ramp
  for (size_t t = 0; t < sink.size(); t += 8) sink[t + 1] = 0;
  ReadBandwidth r;
  r.buffer_bytes = n;
  for (int i = 0; i < passes; ++i) r.pass_seconds.push_back(pass());
  std::vector<double> gbs;
  for (double s : r.pass_seconds) gbs.push_back(static_cast<double>(n) / s / 1e9);
  std::sort(gbs.begin(), gbs.end());
  r.min_gbs = gbs.front();
  r.max_gbs = gbs.back();
  r.median_gbs = gbs.size() % 2 ? gbs[gbs.size() / 2] : (gbs[gbs.size() / 2 - 1] + gbs[gbs.size() / 2]) / 2;
  // The xor must be observable or the reads could be optimized away.
  volatile uint64_t keep = 0;
  for (size_t t = 0; t < sink.size(); t += 8) keep = keep ^ sink[t], r.bytes_read += sink[t + 1];
  return r;
}

}  // namespace edgerag
