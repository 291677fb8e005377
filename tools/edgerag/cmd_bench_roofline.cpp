// edgerag bench roofline: the F32 GEMM peak of this CPU through the engine's
// matmul, the denominator of the MFU figures (`report quant --roofline`), and
// the CPU's FMA peak on the same threads.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "command.h"
#include "eval/roofline.h"
#include "tensor/fma_peak.h"
#include "util/thread_pool.h"

namespace edgerag::cli {
namespace {

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("roofline", "F32 GEMM peak GFLOP/s (the MFU denominator) and the CPU's FMA peak");
  auto o = std::make_shared<RooflineOptions>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("--size", o->size, "Square weight size")->default_val(1024);
  cmd->add_option("--tokens", o->tokens, "Activation rows per matmul")->default_val(256);
  cmd->add_option("-t,--threads", o->threads, "Threads (default: all cores)");
  cmd->add_option("--min-seconds", o->min_seconds, "Repeat at least this long (best repetition)")->default_val(0.5);
  cmd->add_flag("--json", *json, "Print one JSON object");
  cmd->callback([o, json] {
    const RooflineResult r = gemm_roofline(*o);
    ThreadPool pool(r.threads);
    const FmaPeak peak = measure_fma_peak(pool);
    if (*json)
      return (void)std::printf("%s\n", nlohmann::json{{"size", r.size}, {"tokens", r.tokens}, {"threads", r.threads},
                                                      {"reps", r.reps}, {"gflops", r.gflops},
                                                      {"fma_peak_gflops", peak.gflops},
                                                      {"fma_vector_bits", peak.vector_bits}}
                                           .dump()
                                           .c_str());
    std::printf("F32 GEMM %lldx%lld x %lld tokens, %d threads: %.1f GFLOP/s (best of %d)\n",
                static_cast<long long>(r.size), static_cast<long long>(r.size), static_cast<long long>(r.tokens),
                r.threads, r.gflops, r.reps);
    std::printf("FMA peak (%d-bit, %d threads): %.1f GFLOP/s; the GEMM reaches %.0f%% of it\n", peak.vector_bits,
                r.threads, peak.gflops, 100 * r.gflops / peak.gflops);
  });
}

}  // namespace
EDGERAG_COMMAND("bench roofline", setup);
}  // namespace edgerag::cli
