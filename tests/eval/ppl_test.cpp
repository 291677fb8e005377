// Perplexity against llama.cpp's llama-perplexity on stories260K (golden README §5).
#include "eval/ppl.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "test_paths.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

using namespace edgerag;

namespace {

std::string read(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::vector<int32_t> golden_tokens() {
  const std::string raw = read(test::golden_path("perplexity/wiki.test.200lines.stories260K.tokens.i32.bin"));
  std::vector<int32_t> ids(raw.size() / 4);
  std::memcpy(ids.data(), raw.data(), ids.size() * 4);
  return ids;
}

}  // namespace

TEST(Perplexity, ChunkedMatchesLlamaCpp) {
  auto model = Model::load(test::model_path("stories260K.gguf"));
  ThreadPool pool(2);
  PplOptions opt;
  opt.protocol = "chunked";
  opt.ctx = 128;
  const PplResult r = perplexity(*model, read(test::golden_path("perplexity/wiki.test.200lines.raw")), opt, &pool);
  EXPECT_EQ(r.n_tokens, 33350);
  EXPECT_EQ(r.n_windows, 260);
  EXPECT_EQ(r.tokens_scored, 260 * 63);
  // llama-perplexity -fa off -ctk f32 -ctv f32: 137.6738 +/- 4.40992 (float64 reference: the same).
  EXPECT_NEAR(r.ppl, 137.6738, 137.6738 * 1e-4);
  EXPECT_NEAR(r.ppl_stderr, 4.40992, 0.01);
}

TEST(Perplexity, SlidingScoresEveryTokenOnce) {
  auto model = Model::load(test::model_path("stories260K.gguf"));
  std::vector<int32_t> ids = golden_tokens();
  ids.resize(1000);
  PplOptions opt;
  opt.ctx = 128;
  const PplResult half = perplexity_tokens(*model, ids, 1, opt, nullptr);
  EXPECT_EQ(half.tokens_scored, 999);
  EXPECT_EQ(half.stride, 64);
  opt.stride = 127;  // minimal overlap: less context per prediction on average
  const PplResult none = perplexity_tokens(*model, ids, 1, opt, nullptr);
  EXPECT_EQ(none.tokens_scored, 999);
  EXPECT_NE(none.ppl, half.ppl);
  // A window as wide as the text: every token scored once with full left context.
  opt.ctx = 512;
  opt.stride = 256;
  ids.resize(300);
  const PplResult one = perplexity_tokens(*model, ids, 1, opt, nullptr);
  EXPECT_EQ(one.n_windows, 1);
  EXPECT_EQ(one.tokens_scored, 299);
  // Hand-computed: one forward pass, softmax of row j scores token j + 1.
  Batch b;
  for (int i = 0; i < 300; ++i) b.add(ids[i], i, 0, true);
  auto cache = model->make_cache(300, opt.kv_type);
  const Logits lg = model->forward(b, *cache, nullptr);
  double nll = 0;
  for (int j = 0; j + 1 < 300; ++j) {
    const float* row = lg.row(j);
    double z = 0;
    for (int v = 0; v < lg.n_vocab; ++v) z += std::exp(static_cast<double>(row[v]));
    nll += std::log(z) - row[ids[j + 1]];
  }
  EXPECT_NEAR(one.ppl, std::exp(nll / 299), 1e-6 * one.ppl);
}

TEST(Perplexity, RejectsBadOptions) {
  auto model = Model::load(test::model_path("stories260K.gguf"));
  std::vector<int32_t> ids = golden_tokens();
  ids.resize(100);
  PplOptions opt;
  opt.protocol = "strided";
  EXPECT_THROW(perplexity_tokens(*model, ids, 1, opt, nullptr), Error);
  opt.protocol = "chunked";
  opt.ctx = 128;  // fewer tokens than a chunk
  EXPECT_THROW(perplexity_tokens(*model, ids, 1, opt, nullptr), Error);
  opt.protocol = "sliding";
  opt.stride = 128;  // windows would not overlap
  EXPECT_THROW(perplexity_tokens(*model, ids, 1, opt, nullptr), Error);
  opt.stride = 0;
  opt.ctx = 4096;  // beyond stories260K's training context
  EXPECT_THROW(perplexity_tokens(*model, ids, 1, opt, nullptr), Error);
}
