// bench gen's context sweep: one row per asked context length, in order, with
// measured prefill and decode speeds.
#include <gtest/gtest.h>

#include "eval/bench.h"
#include "test_paths.h"
#include "util/error.h"

using namespace edgerag;

TEST(BenchGen, ContextSweepMeasuresEachLength) {
  GenBenchOptions o;
  o.model = test::model_path("stories260K.gguf");
  o.n_prompt = 16;
  o.n_gen = 4;
  o.n_threads = 2;
  o.reps = 1;
  o.ctx_sweep = {40, 8, 100};  // the longest sets the generator's context
  o.bandwidth = false;
  const GenBenchResult r = bench_gen(o);
  ASSERT_EQ(r.ctx_sweep.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(r.ctx_sweep[i].n_ctx, o.ctx_sweep[i]);
    EXPECT_GT(r.ctx_sweep[i].prefill_tok_s, 0);
    EXPECT_GT(r.ctx_sweep[i].decode_tok_s, 0);
    EXPECT_GT(r.ctx_sweep[i].cpu_utilization, 0);
  }
  o.ctx_sweep = {0};
  EXPECT_THROW(bench_gen(o), Error);
}
