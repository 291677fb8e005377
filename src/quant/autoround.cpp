#include "quant/autoround.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace edgerag::quant {
namespace {

float sign(double g) { return g > 0 ? 1.0f : (g < 0 ? -1.0f : 0.0f); }

// Group parameters under clip factors: asymmetric schemes scale the max by alpha and
// the min by beta; symmetric ones scale the (signed) absmax scale by alpha.
GroupParams clipped(const Scheme& s, GroupParams p0, float alpha, float beta) {
  if (!s.asymmetric) return s.stored({alpha * p0.d, alpha * p0.m});
  const float hi = p0.d * s.qmax() + p0.m;
  return s.stored({(alpha * hi - beta * p0.m) / s.qmax(), beta * p0.m});
}

}  // namespace

QuantizedTensor quantize_autoround(const Scheme& s, const float* w, int64_t rows, int64_t cols,
                                   const std::vector<double>& gram, const AutoRoundOptions& opt, ThreadPool* pool) {
  EDGERAG_CHECK(!s.nf4, "AutoRound needs a uniform scheme (not NF4)");
  EDGERAG_CHECK(cols % s.group == 0, "{} columns are not a multiple of the group size {}", cols, s.group);
  EDGERAG_CHECK(static_cast<int64_t>(gram.size()) == cols * cols, "AutoRound: Gram matrix is not {} x {}", cols, cols);
  EDGERAG_CHECK(opt.iters >= 0 && opt.lr >= 0, "AutoRound: --iters and --lr must not be negative");
  QuantizedTensor out{s.type, rows, cols, {}};
  const size_t rb = row_size(s.type, cols);
  out.data.resize(rb * rows);
  const int64_t n_groups = cols / s.group;
  const float qmax = static_cast<float>(s.qmax());
  auto run = [&](int, size_t begin, size_t end) {
    std::vector<GroupParams> p0(n_groups), p(n_groups), best_p(n_groups);
    std::vector<uint8_t> codes(cols), best_codes(cols);
    std::vector<double> delta(cols), grad(cols);
    struct {
      std::vector<float> v, alpha, beta;  // per weight, per group, per group
    } st;
    for (size_t r = begin; r < end; ++r) {
      const float* row = w + r * cols;
      for (int64_t g = 0; g < n_groups; ++g) p0[g] = s.fit(row + g * s.group, s.group);
      st.v.assign(cols, 0.0f);
      st.alpha.assign(n_groups, 1.0f);
      st.beta.assign(n_groups, 1.0f);
      double best = INFINITY;
      for (int it = 0; it <= opt.iters; ++it) {
        // Forward: codes and the reconstruction error of the row.
        for (int64_t g = 0; g < n_groups; ++g) {
          p[g] = clipped(s, p0[g], st.alpha[g], st.beta[g]);
          for (int64_t c = g * s.group; c < (g + 1) * s.group; ++c) {
            const float x = p[g].d != 0 ? (row[c] - p[g].m) / p[g].d + st.v[c] : 0.0f;
            // As Scheme::code: an all-zero group gets the zero code.
            codes[c] = p[g].d == 0 ? static_cast<uint8_t>(s.zero)
                                   : static_cast<uint8_t>(std::clamp<long>(std::lround(x), 0, s.qmax()));
            delta[c] = static_cast<double>(s.value(codes[c], p[g])) - row[c];
          }
        }
        double loss = 0;
        for (int64_t i = 0; i < cols; ++i) {
          double gi = 0;
          for (int64_t j = 0; j < cols; ++j) gi += gram[i * cols + j] * delta[j];
          grad[i] = 2 * gi;  // dL / dw_hat_i
          loss += delta[i] * gi;
        }
        if (loss < best) {
          best = loss;
          best_codes = codes;
          best_p = p;
        }
        if (it == opt.iters) break;
        // Backward (rounding passed straight through): w_hat = d q + m with q = (w - m) / d + v
        // inside the code range (w_hat = w + d v: dv = d, dd = v, dm = 0) and q fixed at a clamp (dd = q, dm = 1).
        const float lr = opt.lr * (1.0f - static_cast<float>(it) / opt.iters);
        for (int64_t g = 0; g < n_groups; ++g) {
          double gd = 0, gm = 0;
          for (int64_t c = g * s.group; c < (g + 1) * s.group; ++c) {
            const float x = p[g].d != 0 ? (row[c] - p[g].m) / p[g].d + st.v[c] : 0.0f;
            if (x >= -0.5f && x < qmax + 0.5f) {
              gd += grad[c] * st.v[c];
              st.v[c] = std::clamp(st.v[c] - lr * sign(grad[c] * p[g].d), -0.5f, 0.5f);
            } else {
              gd += grad[c] * codes[c];
              gm += grad[c];
            }
          }
          if (s.asymmetric) {
            const double hi = p0[g].d * qmax + p0[g].m;
            st.alpha[g] = std::clamp(st.alpha[g] - lr * sign(gd * hi / qmax), 0.5f, 1.0f);
            st.beta[g] = std::clamp(st.beta[g] - lr * sign(-gd * p0[g].m / qmax + gm * p0[g].m), 0.5f, 1.0f);
          } else {
            st.alpha[g] = std::clamp(st.alpha[g] - lr * sign(gd * p0[g].d + gm * p0[g].m), 0.5f, 1.0f);
          }
        }
      }
      s.pack(best_codes.data(), best_p.data(), cols, out.data.data() + r * rb);
    }
  };
  if (pool) pool->parallel_for(rows, run);
  else run(0, 0, rows);
  return out;
}

}  // namespace edgerag::quant
