// The error ordering each method promises, on synthetic matrices: GPTQ and AWQ
// below RTN on the activation-weighted (output) error measured on held-out
// activations, HQQ below RTN on the weight error it optimizes.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "quant/autoround.h"
#include "quant/awq.h"
#include "quant/awq_block.h"
#include "quant/gptq.h"
#include "quant/hqq.h"
#include "quant/rtn.h"
#include "quant/spqr.h"
#include "tensor/sparse.h"
#include "util/error.h"

using namespace edgerag;
using namespace edgerag::quant;

namespace {

constexpr int64_t kRows = 48, kCols = 128;

// Activations with correlated channels and a few salient (large) channels, as
// seen in transformer layers.
std::vector<float> activations(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0, 1);
  std::mt19937 mix_rng(99);  // same mixing for calibration and held-out sets
  std::vector<float> mix(kCols * 8);
  for (auto& v : mix) v = nd(mix_rng);
  std::vector<float> x(n * kCols);
  for (int64_t t = 0; t < n; ++t) {
    float z[8];
    for (auto& v : z) v = nd(rng);
    for (int64_t c = 0; c < kCols; ++c) {
      float v = 0.3f * nd(rng);
      for (int k = 0; k < 8; ++k) v += mix[c * 8 + k] * z[k];
      x[t * kCols + c] = v * (c % 37 == 5 ? 12.0f : 1.0f);
    }
  }
  return x;
}

std::vector<double> gram(const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size()) / kCols;
  std::vector<double> g(kCols * kCols, 0.0);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t i = 0; i < kCols; ++i)
      for (int64_t j = 0; j < kCols; ++j) g[i * kCols + j] += static_cast<double>(x[t * kCols + i]) * x[t * kCols + j];
  return g;
}

std::vector<float> absmean(const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size()) / kCols;
  std::vector<float> m(kCols, 0.f);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t c = 0; c < kCols; ++c) m[c] += std::fabs(x[t * kCols + c]) / n;
  return m;
}

std::vector<float> weights(uint32_t seed, bool heavy_tailed = false) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0, 0.05f);
  std::student_t_distribution<float> td(3);
  std::vector<float> w(kRows * kCols);
  for (auto& v : w) v = heavy_tailed ? 0.03f * td(rng) : nd(rng);
  return w;
}

struct Fixture {
  std::vector<float> w = weights(1);
  std::vector<double> calib = gram(activations(2048, 7));
  std::vector<double> heldout = gram(activations(2048, 8));
  std::vector<float> calib_absmean = absmean(activations(2048, 7));

  double err(const QuantizedTensor& q) const {
    return output_error(w.data(), q.dequantize().data(), kRows, kCols, heldout);
  }
};

}  // namespace

class MethodsAtBits : public ::testing::TestWithParam<DType> {};

TEST_P(MethodsAtBits, GptqAndAwqBeatRtnOnOutputError) {
  Fixture f;
  ThreadPool pool(2);
  const Scheme s = Scheme::of(GetParam(), true);
  const double rtn = f.err(quantize_rtn(s, f.w.data(), kRows, kCols, &pool));
  const double gptq = f.err(quantize_gptq(s, f.w.data(), kRows, kCols, f.calib, {}, &pool));
  GptqOptions ao;
  ao.act_order = true;
  const double gptq_ao = f.err(quantize_gptq(s, f.w.data(), kRows, kCols, f.calib, ao, &pool));
  const std::vector<AwqWeight> ws{{f.w.data(), kRows, s}};
  const AwqResult awq =
      awq_quantize(ws, kCols, f.calib_absmean, linear_output_objective(ws, kCols, f.calib), {}, &pool);
  // AWQ's quantized matrix holds W diag(s); undo the scale as the folded producer would.
  std::vector<float> awq_w = awq.quantized[0].dequantize();
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t c = 0; c < kCols; ++c) awq_w[r * kCols + c] /= awq.scales[c];
  const double awq_err = output_error(f.w.data(), awq_w.data(), kRows, kCols, f.heldout);
  EXPECT_LT(gptq, 0.8 * rtn) << s.describe();
  EXPECT_LT(gptq_ao, 0.8 * rtn) << s.describe();
  EXPECT_LT(awq_err, 0.95 * rtn) << s.describe() << " alpha " << awq.alpha;
  EXPECT_GT(awq.alpha, 0.0f) << "some activation-aware scaling should beat plain RTN";
}

TEST_P(MethodsAtBits, AutoRoundBeatsRtnAndNeverLosesOnItsObjective) {
  Fixture f;
  ThreadPool pool(2);
  const Scheme s = Scheme::of(GetParam(), true);
  if (s.nf4) {  // non-uniform levels: no rounding offset to learn
    EXPECT_THROW(quantize_autoround(s, f.w.data(), kRows, kCols, f.calib, {}, &pool), Error);
    return;
  }
  const QuantizedTensor rtn = quantize_rtn(s, f.w.data(), kRows, kCols, &pool);
  const QuantizedTensor ar = quantize_autoround(s, f.w.data(), kRows, kCols, f.calib, {}, &pool);
  EXPECT_EQ(ar.type, s.type);
  // Iteration 0 is RTN and the best iterate is kept: on the calibration objective it cannot lose.
  auto calib_err = [&](const QuantizedTensor& q) {
    return output_error(f.w.data(), q.dequantize().data(), kRows, kCols, f.calib);
  };
  EXPECT_LE(calib_err(ar), calib_err(rtn)) << s.describe();
  EXPECT_LT(f.err(ar), 0.9 * f.err(rtn)) << s.describe();  // held-out activations
  AutoRoundOptions none;
  none.iters = 0;
  EXPECT_EQ(quantize_autoround(s, f.w.data(), kRows, kCols, f.calib, none, &pool).data, rtn.data);
}

INSTANTIATE_TEST_SUITE_P(Types, MethodsAtBits,
                         ::testing::Values(DType::Q4_0, DType::Q4_1, DType::ER_Q3_G32, DType::ER_Q2_G64,
                                           DType::ER_NF4),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(Awq, BlockObjectiveNeverAboveRtn) {
  // A nonlinear block objective (SwiGLU MLP output, gate/up scaled, down exact):
  // the grid starts at a = 0, which is s = 1 and exactly RTN, so the chosen
  // scales can tie RTN but never lose to it, whatever the activations.
  HParams hp;
  hp.n_embd = kCols;
  hp.n_ff = kRows;
  const std::vector<float> gate = weights(4), up = weights(5), x = activations(256, 9);
  std::vector<float> down(kCols * kRows);
  for (size_t i = 0; i < down.size(); ++i) down[i] = 0.1f * std::sin(0.37f * static_cast<float>(i));
  ThreadPool pool(2);
  const std::vector<float> ref = mlp_block(hp, gate.data(), up.data(), down.data(), x.data(), 256, &pool);
  const AwqObjective mlp_error = [&](const std::vector<std::vector<float>>& w_hat) {
    return squared_error(mlp_block(hp, w_hat[0].data(), w_hat[1].data(), down.data(), x.data(), 256, &pool), ref);
  };
  for (DType t : {DType::Q4_0, DType::Q4_1, DType::ER_Q3_G32, DType::ER_Q2_G64}) {
    const Scheme s = Scheme::of(t, true);
    const std::vector<AwqWeight> ws{{gate.data(), kRows, s}, {up.data(), kRows, s}};
    for (int grid : {1, 4, 20}) {
      AwqOptions opt;
      opt.grid = grid;
      const AwqResult r = awq_quantize(ws, kCols, absmean(x), mlp_error, opt, &pool);
      const double rtn = mlp_error({quantize_rtn(s, gate.data(), kRows, kCols, &pool).dequantize(),
                                    quantize_rtn(s, up.data(), kRows, kCols, &pool).dequantize()});
      EXPECT_DOUBLE_EQ(r.rtn_error, rtn) << s.describe();
      EXPECT_LE(r.error, rtn) << s.describe() << " grid " << grid;
      if (grid == 1) {  // only a = 0: plain RTN, bit for bit
        EXPECT_EQ(r.alpha, 0.0f);
        EXPECT_EQ(r.quantized[0].data, quantize_rtn(s, gate.data(), kRows, kCols, &pool).data);
      }
    }
  }
}

TEST(Hqq, BeatsRtnOnWeightError) {
  const std::vector<float> w = weights(2, true);
  // Symmetric types only let HQQ move the scale, which gains little; the offset
  // of the asymmetric types is where its robust fit pays.
  for (DType t : {DType::Q4_1, DType::ER_Q3_G64, DType::ER_Q2_G64, DType::ER_Q4_G128, DType::Q4_0}) {
    const Scheme s = Scheme::of(t, true);
    const auto rtn = quantize_rtn(s, w.data(), kRows, kCols, nullptr).dequantize();
    const auto hqq = quantize_hqq(s, w.data(), kRows, kCols, {}, nullptr).dequantize();
    double l1_rtn = 0, l1_hqq = 0, l2_rtn = 0, l2_hqq = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      l1_rtn += std::fabs(w[i] - rtn[i]), l1_hqq += std::fabs(w[i] - hqq[i]);
      l2_rtn += (w[i] - rtn[i]) * (w[i] - rtn[i]), l2_hqq += (w[i] - hqq[i]) * (w[i] - hqq[i]);
    }
    EXPECT_LT(l1_hqq, (s.asymmetric ? 0.97 : 1.0) * l1_rtn) << s.describe();
    EXPECT_LT(l2_hqq, l2_rtn) << s.describe();
  }
}

TEST(Gptq, IdentityHessianEqualsRtn) {
  // With uncorrelated, equal-variance inputs there is nothing to compensate:
  // GPTQ's updates vanish and it must reproduce RTN bit for bit.
  const std::vector<float> w = weights(3);
  std::vector<double> h(kCols * kCols, 0.0);
  for (int64_t i = 0; i < kCols; ++i) h[i * kCols + i] = 1.0;
  for (DType t : {DType::Q4_0, DType::ER_Q3_G16_BL}) {  // bilevel: the same steps and coded statistics too
    const Scheme s = Scheme::of(t);
    EXPECT_EQ(quantize_gptq(s, w.data(), kRows, kCols, h, {0.0, false}, nullptr).data,
              quantize_rtn(s, w.data(), kRows, kCols, nullptr).data) << s.describe();
  }
}

TEST(Gptq, BilevelStatisticsKeepItsLeadOverRtn) {
  // GPTQ quantizes with the coded 3-bit scales and zeros, so the error it spreads
  // is the stored one: it must stay well below RTN of the same type, with and
  // without act-order, and SpQR's 1% outliers must cut it further.
  Fixture f;
  ThreadPool pool(2);
  const Scheme s = Scheme::of(DType::ER_Q3_G16_BL);
  const double rtn = f.err(quantize_rtn(s, f.w.data(), kRows, kCols, &pool));
  const double gptq = f.err(quantize_gptq(s, f.w.data(), kRows, kCols, f.calib, {}, &pool));
  GptqOptions ao;
  ao.act_order = true;
  const double gptq_ao = f.err(quantize_gptq(s, f.w.data(), kRows, kCols, f.calib, ao, &pool));
  EXPECT_LT(gptq, 0.8 * rtn) << "gptq " << gptq << " rtn " << rtn;
  EXPECT_LT(gptq_ao, 0.8 * rtn) << "act-order " << gptq_ao << " rtn " << rtn;
  f.w = weights(5, true);
  const double heavy = f.err(quantize_gptq(s, f.w.data(), kRows, kCols, f.calib, {}, &pool));
  const SpqrTensor sq = quantize_spqr(s, f.w.data(), kRows, kCols, f.calib, {}, {0.01}, &pool);
  EXPECT_EQ(sq.dense.type, DType::ER_Q3_G16_BL);
  std::vector<float> w_hat = sq.dense.dequantize(), eye(kCols * kCols, 0.0f), st(kCols * kRows, 0.0f);
  for (int64_t c = 0; c < kCols; ++c) eye[c * kCols + c] = 1;
  csr_matmul_add_ref(CsrOutliers::view(DType::I8, sq.outliers.data(), sq.outliers.size(), kRows, kCols), eye.data(),
                     kCols, st.data());
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t c = 0; c < kCols; ++c) w_hat[r * kCols + c] += st[c * kRows + r];
  const double spqr = output_error(f.w.data(), w_hat.data(), kRows, kCols, f.heldout);
  EXPECT_LT(spqr, 0.8 * heavy) << "spqr " << spqr << " gptq " << heavy;
  // Rows that do not fill whole blocks of 64 and methods without a block step are refused.
  EXPECT_THROW(quantize_gptq(s, f.w.data(), kRows, 96, std::vector<double>(96 * 96, 0.0), {}, nullptr), Error);
  EXPECT_THROW(quantize_hqq(s, f.w.data(), kRows, kCols, {}, nullptr), Error);
}

TEST(Gptq, RejectsBadShapes) {
  const std::vector<float> w = weights(3);
  std::vector<double> h(10, 1.0);
  EXPECT_THROW(quantize_gptq(Scheme::of(DType::Q4_0), w.data(), kRows, kCols, h, {}, nullptr), Error);
  EXPECT_THROW(quantize_rtn(Scheme::of(DType::ER_Q4_G128), w.data(), kRows, 96, nullptr), Error);
}

TEST(Spqr, OutliersCutGptqOutputErrorAtThreeBits) {
  // Heavy-tailed weights: a few large ones stretch their groups' grids. Holding
  // the most sensitive 1% out in fp16 must leave a clearly smaller output error
  // than GPTQ with the same dense type, and exactly that share of outliers.
  Fixture f;
  f.w = weights(5, true);
  ThreadPool pool(2);
  const Scheme s = Scheme::of(DType::ER_Q3_G32, true);
  const double gptq = f.err(quantize_gptq(s, f.w.data(), kRows, kCols, f.calib, {}, &pool));
  const SpqrTensor sq = quantize_spqr(s, f.w.data(), kRows, kCols, f.calib, {}, {0.01}, &pool);
  EXPECT_EQ(sq.dense.type, s.type);
  EXPECT_EQ(sq.n_outliers, kRows * kCols / 100);
  EXPECT_EQ(sq.outliers.size(), 4 + 3 * sq.n_outliers + kRows);  // header, fp16 + column byte each, one count per 128-wide row
  const CsrOutliers csr = CsrOutliers::view(DType::I8, sq.outliers.data(), sq.outliers.size(), kRows, kCols);
  // The effective matrix: dense part plus S, S^T read off by the kernel applied to unit vectors.
  std::vector<float> w_hat = sq.dense.dequantize(), eye(kCols * kCols, 0.0f), st(kCols * kRows, 0.0f);
  for (int64_t c = 0; c < kCols; ++c) eye[c * kCols + c] = 1;
  csr_matmul_add_ref(csr, eye.data(), kCols, st.data());
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t c = 0; c < kCols; ++c) w_hat[r * kCols + c] += st[c * kRows + r];
  const double spqr = output_error(f.w.data(), w_hat.data(), kRows, kCols, f.heldout);
  EXPECT_LT(spqr, 0.7 * gptq) << "spqr " << spqr << " gptq " << gptq;
  // No outliers: plain GPTQ, bit for bit.
  const SpqrTensor none = quantize_spqr(s, f.w.data(), kRows, kCols, f.calib, {}, {0.0}, &pool);
  EXPECT_EQ(none.n_outliers, 0);
  EXPECT_EQ(none.dense.data, quantize_gptq(s, f.w.data(), kRows, kCols, f.calib, {}, &pool).data);
  EXPECT_THROW(quantize_spqr(s, f.w.data(), kRows, kCols, f.calib, {}, {0.9}, &pool), Error);
}
