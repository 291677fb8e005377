// Every Vulkan shader against the CPU scalar references over odd shapes, on
// whatever Vulkan device the machine has (CI: Mesa's lavapipe). No skipping:
// a missing device is a failure.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "backend/vulkan/vk_ops.h"
#include "tensor/ops.h"
#include "util/error.h"

namespace edgerag {
namespace {

std::vector<float> random_floats(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// rows x cols random weights in type t's file layout.
std::vector<uint8_t> random_weights(DType t, int64_t cols, int64_t rows, uint32_t seed) {
  const auto wf = random_floats(rows * cols, seed);
  const size_t rb = row_size(t, cols);
  std::vector<uint8_t> wq(rb * rows);
  for (int64_t r = 0; r < rows; ++r) quantize_row(t, wf.data() + r * cols, wq.data() + r * rb, cols);
  return wq;
}

vk::BufferPtr device_floats(vk::Context& ctx, const std::vector<float>& v) {
  return vk::upload_floats(ctx, v.data(), static_cast<int64_t>(v.size()));
}

vk::BufferPtr device_ints(vk::Context& ctx, const std::vector<int32_t>& v) {
  vk::BufferPtr b = ctx.alloc(v.size() * 4);
  ctx.upload(*b, v.data(), v.size() * 4);
  return b;
}

std::vector<float> read(vk::Context& ctx, const vk::Buffer& b, size_t n) {
  std::vector<float> v(n);
  ctx.download(b, v.data(), n * 4);
  return v;
}

void expect_near_rel(const std::vector<float>& got, const std::vector<double>& want, double rel, const char* what) {
  ASSERT_EQ(got.size(), want.size());
  double scale = 1e-6;
  for (double w : want) scale = std::max(scale, std::abs(w));
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_NEAR(got[i], want[i], rel * scale) << what << " at " << i;
}

// softmax(q . k_j * scale) weighted sum of v_j over the given key/value rows, in double.
std::vector<double> attend_ref(const float* q, const std::vector<const float*>& keys,
                               const std::vector<const float*>& vals, int64_t head_dim, double scale) {
  std::vector<double> sc(keys.size()), out(head_dim, 0.0);
  double mx = -1e300, sum = 0;
  for (size_t j = 0; j < keys.size(); ++j) {
    double d = 0;
    for (int64_t e = 0; e < head_dim; ++e) d += double(q[e]) * keys[j][e];
    sc[j] = d * scale;
    mx = std::max(mx, sc[j]);
  }
  for (double& x : sc) sum += (x = std::exp(x - mx));
  for (size_t j = 0; j < keys.size(); ++j)
    for (int64_t e = 0; e < head_dim; ++e) out[e] += sc[j] / sum * vals[j][e];
  return out;
}

class VulkanOps : public ::testing::Test {
 protected:
  void SetUp() override { ctx = vk::Context::shared(); }
  std::shared_ptr<vk::Context> ctx;
};

TEST_F(VulkanOps, DeviceIsOpened) {
  EXPECT_FALSE(ctx->device_name().empty());
  EXPECT_GT(ctx->max_buffer_bytes(), 0u);
  // CI's lavapipe has arithmetic subgroups, so both matmul paths are tested there.
  if (std::string_view(ctx->device_type()) == "cpu") {
    EXPECT_GT(ctx->subgroup_size(), 0u);
    // Debian bookworm's lavapipe has integer dot products (so the int-dot kernels
    // are tested there) but no cooperative matrices.
    EXPECT_TRUE(ctx->features().integer_dot);
    EXPECT_FALSE(ctx->features().cooperative_matrix);
  }
  EXPECT_EQ(ctx->features().subgroup_size, ctx->subgroup_size());
}

// The kernel choice: int-dot for Q8_0/Q4_0/Q4_1 where the device has integer dot
// products; else tiled from 16 tokens, below that subgroup reductions only where the
// device has them and they are on; cooperative matrices select nothing (no such kernel).
TEST_F(VulkanOps, MatmulKernelSelection) {
  using K = vk::MatmulKernel;
  const vk::MatmulFeatures none{}, sg{32, false, false}, coop{0, true, false}, dot{0, false, true}, all{32, true, true};
  struct Case {
    vk::MatmulFeatures f;
    bool use_subgroups;
    int64_t n_tokens;
    K without_intdot, with_intdot;  // for a weight type without / with int-dot kernels
  };
  for (const Case& c : {Case{none, true, 1, K::Plain, K::Plain}, Case{none, true, 16, K::Tiled, K::Tiled},
                        Case{coop, true, 1, K::Plain, K::Plain}, Case{coop, true, 16, K::Tiled, K::Tiled},
                        Case{sg, true, 15, K::Subgroup, K::Subgroup}, Case{sg, true, 16, K::Tiled, K::Tiled},
                        Case{dot, true, 1, K::Plain, K::IntDot}, Case{dot, false, 16, K::Tiled, K::IntDotTiled},
                        Case{all, false, 8, K::Plain, K::IntDot}, Case{all, true, 15, K::Subgroup, K::IntDot},
                        Case{all, true, 16, K::Tiled, K::IntDotTiled}}) {
    SCOPED_TRACE(fmt::format("subgroup size {}, coop {}, dot {}, use_subgroups {}, {} tokens", c.f.subgroup_size,
                             c.f.cooperative_matrix, c.f.integer_dot, c.use_subgroups, c.n_tokens));
    for (DType t : {DType::F32, DType::F16, DType::Q4_K, DType::Q6_K, DType::Q8_0, DType::Q4_0, DType::Q4_1})
      EXPECT_EQ(vk::select_matmul(c.f, c.use_subgroups, t, c.n_tokens),
                vk::has_intdot(t) ? c.with_intdot : c.without_intdot)
          << dtype_name(t);
  }
  EXPECT_TRUE(vk::has_intdot(DType::Q8_0) && vk::has_intdot(DType::Q4_0) && vk::has_intdot(DType::Q4_1));
  EXPECT_FALSE(vk::has_intdot(DType::F16) || vk::has_intdot(DType::Q4_K) || vk::has_intdot(DType::Q6_K));
  // This device (lavapipe in CI: integer dot products and subgroups).
  const bool had = ctx->subgroups();
  const bool dev_dot = ctx->features().integer_dot;
  EXPECT_EQ(vk::select_matmul(ctx->features(), had, DType::Q4_0, 1), dev_dot ? K::IntDot : had ? K::Subgroup : K::Plain);
  EXPECT_EQ(vk::select_matmul(ctx->features(), had, DType::F32, 1), had ? K::Subgroup : K::Plain);
  ctx->use_subgroups(false);
  EXPECT_EQ(vk::select_matmul(ctx->features(), ctx->subgroups(), DType::F32, 1), K::Plain);
  ctx->use_subgroups(had);
  EXPECT_EQ(vk::can_run(*ctx, DType::Q4_1, K::IntDotTiled), dev_dot);
  EXPECT_FALSE(vk::can_run(*ctx, DType::F16, K::IntDot));
  EXPECT_TRUE(vk::can_run(*ctx, DType::F16, K::Tiled));
}

// The float kernels: matrix-vector (1 token), the token-tiled product (3 and 11 tokens:
// a partial and a second tile) with and without subgroup reductions, and the
// shared-memory-tiled prefill product (37 tokens) for every weight type, against
// dequantize_row + a double dot (of activations rounded to F16 / BF16 for those weights).
TEST_F(VulkanOps, MatmulEveryTypeOddShapes) {
  struct Case {
    DType type;
    int64_t cols;
  };
  for (const Case c : {Case{DType::F32, 67}, Case{DType::F16, 45}, Case{DType::BF16, 53}, Case{DType::Q8_0, 96}, Case{DType::Q4_0, 64},
                       Case{DType::Q4_1, 160}, Case{DType::Q4_K, 512}, Case{DType::Q5_K, 256},
                       Case{DType::Q6_K, 512}}) {
    SCOPED_TRACE(dtype_name(c.type));
    const int64_t rows = 37;
    const std::vector<uint8_t> wq = random_weights(c.type, c.cols, rows, 1);
    const size_t rb = row_size(c.type, c.cols);
    std::vector<float> deq(rows * c.cols);
    for (int64_t r = 0; r < rows; ++r) dequantize_row(c.type, wq.data() + r * rb, deq.data() + r * c.cols, c.cols);
    const vk::DeviceMatrix w = vk::upload_matrix(*ctx, Matrix::of(c.type, c.cols, rows, wq.data()));
    for (int64_t n : {1, 3, 11, 37}) {  // 37: the tiled prefill shader, with partial tiles
      const auto x = random_floats(n * c.cols, 2);
      // F16 / BF16 weights take the activations rounded to their type, as the CPU does.
      std::vector<float> xr = x;
      if (c.type == DType::F16 || c.type == DType::BF16) {
        std::vector<uint16_t> h(x.size());
        quantize_row(c.type, x.data(), h.data(), static_cast<int64_t>(x.size()));
        dequantize_row(c.type, h.data(), xr.data(), static_cast<int64_t>(x.size()));
      }
      std::vector<double> want(n * rows);
      for (int64_t t = 0; t < n; ++t)
        for (int64_t r = 0; r < rows; ++r) {
          double s = 0;
          for (int64_t k = 0; k < c.cols; ++k) s += double(deq[r * c.cols + k]) * xr[t * c.cols + k];
          want[t * rows + r] = s;
        }
      auto xb = device_floats(*ctx, x);
      for (bool subgroups : {true, false}) {  // subgroupAdd reductions, and the plain shared-memory tree
        ctx->use_subgroups(subgroups);
        auto yb = ctx->alloc(n * rows * 4);
        const auto kernel = n >= 16 ? vk::MatmulKernel::Tiled : subgroups ? vk::MatmulKernel::Subgroup
                                                                           : vk::MatmulKernel::Plain;
        vk::matmul(*ctx, w, *xb, n, *yb, 0, 0, kernel);
        ctx->flush();
        expect_near_rel(read(*ctx, *yb, n * rows), want, 1e-5, subgroups ? "matmul (subgroups)" : "matmul");
      }
    }
  }
  ctx->use_subgroups(true);
}

// F16 weights round the activations to F16 as the CPU does: to nearest, ties to even,
// subnormals included, bit for bit. Vulkan lets packHalf2x16 round toward zero, and an
// NVIDIA H200's did not round as the CPU does (3e-4 off in this file's F16 products), so
// the shaders round with integer operations (shaders/exact.glsl). Identity weights make
// each output one rounded activation; the values sit on, just above and beside F16 ties.
TEST_F(VulkanOps, F16ActivationsRoundToNearestEven) {
  const float u = std::ldexp(1.0f, -11), s24 = std::ldexp(1.0f, -24);
  const std::vector<float> vals = {1.0f + u,  1.0f + 3 * u,  1.0f + u + std::ldexp(1.0f, -20), -(1.0f + 3 * u),
                                   0.1f,      1.0f / 3.0f,   -3.14159265f, 1000.7f,
                                   65519.0f,  1.5f * s24,    0.5f * s24,   0.5f * s24 + std::ldexp(1.0f, -30),
                                   3e-6f,     6.1e-5f,       0.0f,         -0.0f};
  const int64_t n = static_cast<int64_t>(vals.size());
  std::vector<float> eye(n * n, 0.0f);
  for (int64_t r = 0; r < n; ++r) eye[r * n + r] = 1.0f;
  std::vector<uint16_t> wh(eye.size());
  quantize_row(DType::F16, eye.data(), wh.data(), static_cast<int64_t>(eye.size()));
  const vk::DeviceMatrix w = vk::upload_matrix(*ctx, Matrix::of(DType::F16, n, n, wh.data()));
  std::vector<uint16_t> h(vals.size());
  std::vector<float> want(vals.size());
  quantize_row(DType::F16, vals.data(), h.data(), n);
  dequantize_row(DType::F16, h.data(), want.data(), n);
  for (int64_t tokens : {1, 16}) {  // matrix-vector kernels, and the tiled prefill kernel
    std::vector<float> x;
    for (int64_t t = 0; t < tokens; ++t) x.insert(x.end(), vals.begin(), vals.end());
    auto xb = device_floats(*ctx, x);
    for (const auto kernel : {vk::MatmulKernel::Plain, vk::MatmulKernel::Subgroup, vk::MatmulKernel::Tiled}) {
      if (!vk::can_run(*ctx, DType::F16, kernel)) continue;
      auto yb = ctx->alloc(tokens * n * 4);
      vk::matmul(*ctx, w, *xb, tokens, *yb, 0, 0, kernel);
      ctx->flush();
      const auto got = read(*ctx, *yb, tokens * n);
      for (int64_t i = 0; i < tokens * n; ++i)
        ASSERT_EQ(got[i], want[i % n]) << "kernel " << static_cast<int>(kernel) << ", " << tokens << " tokens, value "
                                       << vals[i % n];
    }
  }
}

// The int-dot kernels (activations quantized to Q8 on the device) against the CPU's
// scalar matmul_ref, which quantizes them the same way (Q8_0, Q8_1 for Q4_1): the block
// products are exact integers, so only float summation order differs. Rows not a
// multiple of the 16-row tile, 1 to 37 tokens (matrix-vector tiles of 8, 16 x 16
// prefill tiles), both kernel shapes at every token count, with and without subgroup
// reductions, input and output offsets, and an all-zero activation block.
TEST_F(VulkanOps, MatmulIntDotAgainstCpuQuantizedReference) {
  ASSERT_TRUE(ctx->features().integer_dot) << ctx->device_name() << " lacks integer dot products";
  for (const DType type : {DType::Q8_0, DType::Q4_0, DType::Q4_1}) {
    for (const int64_t cols : {32, 96, 288}) {
      SCOPED_TRACE(fmt::format("{} cols {}", dtype_name(type), cols));
      const int64_t rows = 37;
      const std::vector<uint8_t> wq = random_weights(type, cols, rows, 3);
      const Matrix wm = Matrix::of(type, cols, rows, wq.data());
      const vk::DeviceMatrix w = vk::upload_matrix(*ctx, wm);
      for (const int64_t n : {1, 2, 5, 8, 9, 17, 37}) {
        const int64_t x_off = 2 * cols, y_off = 3;  // the decoder's head reads from a token offset
        auto x = random_floats((n + 2) * cols, 4 + static_cast<uint32_t>(n));
        std::fill_n(x.begin() + x_off, 32, 0.0f);  // amax 0: d = 0 and zero quants
        std::vector<float> ref(n * rows);
        matmul_ref(wm, x.data() + x_off, n, ref.data());
        const std::vector<double> want(ref.begin(), ref.end());
        auto xb = device_floats(*ctx, x);
        for (const auto kernel : {vk::MatmulKernel::IntDot, vk::MatmulKernel::IntDotTiled})
          for (bool subgroups : {true, false}) {
            ctx->use_subgroups(subgroups);
            auto yb = ctx->alloc((n * rows + y_off) * 4);
            vk::matmul(*ctx, w, *xb, n, *yb, x_off, y_off, kernel);
            ctx->flush();
            std::vector<float> got = read(*ctx, *yb, n * rows + y_off);
            got.erase(got.begin(), got.begin() + y_off);
            expect_near_rel(got, want, 2e-6,
                            fmt::format("{} tokens, {}{}", n, kernel == vk::MatmulKernel::IntDot ? "intdot" : "tiled",
                                        subgroups ? " (subgroups)" : "").c_str());
          }
      }
    }
  }
  ctx->use_subgroups(true);
}

// Without a kernel argument the product runs select_matmul's choice: int-dot for Q4_0
// here, so it gives the CPU's quantized numbers rather than the float kernels'.
TEST_F(VulkanOps, MatmulDefaultsToIntDotWhereSelected) {
  const int64_t cols = 64, rows = 19;
  const std::vector<uint8_t> wq = random_weights(DType::Q4_0, cols, rows, 5);
  const Matrix wm = Matrix::of(DType::Q4_0, cols, rows, wq.data());
  const vk::DeviceMatrix w = vk::upload_matrix(*ctx, wm);
  for (const int64_t n : {1, 20}) {
    const auto x = random_floats(n * cols, 6);
    std::vector<float> ref(n * rows);
    matmul_ref(wm, x.data(), n, ref.data());
    auto xb = device_floats(*ctx, x);
    auto yb = ctx->alloc(n * rows * 4), yf = ctx->alloc(n * rows * 4);
    vk::matmul(*ctx, w, *xb, n, *yb);
    vk::matmul(*ctx, w, *xb, n, *yf, 0, 0, n >= 16 ? vk::MatmulKernel::Tiled : vk::MatmulKernel::Plain);
    ctx->flush();
    expect_near_rel(read(*ctx, *yb, n * rows), std::vector<double>(ref.begin(), ref.end()), 2e-6, "default");
    EXPECT_NE(read(*ctx, *yb, n * rows), read(*ctx, *yf, n * rows));  // the float kernel's numbers differ
  }
  const float one = 1.0f;
  EXPECT_THROW(vk::matmul(*ctx, vk::upload_matrix(*ctx, Matrix::of(DType::F32, 1, 1, &one)), *ctx->alloc(4), 1,
                          *ctx->alloc(4), 0, 0, vk::MatmulKernel::IntDot),
               Error);
}

TEST_F(VulkanOps, GetRowsEveryType) {
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q4_K, DType::Q5_K,
                  DType::Q6_K}) {
    SCOPED_TRACE(dtype_name(t));
    const int64_t cols = 256, rows = 5;
    const std::vector<uint8_t> wq = random_weights(t, cols, rows, 3);
    const Matrix m = Matrix::of(t, cols, rows, wq.data());
    const vk::DeviceMatrix w = vk::upload_matrix(*ctx, m);
    const std::vector<int32_t> ids = {4, 0, 4, 2};
    auto idb = device_ints(*ctx, ids);
    auto yb = ctx->alloc(ids.size() * cols * 4);
    vk::get_rows(*ctx, w, *idb, 0, 4, *yb);
    ctx->flush();
    const auto got = read(*ctx, *yb, ids.size() * cols);
    std::vector<float> want(cols);
    for (size_t i = 0; i < ids.size(); ++i) {
      get_row(m, ids[i], want.data());
      for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(got[i * cols + c], want[c]) << i << "," << c;
    }
  }
}

TEST_F(VulkanOps, RmsNormSoftmaxSwigluAdd) {
  const int64_t rows = 3, n = 77;
  const auto x = random_floats(rows * n, 4), w = random_floats(n, 5), g = random_floats(rows * n, 6, -6, 6);
  auto xb = device_floats(*ctx, x), wb = device_floats(*ctx, w), yb = ctx->alloc(rows * n * 4);
  vk::rms_norm(*ctx, *xb, *wb, *yb, rows, n, 1e-5f);
  auto sb = device_floats(*ctx, g);
  vk::softmax(*ctx, *sb, rows, n);
  auto gb = device_floats(*ctx, g), ub = device_floats(*ctx, x);
  vk::swiglu(*ctx, *gb, *ub, rows * n);
  auto ab = device_floats(*ctx, x);
  vk::add(*ctx, *ab, *wb, rows * n, n);  // a broadcast bias
  ctx->flush();

  std::vector<double> norm(rows * n), soft(rows * n), sw(rows * n), added(rows * n);
  std::vector<float> ref(n);
  for (int64_t r = 0; r < rows; ++r) {
    rmsnorm(x.data() + r * n, w.data(), ref.data(), n, 1e-5f);
    for (int64_t i = 0; i < n; ++i) norm[r * n + i] = ref[i];
    std::copy(g.begin() + r * n, g.begin() + (r + 1) * n, ref.begin());
    softmax_inplace(ref.data(), n);
    for (int64_t i = 0; i < n; ++i) soft[r * n + i] = ref[i];
  }
  std::vector<float> swf(rows * n);
  swiglu(g.data(), x.data(), swf.data(), rows * n);
  for (int64_t i = 0; i < rows * n; ++i) {
    sw[i] = swf[i];
    added[i] = double(x[i]) + w[i % n];
  }
  expect_near_rel(read(*ctx, *yb, rows * n), norm, 1e-5, "rms_norm");
  expect_near_rel(read(*ctx, *sb, rows * n), soft, 1e-5, "softmax");
  expect_near_rel(read(*ctx, *gb, rows * n), sw, 1e-5, "swiglu");
  expect_near_rel(read(*ctx, *ab, rows * n), added, 1e-6, "add");
}

TEST_F(VulkanOps, RopeNormalNeoxAndFactors) {
  const int64_t n_tok = 3, heads = 3, hd = 12;
  const std::vector<int32_t> pos = {0, 5, 1029};
  for (bool neox : {false, true})
    for (int32_t n_rot : {12, 8}) {
      SCOPED_TRACE(testing::Message() << "neox " << neox << " n_rot " << n_rot);
      const auto x = random_floats(n_tok * heads * hd, 7);
      auto xb = device_floats(*ctx, x);
      auto pb = device_ints(*ctx, pos);
      const vk::RopeParams rp{int32_t(heads), int32_t(hd), n_rot, 10000.0f, 0.5f, neox};
      vk::rope(*ctx, *xb, *pb, 0, nullptr, n_tok, rp);
      ctx->flush();
      std::vector<float> ref = x;
      for (int64_t t = 0; t < n_tok; ++t)
        rope_inplace(ref.data() + t * heads * hd, heads, hd, n_rot, pos[t], 10000.0f, 0.5f, neox);
      expect_near_rel(read(*ctx, *xb, x.size()), std::vector<double>(ref.begin(), ref.end()), 2e-5, "rope");
    }
  // Llama-3.1 frequency factors: pair i rotated at scale * base^(-2i/n_rot) / factor_i.
  const auto x = random_floats(heads * hd, 8);
  const std::vector<float> factors = {1.0f, 2.0f, 4.0f, 8.0f, 1.5f, 3.0f};
  auto xb = device_floats(*ctx, x), fb = device_floats(*ctx, factors);
  auto pb = device_ints(*ctx, {7});
  vk::rope(*ctx, *xb, *pb, 0, fb.get(), 1, vk::RopeParams{int32_t(heads), int32_t(hd), 12, 10000.0f, 1.0f, false});
  ctx->flush();
  std::vector<float> ref = x;
  for (int32_t i = 0; i < 6; ++i)
    rope_inplace(ref.data() + 2 * i, heads, hd, 2, 7, 10000.0f, std::pow(10000.0f, -2.0f * i / 12) / factors[i], false);
  expect_near_rel(read(*ctx, *xb, x.size()), std::vector<double>(ref.begin(), ref.end()), 2e-5, "rope factors");
}

// Two sequences in a shuffled paged pool, a batch holding the tail of each: K/V
// written by kv_write, attention against a double-precision causal softmax.
TEST_F(VulkanOps, PagedAttentionOnlineSoftmax) {
  const vk::KvShape s{2, 2, 20, 4};  // 2 layers, 2 KV heads, head_dim 20, 4-slot blocks
  const int32_t n_head = 6, layer = 1, n_blocks = 50;
  const std::vector<int32_t> len = {3, 150};                      // tokens per sequence (150 > 2 key tiles)
  const std::vector<std::vector<int32_t>> table = {{7, 2}, {}};  // seq 1 gets blocks from the back
  std::vector<std::vector<int32_t>> tables = table;
  for (int32_t b = 0; b < (len[1] + 3) / 4; ++b) tables[1].push_back(n_blocks - 1 - b);
  // Info: every token of both sequences is written (kv_write), the last 2 of each query.
  std::vector<int32_t> blk, slot, pos, tab_start, info;
  const int64_t row = s.n_kv * s.head_dim;
  for (int sq = 0; sq < 2; ++sq)
    for (int32_t p = 0; p < len[sq]; ++p) {
      blk.push_back(tables[sq][p / 4]);
      slot.push_back(p % 4);
    }
  const int64_t n_all = static_cast<int64_t>(blk.size());
  info.insert(info.end(), blk.begin(), blk.end());
  info.insert(info.end(), slot.begin(), slot.end());
  const int64_t tab0 = static_cast<int64_t>(info.size());
  info.insert(info.end(), tables[0].begin(), tables[0].end());
  const int64_t tab1 = static_cast<int64_t>(info.size());
  info.insert(info.end(), tables[1].begin(), tables[1].end());
  struct Query { int sq; int32_t p; };
  const std::vector<Query> queries = {{0, 1}, {0, 2}, {1, 148}, {1, 149}};
  const int64_t pos_off = static_cast<int64_t>(info.size());
  for (const auto& q : queries) info.push_back(q.p);
  const int64_t tab_off = static_cast<int64_t>(info.size());
  for (const auto& q : queries) info.push_back(static_cast<int32_t>(q.sq ? tab1 : tab0));

  const auto k = random_floats(n_all * row, 9), v = random_floats(n_all * row, 10);
  const auto q = random_floats(queries.size() * n_head * s.head_dim, 11, -2, 2);
  auto kb = device_floats(*ctx, k), vb = device_floats(*ctx, v), qb = device_floats(*ctx, q);
  auto ib = device_ints(*ctx, info);
  auto pool = ctx->alloc(n_blocks * s.block_floats() * 4);
  auto ob = ctx->alloc(q.size() * 4);
  vk::kv_write(*ctx, *kb, *vb, *pool, *ib, s, layer, n_all, 0, n_all);
  const float scale = 1.0f / std::sqrt(20.0f);
  vk::attention(*ctx, *qb, *pool, *ob, *ib, s, layer, n_head, scale, static_cast<int64_t>(queries.size()), pos_off,
                tab_off);
  ctx->flush();

  std::vector<double> want(q.size());
  for (size_t qi = 0; qi < queries.size(); ++qi) {
    const int64_t first = queries[qi].sq ? len[0] : 0;  // row of the sequence's position 0 in k/v
    for (int32_t h = 0; h < n_head; ++h) {
      const int32_t kvh = h / (n_head / s.n_kv);
      std::vector<const float*> keys, vals;
      for (int32_t j = 0; j <= queries[qi].p; ++j) {
        keys.push_back(k.data() + (first + j) * row + kvh * s.head_dim);
        vals.push_back(v.data() + (first + j) * row + kvh * s.head_dim);
      }
      const auto o = attend_ref(q.data() + (qi * n_head + h) * s.head_dim, keys, vals, s.head_dim, scale);
      std::copy(o.begin(), o.end(), want.begin() + (qi * n_head + h) * s.head_dim);
    }
  }
  expect_near_rel(read(*ctx, *ob, q.size()), want, 1e-5, "attention");
}

TEST_F(VulkanOps, LayerNormWithAndWithoutBias) {
  const int64_t rows = 5, n = 131;  // n: two partial passes of the 64-wide reduction
  const auto x = random_floats(rows * n, 12, -3, 5), w = random_floats(n, 13), b = random_floats(n, 14);
  for (bool bias : {true, false}) {
    SCOPED_TRACE(bias ? "bias" : "no bias");
    auto xb = device_floats(*ctx, x), wb = device_floats(*ctx, w), bb = device_floats(*ctx, b);
    vk::layer_norm(*ctx, *xb, *wb, bias ? bb.get() : nullptr, *xb, rows, n, 1e-12f);  // in place
    ctx->flush();
    std::vector<double> want(rows * n);
    std::vector<float> ref(n);
    for (int64_t r = 0; r < rows; ++r) {
      layernorm(x.data() + r * n, w.data(), bias ? b.data() : nullptr, ref.data(), n, 1e-12f);
      std::copy(ref.begin(), ref.end(), want.begin() + r * n);
    }
    expect_near_rel(read(*ctx, *xb, rows * n), want, 1e-5, "layer_norm");
  }
}

TEST_F(VulkanOps, GeluAndGeglu) {
  const int64_t n = 1001;
  const auto g = random_floats(n, 15, -12, 12), u = random_floats(n, 16);  // past tanh's saturation
  std::vector<float> gelu_ref = g;
  gelu_inplace(gelu_ref.data(), n);
  std::vector<double> want_gelu(gelu_ref.begin(), gelu_ref.end()), want_geglu(n);
  for (int64_t i = 0; i < n; ++i) want_geglu[i] = double(gelu_ref[i]) * u[i];
  auto gb = device_floats(*ctx, g), gb2 = device_floats(*ctx, g), ub = device_floats(*ctx, u);
  vk::gelu(*ctx, *gb, nullptr, n);
  vk::gelu(*ctx, *gb2, ub.get(), n);
  ctx->flush();
  expect_near_rel(read(*ctx, *gb, n), want_gelu, 1e-6, "gelu");
  expect_near_rel(read(*ctx, *gb2, n), want_geglu, 1e-6, "geglu");
}

// Three inputs packed back to back (3 tokens, 70 > one key tile, 1 token): every
// token attends over its own input only (the padding mask of a padded batch),
// everywhere or within a window of 5 on each side.
TEST_F(VulkanOps, EncoderAttentionSpansAndWindow) {
  const std::vector<int32_t> start = {0, 3, 73, 74};
  const int32_t n_head = 3, hd = 20;
  const int64_t T = start.back(), E = n_head * hd;
  std::vector<int32_t> info(2 * T);
  for (size_t s = 0; s + 1 < start.size(); ++s)
    for (int32_t t = start[s]; t < start[s + 1]; ++t) info[t] = start[s], info[T + t] = start[s + 1];
  const auto q = random_floats(T * E, 17, -2, 2), k = random_floats(T * E, 18), v = random_floats(T * E, 19);
  auto qb = device_floats(*ctx, q), kb = device_floats(*ctx, k), vb = device_floats(*ctx, v);
  auto ib = device_ints(*ctx, info);
  const float scale = 1.0f / std::sqrt(float(hd));
  for (int64_t half_window : {-1, 5}) {
    SCOPED_TRACE(half_window);
    auto ob = ctx->alloc(T * E * 4);
    vk::encoder_attention(*ctx, *qb, *kb, *vb, *ob, *ib, 0, n_head, hd, half_window, scale, T);
    ctx->flush();
    std::vector<double> want(T * E);
    for (int64_t t = 0; t < T; ++t)
      for (int32_t h = 0; h < n_head; ++h) {
        std::vector<const float*> keys, vals;
        for (int64_t j = info[t]; j < info[T + t]; ++j)
          if (half_window < 0 || std::abs(j - t) <= half_window) {
            keys.push_back(k.data() + j * E + h * hd);
            vals.push_back(v.data() + j * E + h * hd);
          }
        const auto o = attend_ref(q.data() + t * E + h * hd, keys, vals, hd, scale);
        std::copy(o.begin(), o.end(), want.begin() + t * E + h * hd);
      }
    expect_near_rel(read(*ctx, *ob, T * E), want, 1e-5, "encoder attention");
  }
}

}  // namespace
}  // namespace edgerag
