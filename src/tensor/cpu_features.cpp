#include "tensor/cpu_features.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "util/error.h"

namespace edgerag {
namespace {

struct Features {
  Isa isa = Isa::Scalar;
  bool avx512_bf16 = false;
};

#if defined(__x86_64__) || defined(__i386__)
uint64_t xgetbv0() {
  uint32_t lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

Features detect() {
  Features f;
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27), fma = c & (1u << 12), f16c = c & (1u << 29);
  if (!osxsave) return f;
  const uint64_t xcr0 = xgetbv0();
  const bool os_avx = (xcr0 & 0x6) == 0x6;            // XMM + YMM state saved by the OS
  const bool os_avx512 = os_avx && (xcr0 & 0xE0) == 0xE0;  // opmask + ZMM state
  if (!os_avx || __get_cpuid_max(0, nullptr) < 7) return f;
  __cpuid_count(7, 0, a, b, c, d);
  const bool avx2 = b & (1u << 5), bmi2 = b & (1u << 8);
  const bool avx512f = b & (1u << 16), avx512dq = b & (1u << 17), avx512bw = b & (1u << 30),
             avx512vl = b & (1u << 31), vnni = c & (1u << 11);
  if (avx2 && bmi2 && fma && f16c) f.isa = Isa::Avx2;
  if (f.isa == Isa::Avx2 && os_avx512 && avx512f && avx512dq && avx512bw && avx512vl && vnni) {
    f.isa = Isa::Avx512;
    __cpuid_count(7, 1, a, b, c, d);
    f.avx512_bf16 = a & (1u << 5);
  }
  return f;
}
#else
Features detect() { return {}; }
#endif

const Features& features() {
  static const Features f = detect();
  return f;
}

Isa clamp(Isa isa) { return static_cast<int>(isa) < static_cast<int>(detected_isa()) ? isa : detected_isa(); }

Isa initial_isa() {
  const char* env = std::getenv("EDGERAG_ISA");
  if (!env || !*env) return detected_isa();
  Isa isa;
  if (!isa_from_name(env, &isa)) fail("EDGERAG_ISA={} is not one of scalar, avx2, avx512", env);
  return clamp(isa);
}

std::atomic<int>& active() {
  static std::atomic<int> a{static_cast<int>(initial_isa())};
  return a;
}

}  // namespace

Isa detected_isa() { return features().isa; }
bool cpu_has_avx512_bf16() { return features().avx512_bf16; }

Isa active_isa() { return static_cast<Isa>(active().load(std::memory_order_relaxed)); }

Isa set_isa(Isa isa) {
  const Isa c = clamp(isa);
  active().store(static_cast<int>(c), std::memory_order_relaxed);
  return c;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Scalar: return "scalar";
    case Isa::Avx2: return "avx2";
    case Isa::Avx512: return "avx512";
  }
  return "?";
}

bool isa_from_name(const char* name, Isa* out) {
  for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512})
    if (std::strcmp(name, isa_name(i)) == 0) {
      *out = i;
      return true;
    }
  return false;
}

}  // namespace edgerag
