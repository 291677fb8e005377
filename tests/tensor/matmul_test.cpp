// matmul: every ISA level available here against the scalar reference (same
// activation conversion, so only summation order differs) and against exact
// float64 math on dequantized weights (bounded by activation quantization).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "tensor/cpu_features.h"
#include "tensor/fp16.h"
#include "tensor/matmul_kernels.h"
#include "tensor/ops.h"
#include "util/error.h"
#include "tensor_test_util.h"

namespace edgerag {
namespace {

struct IsaGuard {
  Isa saved = active_isa();
  ~IsaGuard() { set_isa(saved); }
};

std::vector<Isa> available_isas() {
  std::vector<Isa> out;
  for (Isa i : {Isa::Scalar, Isa::Avx2, Isa::Avx512})
    if (static_cast<int>(i) <= static_cast<int>(detected_isa())) out.push_back(i);
  return out;
}

using test::random_floats;

struct Quantized {
  std::vector<uint8_t> bytes;
  Matrix m;
};

Quantized make_matrix(DType t, int64_t cols, int64_t rows, uint32_t seed) {
  const auto src = random_floats(static_cast<size_t>(cols * rows), seed, 0.5f);
  Quantized q;
  const size_t rb = row_size(t, cols);
  q.bytes.resize(rb * rows);
  for (int64_t r = 0; r < rows; ++r) quantize_row(t, src.data() + r * cols, q.bytes.data() + r * rb, cols);
  q.m = Matrix::of(t, cols, rows, q.bytes.data());
  return q;
}

const DType kTypes[] = {DType::F32,       DType::F16,       DType::BF16,      DType::Q8_0,       DType::Q4_0,
                        DType::Q4_1,      DType::Q5_0,      DType::Q5_1,      DType::Q4_K,       DType::Q5_K,
                        DType::Q6_K,      DType::ER_NF4,    DType::ER_Q4_G64, DType::ER_Q4_G128, DType::ER_Q3_G32,
                        DType::ER_Q3_G64, DType::ER_Q3_G128, DType::ER_Q2_G32, DType::ER_Q2_G64, DType::ER_Q2_G128,
                        DType::ER_NF4_DQ, DType::ER_Q3_G16_BL};

// Float64 dot product of dequantized weights and activations, and sum |w x| (the
// scale of float32 rounding error).
std::pair<double, double> exact_dot(const float* w, const float* x, int64_t n) {
  double dot = 0, mag = 0;
  for (int64_t c = 0; c < n; ++c) {
    dot += static_cast<double>(w[c]) * x[c];
    mag += std::fabs(static_cast<double>(w[c]) * x[c]);
  }
  return {dot, mag};
}

int64_t block_of(DType t) { return std::max(32, dtype_traits(t).block_size); }

TEST(Matmul, AllIsasMatchScalarReference) {
  IsaGuard guard;
  ThreadPool pools[] = {ThreadPool(1), ThreadPool(2), ThreadPool(3), ThreadPool(8)};
  for (DType t : kTypes) {
    const int64_t bs = block_of(t);
    struct Shape { int64_t cols, rows; };
    std::vector<Shape> shapes = {{bs, 1}, {bs, 7}, {bs * 3, 13}, {bs * 2, 37}};
    if (dtype_traits(t).block_size == 1) shapes.push_back({37, 5});  // float types: a vector tail
    for (Shape s : shapes) {
      const Quantized w = make_matrix(t, s.cols, s.rows, 11u + static_cast<uint32_t>(s.rows));
      for (int64_t nt : {1, 2, 3, 17, 64}) {
        const auto x = random_floats(static_cast<size_t>(nt * s.cols), 7u + static_cast<uint32_t>(nt));
        std::vector<float> ref(static_cast<size_t>(nt * s.rows));
        matmul_ref(w.m, x.data(), nt, ref.data());
        const auto mag = test::abs_product_sums(w.m, x, nt);  // tolerance: float reordering over sum |w x|
        for (Isa isa : available_isas()) {
          set_isa(isa);
          for (auto& pool : pools) {
            std::vector<float> y(ref.size(), NAN);
            matmul(w.m, x.data(), nt, y.data(), &pool);
            for (size_t i = 0; i < y.size(); ++i)
              ASSERT_NEAR(y[i], ref[i], 2e-6 * mag[i] + 1e-6)
                  << dtype_name(t) << " isa=" << isa_name(isa) << " threads=" << pool.size() << " cols=" << s.cols
                  << " rows=" << s.rows << " nt=" << nt << " i=" << i;
          }
        }
      }
    }
  }
}

TEST(Matmul, CloseToExactMath) {
  // Activation quantization (8 bits per block of 32/256) bounds the error.
  for (DType t : kTypes) {
    const int64_t cols = block_of(t) * 4, rows = 9, nt = 3;
    const Quantized w = make_matrix(t, cols, rows, 5);
    const auto x = random_floats(static_cast<size_t>(nt * cols), 3);
    std::vector<float> y(static_cast<size_t>(nt * rows)), deq(cols);
    matmul(w.m, x.data(), nt, y.data(), nullptr);
    const double rel = t == DType::F32 ? 1e-6 : (t == DType::F16 || t == DType::BF16) ? 1e-2 : 2e-2;
    for (int64_t r = 0; r < rows; ++r) {
      get_row(w.m, r, deq.data());
      for (int64_t k = 0; k < nt; ++k) {
        const auto [exact, mag] = exact_dot(deq.data(), x.data() + k * cols, cols);
        EXPECT_NEAR(y[k * rows + r], exact, rel * mag) << dtype_name(t);
      }
    }
  }
}

// Activations every converter represents exactly (each 32-block: one +-127 * 2^-6,
// the rest multiples of 2^-6 within +-60, so Q8_0/Q8_1/Q8_K scales are 2^-6 and
// the Q8_1 block sums fit F16), so a kernel must equal float64 math on the
// dequantized weights up to float32 rounding. A 1% error in a weight or
// activation scale, in the kernels and their scalar references alike, is ~100x
// this bound. ER_NF4 / ER_NF4_DQ are left out: their kernels multiply an int8
// codebook (127 x the NF4 levels, rounded), not the float levels get_row returns.
TEST(Matmul, ExactActivationsMatchFloat64Tightly) {
  std::mt19937 rng(17);
  std::uniform_int_distribution<int> small(-60, 60);
  for (DType t : kTypes) {
    if (t == DType::ER_NF4 || t == DType::ER_NF4_DQ) continue;
    const int64_t cols = block_of(t) * 4, rows = 9, nt = 3;
    const Quantized w = make_matrix(t, cols, rows, 5);
    std::vector<float> x(static_cast<size_t>(nt * cols));
    for (size_t i = 0; i < x.size(); ++i)
      x[i] = std::ldexp(static_cast<float>(i % 32 == 0 ? (i % 64 ? 127 : -127) : small(rng)), -6);
    std::vector<float> y(static_cast<size_t>(nt * rows)), ref(y.size()), deq(cols);
    matmul(w.m, x.data(), nt, y.data(), nullptr);
    matmul_ref(w.m, x.data(), nt, ref.data());
    for (int64_t r = 0; r < rows; ++r) {
      get_row(w.m, r, deq.data());
      for (int64_t k = 0; k < nt; ++k) {
        const auto [exact, mag] = exact_dot(deq.data(), x.data() + k * cols, cols);
        EXPECT_NEAR(y[k * rows + r], exact, 1e-5 * mag) << dtype_name(t) << " row " << r << " token " << k;
        EXPECT_NEAR(ref[k * rows + r], exact, 1e-5 * mag) << dtype_name(t) << " scalar reference";
      }
    }
  }
}

TEST(Matmul, Q8_0ActivationsRoundHalfEvenLikeGgml) {
  // amax = 127 gives d = 1 and id = 1, so x*127/amax = x: 2.5 -> 2, -3.5 -> -4,
  // 0.5 -> 0, 1.5 -> 2 (round half to even; roundf would give 3, -4, 1, 2).
  std::vector<float> x(32, 0.0f);
  x[0] = 127, x[1] = 2.5f, x[2] = -3.5f, x[3] = 0.5f, x[4] = 1.5f;
  BlockQ8_0 wb{};
  wb.d = fp32_to_fp16(1.0f);
  for (int j = 0; j < 5; ++j) wb.qs[j] = 1;
  const Matrix w = Matrix::of(DType::Q8_0, 32, 1, &wb);
  IsaGuard guard;
  for (Isa isa : available_isas()) {
    set_isa(isa);
    float y = 0;
    matmul(w, x.data(), 1, &y, nullptr);
    EXPECT_EQ(y, 127 + 2 - 4 + 0 + 2) << isa_name(isa);  // exact math would give 128
  }
  float yr = 0;
  matmul_ref(w, x.data(), 1, &yr);
  EXPECT_EQ(yr, 127.0f);
}

TEST(Matmul, SimdActivationConvertersMatchScalarQuantizer) {
  // Random blocks, an all-zero block, exact .5 ties and a block of one huge value.
  auto x = random_floats(32 * 40, 21, 3.0f);
  std::fill_n(x.begin() + 32, 32, 0.0f);
  for (int j = 0; j < 32; ++j) x[64 + j] = static_cast<float>(j - 16) + 0.5f;
  x[96] = 1e30f;
  const int64_t n = static_cast<int64_t>(x.size());
  for (DType w : kTypes) {
    for (Isa isa : available_isas()) {
      const MatmulKernel* k = kernel_for(w, isa);
      if (!k->convert) continue;
      const size_t bytes = row_size(k->act_type, n);
      std::vector<uint8_t> ref(bytes), got(bytes, 0xAB);
      quantize_activations(k->act_type, x.data(), ref.data(), n);
      k->convert(x.data(), got.data(), n);
      // Converters for formats unpacked out of element order store each block's
      // quants permuted (the matmul tests check the order): same scale/sum bytes,
      // same multiset of quants.
      const size_t block = bytes / static_cast<size_t>(n / 32), head = block - 32;
      for (size_t b = 0; b < bytes; b += block) {
        ASSERT_TRUE(std::equal(got.begin() + b, got.begin() + b + head, ref.begin() + b)) << dtype_name(w);
        std::sort(got.begin() + b + head, got.begin() + b + block);
        std::sort(ref.begin() + b + head, ref.begin() + b + block);
      }
      EXPECT_EQ(got, ref) << dtype_name(w) << " isa=" << isa_name(isa);
    }
  }
}

TEST(Matmul, UnsupportedWeightTypeIsAnError) {
  // Q2_K blocks can be read from GGUF files but have no dequantizer or kernel.
  const std::vector<uint8_t> blocks(row_size(DType::Q2_K, 256) * 2);
  const Matrix w = Matrix::of(DType::Q2_K, 256, 2, blocks.data());
  const auto x = random_floats(256, 1);
  float y[2];
  EXPECT_THROW(matmul(w, x.data(), 1, y, nullptr), Error);
}

}  // namespace
}  // namespace edgerag
