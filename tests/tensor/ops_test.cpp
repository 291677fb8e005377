// Element-wise ops: SIMD paths against the scalar ones and against float64 math.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "tensor/bandwidth.h"
#include "tensor/cpu_features.h"
#include "tensor/fma_peak.h"
#include "tensor/fp16.h"
#include "tensor/ops.h"
#include "tensor_test_util.h"

namespace edgerag {
namespace {

using test::random_floats;

// Runs fn at the scalar level and at the detected level; returns both outputs.
template <typename Fn>
auto both_levels(Fn fn) -> std::pair<decltype(fn()), decltype(fn())> {
  const Isa saved = active_isa();
  set_isa(Isa::Scalar);
  auto a = fn();
  set_isa(detected_isa());
  auto b = fn();
  set_isa(saved);
  return {a, b};
}

void expect_close(const std::vector<float>& a, const std::vector<float>& b, float rel, float abs, const char* what) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], abs + rel * std::fabs(a[i])) << what << " i=" << i;
}

const int64_t kSizes[] = {1, 7, 8, 9, 33, 64, 896, 4864};

TEST(Ops, DotAndAxpy) {
  for (int64_t n : kSizes) {
    const auto a = random_floats(n, 1), b = random_floats(n, 2);
    double exact = 0;
    for (int64_t i = 0; i < n; ++i) exact += static_cast<double>(a[i]) * b[i];
    auto [s, v] = both_levels([&] { return std::vector<float>{dot_f32(a.data(), b.data(), n)}; });
    EXPECT_NEAR(s[0], exact, 1e-5 * std::sqrt(static_cast<double>(n)) + 1e-6);
    EXPECT_NEAR(v[0], exact, 1e-5 * std::sqrt(static_cast<double>(n)) + 1e-6);
    auto [ys, yv] = both_levels([&] {
      std::vector<float> y = b;
      axpy_f32(0.75f, a.data(), y.data(), n);
      return y;
    });
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(ys[i], b[i] + 0.75 * a[i], 1e-6);
    expect_close(ys, yv, 1e-6f, 1e-7f, "axpy");
  }
}

TEST(Ops, Norms) {
  for (int64_t n : kSizes) {
    const auto x = random_floats(n, 3, 2.0f), w = random_floats(n, 4), b = random_floats(n, 5);
    auto [rs, rv] = both_levels([&] {
      std::vector<float> y(n);
      rmsnorm(x.data(), w.data(), y.data(), n, 1e-6f);
      return y;
    });
    double ss = 0;
    for (float v : x) ss += static_cast<double>(v) * v;
    const double scale = 1.0 / std::sqrt(ss / n + 1e-6);
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(rs[i], x[i] * scale * w[i], 1e-5 * (1 + std::fabs(rs[i])));
    expect_close(rs, rv, 1e-5f, 1e-6f, "rmsnorm");
    auto [ls, lv] = both_levels([&] {
      std::vector<float> y(n);
      layernorm(x.data(), w.data(), b.data(), y.data(), n, 1e-5f);
      return y;
    });
    expect_close(ls, lv, 1e-5f, 1e-5f, "layernorm");
  }
}

TEST(Ops, SoftmaxSwigluGelu) {
  for (int64_t n : kSizes) {
    auto x = random_floats(n, 6, 4.0f);
    if (n > 2) x[1] = -INFINITY;  // masked score
    auto [ss, sv] = both_levels([&] {
      std::vector<float> y = x;
      softmax_inplace(y.data(), n);
      return y;
    });
    double mx = -INFINITY, sum = 0;
    for (float v : x) mx = std::max<double>(mx, v);
    for (float v : x) sum += std::exp(v - mx);
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(sv[i], std::exp(x[i] - mx) / sum, 1e-6);
    if (n > 2) {
      EXPECT_EQ(sv[1], 0.0f);
    }
    expect_close(ss, sv, 1e-5f, 1e-7f, "softmax");

    const auto g = random_floats(n, 7, 3.0f), u = random_floats(n, 8);
    auto [ws, wv] = both_levels([&] {
      std::vector<float> y(n);
      swiglu(g.data(), u.data(), y.data(), n);
      return y;
    });
    for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(wv[i], g[i] / (1 + std::exp(-static_cast<double>(g[i]))) * u[i], 1e-5);
    expect_close(ws, wv, 1e-5f, 1e-6f, "swiglu");

    auto [gs, gv] = both_levels([&] {
      std::vector<float> y = g;
      gelu_inplace(y.data(), n);
      return y;
    });
    for (int64_t i = 0; i < n; ++i) {
      const double v = g[i];
      EXPECT_NEAR(gv[i], 0.5 * v * (1 + std::tanh(0.7978845608028654 * v * (1 + 0.044715 * v * v))), 1e-5);
    }
    expect_close(gs, gv, 1e-5f, 1e-6f, "gelu");
  }
}

// Every one of the 65,536 F16 and BF16 values (subnormals, infinities, NaNs)
// widens to the same f32 bits at the SIMD level as in the scalar reference; a
// length that is not a multiple of the vector leaves a tail.
TEST(Ops, F16WideningIsExactForEveryValue) {
  std::vector<uint16_t> all(65536 + 5);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint16_t>(i * 40503u);  // odd: every value
  for (auto widen : {&f16_to_f32, &bf16_to_f32}) {
    auto [ref, fast] = both_levels([&] {
      std::vector<float> out(all.size());
      widen(all.data(), out.data(), static_cast<int64_t>(out.size()));
      return out;
    });
    for (size_t i = 0; i < all.size(); ++i) {
      uint32_t a, b;
      std::memcpy(&a, &ref[i], 4);
      std::memcpy(&b, &fast[i], 4);
      if (std::isnan(ref[i])) ASSERT_TRUE(std::isnan(fast[i])) << all[i];
      else ASSERT_EQ(a, b) << all[i];
    }
  }
}

TEST(Ops, F16RoundingMatchesTheScalarReference) {
  // Every F16 value, the midpoints between neighbours (ties go to the even one),
  // a step either side of them, overflow, F16 subnormals and random floats: the
  // F16C path gives the scalar reference's bits; a NaN stays a NaN.
  std::vector<float> x;
  for (uint32_t h = 0; h < 65536; ++h) {
    const float v = fp16_to_fp32(static_cast<uint16_t>(h)), next = fp16_to_fp32(static_cast<uint16_t>(h + 1));
    x.push_back(v);
    if (std::isfinite(v) && std::isfinite(next) && (h & 0x7FFF) != 0x7BFF) {
      const float mid = v + (next - v) / 2;
      x.insert(x.end(), {mid, std::nextafter(mid, v), std::nextafter(mid, next)});
    }
  }
  x.insert(x.end(), {65519.0f, 65520.0f, 1e6f, -1e6f, 1e-8f, 3e-8f, -5.96e-8f, 1e-40f});
  for (float v : random_floats(1003, 17, 100.0f)) x.push_back(v);
  auto [ref, fast] = both_levels([&] {
    std::vector<uint16_t> out(x.size());
    f32_to_f16(x.data(), out.data(), static_cast<int64_t>(out.size()));
    return out;
  });
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i])) ASSERT_TRUE(std::isnan(fp16_to_fp32(fast[i]))) << i;
    else ASSERT_EQ(ref[i], fast[i]) << x[i];
  }
}

TEST(Ops, SwigluValueDoesNotDependOnWhereTheArrayEnds) {
  // A batch's SwiGLU runs over all its tokens at once: a value must come out the
  // same whether it falls in the last n % 8 of the array or not.
  const std::vector<float> g = random_floats(40, 8, 4.0f), u = random_floats(40, 9, 2.0f);
  std::vector<float> whole(40), part(40);
  swiglu(g.data(), u.data(), whole.data(), 40);
  for (int64_t n = 1; n < 40; ++n) {
    swiglu(g.data(), u.data(), part.data(), n);
    EXPECT_TRUE(std::equal(part.begin(), part.begin() + n, whole.begin())) << n;
  }
}

TEST(Ops, LogSumExpAgainstFloat64) {
  std::vector<int64_t> sizes(std::begin(kSizes), std::end(kSizes));
  sizes.push_back(151936);  // a Qwen vocabulary: many float blocks summed in double
  for (int64_t n : sizes) {
    auto x = random_floats(n, 10, 12.0f);
    if (n > 2) x[1] = -INFINITY;  // a masked logit
    double mx = -INFINITY, sum = 0;
    for (float v : x) mx = std::max<double>(mx, v);
    for (float v : x) sum += std::exp(v - mx);
    const double exact = mx + std::log(sum);
    auto [s, v] = both_levels([&] { return std::vector<float>{static_cast<float>(log_sum_exp(x.data(), n))}; });
    EXPECT_NEAR(s[0], exact, 1e-5 * (1 + std::fabs(exact))) << n;
    EXPECT_NEAR(v[0], exact, 1e-5 * (1 + std::fabs(exact))) << n;
  }
}

TEST(Ops, Rope) {
  for (bool neox : {false, true})
    for (int64_t head_dim : {8, 32, 64, 128}) {
      const int64_t n_heads = 3, n_rot = head_dim;
      const auto x = random_floats(n_heads * head_dim, 9);
      auto [s, v] = both_levels([&] {
        std::vector<float> y = x;
        rope_inplace(y.data(), n_heads, head_dim, n_rot, 17, 10000.0f, 1.0f, neox);
        return y;
      });
      for (int64_t h = 0; h < n_heads; ++h)
        for (int64_t i = 0; i < n_rot / 2; ++i) {
          const double th = 17.0 * std::pow(10000.0, -2.0 * i / n_rot);
          const int64_t a = h * head_dim + (neox ? i : 2 * i), b = h * head_dim + (neox ? i + n_rot / 2 : 2 * i + 1);
          EXPECT_NEAR(v[a], x[a] * std::cos(th) - x[b] * std::sin(th), 2e-5);
          EXPECT_NEAR(v[b], x[a] * std::sin(th) + x[b] * std::cos(th), 2e-5);
        }
      expect_close(s, v, 1e-6f, 1e-6f, "rope");
    }
}

TEST(Ops, IsaSelection) {
  const Isa saved = active_isa();
  EXPECT_EQ(set_isa(Isa::Scalar), Isa::Scalar);
  EXPECT_EQ(active_isa(), Isa::Scalar);
  EXPECT_EQ(set_isa(Isa::Avx512), detected_isa());  // clamped to what the CPU has
  Isa parsed;
  EXPECT_TRUE(isa_from_name("avx2", &parsed));
  EXPECT_EQ(parsed, Isa::Avx2);
  EXPECT_FALSE(isa_from_name("sse9", &parsed));
  set_isa(saved);
}

// The probe reads exactly the volume it divides by, its figures follow from its
// pass times, no pass was faster than the wall clock around the whole call
// allows, and a timed memcpy of the same buffer and a second probe agree within
// loose factors. Those compare best passes: on a shared box a descheduled thread
// can slow every pass of one probe (medians 1-20 GB/s seen back to back).
TEST(Ops, ReadBandwidthProbeCountsWhatItReads) {
  ThreadPool pool(2);
  const size_t bytes = (size_t{8} << 20) + 1000;  // not a whole number of 4 KiB pages
  const int passes = 5;
  const auto t0 = std::chrono::steady_clock::now();
  const ReadBandwidth bw = measure_read_bandwidth(pool, bytes, passes);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(bw.buffer_bytes, size_t{8} << 20);
  EXPECT_EQ(bw.bytes_read, uint64_t{passes} * (uint64_t{8} << 20));
  ASSERT_EQ(bw.pass_seconds.size(), size_t{passes});
  std::vector<double> gbs;
  double timed = 0;
  for (double s : bw.pass_seconds) gbs.push_back(8.0 * (1 << 20) / s / 1e9), timed += s;
  std::sort(gbs.begin(), gbs.end());
  EXPECT_DOUBLE_EQ(bw.min_gbs, gbs[0]);
  EXPECT_DOUBLE_EQ(bw.median_gbs, gbs[2]);
  EXPECT_DOUBLE_EQ(bw.max_gbs, gbs[4]);
  EXPECT_LE(timed, wall);
  EXPECT_GE(bw.max_gbs, static_cast<double>(bw.bytes_read) / wall / 1e9);

  // A single-threaded memcpy of the same volume reads it at a rate of the same order.
  std::vector<uint8_t> src(size_t{8} << 20, 1), dst(src.size());
  std::vector<double> copy_gbs;
  for (int i = 0; i < 5; ++i) {
    const auto c0 = std::chrono::steady_clock::now();
    std::memcpy(dst.data(), src.data(), src.size());
    copy_gbs.push_back(static_cast<double>(src.size()) /
                       std::chrono::duration<double>(std::chrono::steady_clock::now() - c0).count() / 1e9);
    src[static_cast<size_t>(i)] = dst[static_cast<size_t>(i) + 1];  // keep the copies observable
  }
  const double copy_best = *std::max_element(copy_gbs.begin(), copy_gbs.end());
  EXPECT_GT(bw.max_gbs, copy_best / 10) << "memcpy " << copy_best << " GB/s";
  EXPECT_LT(bw.max_gbs, copy_best * 50) << "memcpy " << copy_best << " GB/s";
  // (How repeatable the probe is depends on what else holds the cores: `bench gen`
  // prints its figure, and docs/PERFORMANCE.md quotes figures measured side by side.)
}

TEST(Ops, FmaPeakProbeRunsAtTheActiveLevel) {
  // `bench roofline`'s FMA peak: a positive rate at the width of the level it ran at.
  ThreadPool pool(1);
  const Isa saved = active_isa();
  for (Isa isa : {Isa::Scalar, saved}) {
    set_isa(isa);
    const FmaPeak p = measure_fma_peak(pool, 0.01);
    EXPECT_GT(p.gflops, 0.0);
    EXPECT_EQ(p.vector_bits, isa == Isa::Avx512 ? 512 : isa == Isa::Avx2 ? 256 : 32);
  }
  set_isa(saved);
}

}  // namespace
}  // namespace edgerag
