#include "eval/roofline.h"

#include <algorithm>
#include <vector>

#include "tensor/ops.h"
#include "util/error.h"
#include "util/thread_pool.h"
#include "util/timer.h"

namespace edgerag {

RooflineResult gemm_roofline(const RooflineOptions& opt) {
  EDGERAG_CHECK(opt.size >= 16 && opt.size <= 8192 && opt.tokens >= 1 && opt.tokens <= 4096,
                "roofline: size 16..8192 and tokens 1..4096 (got {} and {})", opt.size, opt.tokens);
  RooflineResult r{opt.size, opt.tokens, opt.threads > 0 ? opt.threads : default_thread_count(), 0, 0};
  ThreadPool pool(r.threads);
  std::vector<float> w(opt.size * opt.size), x(opt.tokens * opt.size), y(opt.tokens * opt.size);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i % 17) * 0.01f - 0.08f;
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 13) * 0.02f - 0.12f;
  const Matrix m = Matrix::of(DType::F32, opt.size, opt.size, w.data());
  matmul(m, x.data(), opt.tokens, y.data(), &pool);  // warm-up
  const double flops = 2.0 * opt.size * opt.size * opt.tokens;
  Timer total;
  double best = 0;
  do {
    Timer t;
    matmul(m, x.data(), opt.tokens, y.data(), &pool);
    best = std::max(best, flops / std::max(t.seconds(), 1e-9));
    ++r.reps;
  } while (total.seconds() < opt.min_seconds || r.reps < 3);
  r.gflops = best / 1e9;
  return r;
}

}  // namespace edgerag
