// The packed weight layout (tensor/repack.h): packing round-trips exactly, and
// matmul over packed weights (every ISA level: AVX-512 runs the packed kernels,
// lower levels unpack groups on the fly) matches the scalar reference on the
// plain matrix, which quantizes the activations the same way, to float
// summation order. Odd shapes: rows not a multiple of the 16-row group (the
// tail stays plain), odd group counts (the float tiles take 2 groups at once),
// odd float element counts, token counts around the 6- and 8-token register
// tiles, 1 token, several threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "tensor/cpu_features.h"
#include "tensor/matmul_kernels.h"
#include "tensor/repack.h"
#include "tensor_test_util.h"

namespace edgerag {
namespace {

using test::random_floats;

struct Weights {
  std::vector<uint8_t> plain, packed;
  Matrix m, p;  // plain and packed views
};

Weights make_weights(DType t, int64_t cols, int64_t rows, uint32_t seed) {
  const auto src = random_floats(static_cast<size_t>(cols * rows), seed, 0.5f);
  Weights w;
  const size_t rb = row_size(t, cols);
  w.plain.resize(rb * static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) quantize_row(t, src.data() + r * cols, w.plain.data() + r * rb, cols);
  w.packed = w.plain;
  w.m = Matrix::of(t, cols, rows, w.plain.data());
  w.p = Matrix::of(t, cols, rows, w.packed.data());
  return w;
}

bool packed_kernels_here(DType t) { return packed_kernel_for(t, active_isa()) != nullptr; }  // the level EDGERAG_ISA forces

const DType kPackedTypes[] = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0,
                               DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::F16, DType::BF16};

// Columns come in units of a block (32 elements for the float types).
int64_t block_of(DType t) { return std::max<int64_t>(32, dtype_traits(t).block_size); }

TEST(PackedMatmul, PackingRoundTripsAndKeepsTheTailPlain) {
  for (DType t : kPackedTypes) {
    const int64_t cols = 3 * block_of(t);
    Weights w = make_weights(t, cols, 37, 3);
    ASSERT_EQ(pack_rows(w.p, w.packed.data()), packed_kernels_here(t)) << dtype_name(t);
    if (!w.p.packed) continue;
    EXPECT_EQ(w.p.packed_rows(), 32);
    EXPECT_NE(w.packed, w.plain);
    // The 5 tail rows are untouched, every group unpacks to the original rows.
    const size_t group = static_cast<size_t>(kPackRows) * w.m.row_bytes;
    EXPECT_TRUE(std::equal(w.packed.begin() + 2 * group, w.packed.end(), w.plain.begin() + 2 * group));
    std::vector<uint8_t> rows(group);
    for (int64_t g = 0; g < 2; ++g) {
      unpack_group(w.p, g, rows.data());
      EXPECT_TRUE(std::equal(rows.begin(), rows.end(), w.plain.begin() + g * group)) << dtype_name(t) << " group " << g;
    }
    std::vector<uint8_t> row(w.m.row_bytes);
    for (int64_t r : {0, 5, 15, 16, 31}) {
      unpack_row(w.p, r, row.data());
      EXPECT_TRUE(std::equal(row.begin(), row.end(), w.plain.begin() + r * w.m.row_bytes)) << dtype_name(t) << " row " << r;
    }
    // get_row reads packed rows too.
    std::vector<float> a(static_cast<size_t>(cols)), b(a.size());
    for (int64_t r : {0, 15, 17, 31, 32, 36}) {
      get_row(w.m, r, a.data());
      get_row(w.p, r, b.data());
      EXPECT_EQ(a, b) << dtype_name(t) << " row " << r;
    }
    EXPECT_FALSE(pack_rows(w.p, w.packed.data()));  // already packed
  }
}

TEST(PackedMatmul, EachIsaLevelPacksTheTypesItHasKernelsFor) {
  struct IsaGuard {
    Isa saved = active_isa();
    ~IsaGuard() { set_isa(saved); }
  } guard;
  const bool avx2 = set_isa(Isa::Avx2) == Isa::Avx2;  // AVX2: all but Q8_0, Q5_K and Q6_K
  for (DType t : kPackedTypes)
    EXPECT_EQ(packing_pays(t), avx2 && t != DType::Q8_0 && t != DType::Q5_K && t != DType::Q6_K) << dtype_name(t);
  set_isa(Isa::Scalar);
  for (DType t : kPackedTypes) EXPECT_FALSE(packing_pays(t)) << dtype_name(t);
}

TEST(PackedMatmul, OnlyTypesWithALayoutAndFullGroupsArePacked) {
  Weights k = make_weights(DType::ER_NF4, 64, 32, 1);
  EXPECT_FALSE(pack_rows(k.p, k.packed.data()));
  Weights few = make_weights(DType::Q4_0, 64, 15, 1);
  EXPECT_FALSE(pack_rows(few.p, few.packed.data()));
  EXPECT_EQ(few.packed, few.plain);
}

TEST(PackedMatmul, MatchesScalarReferenceOnOddShapes) {
  struct IsaGuard {
    Isa saved = active_isa();
    ~IsaGuard() { set_isa(saved); }
  } guard;
  ThreadPool pools[] = {ThreadPool(1), ThreadPool(2), ThreadPool(3), ThreadPool(8)};
  struct Shape { int64_t cols, rows; };
  for (DType t : kPackedTypes)
    for (Shape sh : {Shape{1, 16}, Shape{3, 17}, Shape{2, 37}, Shape{10, 100}, Shape{28, 64}, Shape{4, 83}}) {
      if (block_of(t) == QK_K && sh.cols > 3) continue;  // 256-element blocks: long rows already
      // cols counted in blocks above; the float tiles step over elements (F16) or
      // element pairs (BF16) two at a time: odd-row shapes give them an odd count.
      const int64_t odd = sh.rows % 2 ? (t == DType::F16 ? 1 : t == DType::BF16 ? 2 : 0) : 0;
      const Shape s{sh.cols * block_of(t) + odd, sh.rows};
      Weights w = make_weights(t, s.cols, s.rows, 11u + static_cast<uint32_t>(s.rows));
      pack_rows(w.p, w.packed.data());
      for (int64_t nt : {1, 2, 3, 6, 7, 8, 9, 17, 64}) {
        const auto x = random_floats(static_cast<size_t>(nt * s.cols), 7u + static_cast<uint32_t>(nt));
        std::vector<float> ref(static_cast<size_t>(nt * s.rows));
        matmul_ref(w.m, x.data(), nt, ref.data());
        // Relative to sum |w x|: the integer block dots are exact, only the float
        // sum over blocks (and fma vs mul + add) may round differently.
        const auto mag = test::abs_product_sums(w.m, x, nt);
        for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
          if (static_cast<int>(isa) > static_cast<int>(detected_isa())) continue;
          set_isa(isa);
          for (auto& pool : pools) {
            std::vector<float> y(ref.size(), NAN);
            matmul(w.p, x.data(), nt, y.data(), &pool);
            for (size_t i = 0; i < y.size(); ++i)
              ASSERT_NEAR(y[i], ref[i], 1e-5 * mag[i] + 1e-6)
                  << dtype_name(t) << " isa=" << isa_name(isa) << " threads=" << pool.size() << " cols=" << s.cols
                  << " rows=" << s.rows << " nt=" << nt << " i=" << i;
          }
        }
        std::vector<float> y(ref.size(), NAN);  // the reference itself reads packed weights
        matmul_ref(w.p, x.data(), nt, y.data());
        EXPECT_EQ(y, ref) << dtype_name(t);
      }
    }
}

// The AVX2 packed kernels do the AVX-512 ones' float operations in the same
// order: the same bits at both levels (odd rows and tokens, several threads).
TEST(PackedMatmul, Avx2AndAvx512PackedKernelsAgreeBitForBit) {
  struct IsaGuard {
    Isa saved = active_isa();
    ~IsaGuard() { set_isa(saved); }
  } guard;
  ThreadPool pool(3);
  for (DType t : {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q4_K, DType::F16}) {
    const int64_t cols = (block_of(t) == QK_K ? 3 : 9) * block_of(t) + (t == DType::F16), rows = 37, nt = 11;
    Weights w = make_weights(t, cols, rows, 21);
    pack_rows(w.p, w.packed.data());
    const auto x = random_floats(static_cast<size_t>(nt * cols), 23);
    std::vector<float> y[2];
    for (Isa isa : {Isa::Avx2, Isa::Avx512}) {
      set_isa(isa);
      y[isa == Isa::Avx512].assign(static_cast<size_t>(nt * rows), NAN);
      matmul(w.p, x.data(), nt, y[isa == Isa::Avx512].data(), &pool);
    }
    if (detected_isa() == Isa::Avx512) {
      EXPECT_EQ(y[0], y[1]) << dtype_name(t);
    }
  }
}

// Activations at the quantizers' extremes (every block's quants at +-127) push
// the kernels' integer intermediates (int16 pair sums, scaled offsets) to their
// largest values: still the reference's result, at every level.
TEST(PackedMatmul, ExtremeActivationsStayExact) {
  struct IsaGuard {
    Isa saved = active_isa();
    ~IsaGuard() { set_isa(saved); }
  } guard;
  for (DType t : kPackedTypes) {
    const int64_t cols = 2 * std::max<int64_t>(block_of(t), QK_K), rows = 32, nt = 3;
    Weights w = make_weights(t, cols, rows, 31);
    pack_rows(w.p, w.packed.data());
    std::vector<float> x(static_cast<size_t>(nt * cols));
    for (size_t i = 0; i < x.size(); ++i) x[i] = i < static_cast<size_t>(cols) ? 1.0f : (i / 7) % 2 ? 3.0f : -3.0f;
    std::vector<float> ref(static_cast<size_t>(nt * rows));
    matmul_ref(w.m, x.data(), nt, ref.data());
    const auto mag = test::abs_product_sums(w.m, x, nt);
    for (Isa isa : {Isa::Avx2, Isa::Avx512}) {
      if (static_cast<int>(isa) > static_cast<int>(detected_isa())) continue;
      set_isa(isa);
      std::vector<float> y(ref.size(), NAN);
      matmul(w.p, x.data(), nt, y.data(), nullptr);
      for (size_t i = 0; i < y.size(); ++i)
        ASSERT_NEAR(y[i], ref[i], 1e-5 * mag[i] + 1e-6) << dtype_name(t) << " isa=" << isa_name(isa) << " i=" << i;
    }
  }
}

// Batch invariance: a token's output row is bit-identical whether it is
// multiplied alone (the decode GEMV) or inside a batch of any size, at any
// thread count, in packed groups and in the plain tail rows alike (what
// speculative decoding's exact verification relies on), at every ISA level
// (lower levels unpack the groups), also for types without a packed layout.
TEST(PackedMatmul, TokenResultsDoNotDependOnTheBatch) {
  struct IsaGuard {
    Isa saved = active_isa();
    ~IsaGuard() { set_isa(saved); }
  } guard;
  ThreadPool pool1(1), pool3(3);
  std::vector<DType> types(std::begin(kPackedTypes), std::end(kPackedTypes));
  types.insert(types.end(), {DType::F32, DType::ER_NF4, DType::ER_Q4_G64, DType::ER_Q3_G32});
  for (DType t : types) {
    const int64_t cols = (block_of(t) == QK_K ? 2 : 8) * block_of(t), rows = 53;
    Weights w = make_weights(t, cols, rows, 5);
    pack_rows(w.p, w.packed.data());
    const int64_t nt = 13;
    const auto x = random_floats(static_cast<size_t>(nt * cols), 9);
    for (Isa isa : {Isa::Scalar, Isa::Avx2, Isa::Avx512}) {
      if (static_cast<int>(isa) > static_cast<int>(detected_isa())) continue;
      set_isa(isa);
      std::vector<float> batch(static_cast<size_t>(nt * rows)), one(static_cast<size_t>(rows));
      matmul(w.p, x.data(), nt, batch.data(), &pool3);
      for (int64_t k = 0; k < nt; ++k) {
        matmul(w.p, x.data() + k * cols, 1, one.data(), &pool1);
        EXPECT_TRUE(std::equal(one.begin(), one.end(), batch.begin() + k * rows))
            << dtype_name(t) << " isa=" << isa_name(isa) << " token " << k;
        // The same token second in a batch of 2 (another tile height).
        std::vector<float> two(static_cast<size_t>(2 * rows)), xx(static_cast<size_t>(2 * cols));
        std::copy_n(x.data() + ((k + 1) % nt) * cols, cols, xx.begin());
        std::copy_n(x.data() + k * cols, cols, xx.begin() + cols);
        matmul(w.p, xx.data(), 2, two.data(), &pool3);
        EXPECT_TRUE(std::equal(one.begin(), one.end(), two.begin() + rows))
            << dtype_name(t) << " isa=" << isa_name(isa) << " token " << k;
      }
    }
  }
}

}  // namespace
}  // namespace edgerag
