// The peak a model-FLOPs-utilization figure is measured against: the F32 GEMM
// rate of this CPU through the engine's own matmul (`edgerag bench roofline`),
// and MFU = achieved model FLOP/s (2 x parameters per token) over that peak.
#pragma once
#include <cstdint>

namespace edgerag {

struct RooflineOptions {
  int64_t size = 1024;       // rows = cols of the square weight
  int64_t tokens = 256;      // activation rows per matmul
  int threads = 0;           // 0 = default_thread_count()
  double min_seconds = 0.5;  // repeat until at least this long (the best repetition counts)
};

struct RooflineResult {
  int64_t size = 0, tokens = 0;
  int threads = 0;
  int reps = 0;
  double gflops = 0;  // best repetition: 2 x size^2 x tokens / seconds
};

RooflineResult gemm_roofline(const RooflineOptions& opt);

// Share of the peak: 2 x n_params x tokens_per_second / (peak_gflops x 1e9); 0 without a peak.
inline double model_flops_utilization(double n_params, double tokens_per_second, double peak_gflops) {
  return peak_gflops > 0 ? 2 * n_params * tokens_per_second / (peak_gflops * 1e9) : 0;
}

}  // namespace edgerag
