// Perplexity of stories260K with KIVI int8 / int4 KV caches against an F32 cache
// (chunked protocol, ctx 128, the golden text; docs/QUANTIZATION.md KV-cache section).
#include <gtest/gtest.h>

#include <cmath>

#include "eval/ppl.h"
#include "test_paths.h"

using namespace edgerag;

TEST(PerplexityKvQuant, Int8WithinAPercentInt4WithinThree) {
  auto model = Model::load(test::model_path("stories260K.gguf"));
  const std::string text = test::read_file(test::golden_path("perplexity/wiki.test.200lines.raw"));
  ThreadPool pool(2);
  PplOptions opt;
  opt.protocol = "chunked";
  opt.ctx = 128;
  opt.max_tokens = 100 * 128;  // 100 chunks keep the test quick
  const double f32 = perplexity(*model, text, opt, &pool).ppl;
  opt.kv_type = KvType::kivi(8);
  const double int8 = perplexity(*model, text, opt, &pool).ppl;
  opt.kv_type = KvType::kivi(4);
  const double int4 = perplexity(*model, text, opt, &pool).ppl;
  std::printf("stories260K chunked ppl, KV f32 %.4f, int8 %.4f, int4 %.4f\n", f32, int8, int4);
  EXPECT_NE(int8, f32);
  EXPECT_NEAR(int8, f32, 0.01 * f32);
  EXPECT_NEAR(int4, f32, 0.03 * f32);
}
