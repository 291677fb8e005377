// Generation end to end: the CLI's code path reproduces llama.cpp's greedy ids;
// stop strings, cancellation, streaming and the context check.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "runtime/generate_command.h"
#include "test_paths.h"
#include "util/error.h"

namespace edgerag {
namespace {

struct Golden {
  std::vector<int32_t> prompt_ids, greedy;
  std::string text;
};

Golden stories_prompt0() {
  std::ifstream in(test::golden_path("decoder/index.json"));
  const auto j = nlohmann::json::parse(in);
  for (const auto& r : j["runs"])
    if (r["model"] == "stories260K" && r["config"] == "f32kv_nofa") {
      const auto& p = r["prompts"][0];
      return {p["token_ids"].get<std::vector<int32_t>>(), p["greedy"]["ids"].get<std::vector<int32_t>>(),
              p["greedy"]["text"]};
    }
  throw std::runtime_error("stories260K golden missing");
}

GenerateOptions greedy_options(int32_t n) {
  GenerateOptions o;
  o.model_path = test::model_path("stories260K.gguf");
  o.prompt = "Once upon a time";
  o.gen.max_tokens = n;
  o.gen.sampling.temperature = 0;
  o.threads = 2;
  return o;
}

// Same flow as `edgerag generate -m stories260K.gguf -p "Once upon a time" -n 32 --temp 0 --json`.
TEST(Generate, CliPathReproducesLlamaCppGreedyIds) {
  const Golden g = stories_prompt0();
  std::string streamed;
  const auto res = run_generate(greedy_options(32), [&](std::string_view t) { streamed += t; });
  EXPECT_EQ(res.prompt_ids, g.prompt_ids);
  EXPECT_EQ(res.tokens, g.greedy);
  EXPECT_EQ(res.text, g.text);
  EXPECT_EQ(streamed, g.text);
  EXPECT_EQ(res.stop_reason, "length");
  const auto j = generation_to_json(res);
  EXPECT_EQ(j["tokens"].get<std::vector<int32_t>>(), g.greedy);
  EXPECT_EQ(j["prompt_tokens"], g.prompt_ids.size());
  EXPECT_EQ(j["prompt_ids"].get<std::vector<int32_t>>(), g.prompt_ids);
  for (const char* k : {"prompt_ms", "ttft_ms", "decode_ms", "prefill_tok_s", "decode_tok_s"})
    EXPECT_GE(j["timings"][k].get<double>(), 0.0) << k;
  EXPECT_EQ(res.timings.n_decode, 31);
  EXPECT_GT(res.timings.decode_tok_s, 0.0);
}

TEST(Generate, StopStringEndsAndIsRemoved) {
  auto o = greedy_options(32);
  o.gen.stop = {" Lily"};
  const auto res = run_generate(o);
  EXPECT_EQ(res.stop_reason, "stop");
  EXPECT_EQ(res.text, ", there was a little girl named");
  EXPECT_LT(res.tokens.size(), 32u);
}

// `generate --speculative lookup|draft:MODEL` reproduces llama.cpp's greedy ids
// too, streams the same text, and honours stop strings.
TEST(Generate, SpeculativePathsReproduceLlamaCppGreedyIds) {
  const Golden g = stories_prompt0();
  for (const std::string& flag : {std::string("lookup"), "draft:" + test::model_path("stories260K-q4_0-ffndown_f16.gguf")}) {
    auto o = greedy_options(32);
    o.spec = parse_speculative(flag, 4);
    std::string streamed;
    const auto res = run_generate(o, [&](std::string_view t) { streamed += t; });
    EXPECT_EQ(res.tokens, g.greedy) << flag;
    EXPECT_EQ(res.text, g.text) << flag;
    EXPECT_EQ(streamed, g.text) << flag;
    EXPECT_EQ(res.stop_reason, "length");
    if (flag != "lookup") {  // 32 tokens may hold no repeated bigram to look up
      EXPECT_GT(res.n_drafted, 0);
    }
    EXPECT_EQ(generation_to_json(res)["drafted"], res.n_drafted);
    o.gen.stop = {" Lily"};
    EXPECT_EQ(run_generate(o).text, ", there was a little girl named") << flag;
  }
}

// The reported token probability is the geometric mean of each greedy token's
// probability under the model's softmax: checked against one batched forward
// over prompt + answer with a float64 softmax written here, for the plain and
// the speculative path.
TEST(Generate, TokenProbabilityIsTheGeometricMeanOfTheModelsSoftmax) {
  const auto res = run_generate(greedy_options(16));
  auto model = Model::load(test::model_path("stories260K.gguf"));
  auto cache = model->make_cache(64);
  Batch b;
  const size_t n_prompt = res.prompt_ids.size();
  std::vector<int32_t> all = res.prompt_ids;
  all.insert(all.end(), res.tokens.begin(), res.tokens.end() - 1);
  for (size_t i = 0; i < all.size(); ++i) b.add(all[i], static_cast<int32_t>(i), 0, i + 1 >= n_prompt);
  ThreadPool pool(2);
  const Logits lg = model->forward(b, *cache, &pool);
  double sum_log_p = 0;
  for (size_t k = 0; k < res.tokens.size(); ++k) {
    const float* row = lg.for_token(n_prompt - 1 + k);
    double z = 0;
    for (int32_t v = 0; v < lg.n_vocab; ++v) z += std::exp(static_cast<double>(row[v]));
    sum_log_p += row[res.tokens[k]] - std::log(z);
  }
  const double want = std::exp(sum_log_p / static_cast<double>(res.tokens.size()));
  ASSERT_TRUE(res.token_p.has_value());
  EXPECT_NEAR(*res.token_p, want, 1e-4 * want);
  EXPECT_GT(want, 0.0);
  EXPECT_LT(want, 1.0);
  auto o = greedy_options(16);
  o.spec = parse_speculative("lookup", 4);
  const auto spec = run_generate(o);
  ASSERT_TRUE(spec.token_p.has_value());
  EXPECT_NEAR(*spec.token_p, want, 1e-4 * want);
}

TEST(Generate, CallbackCancelsAndContextIsChecked) {
  auto model = Model::load(test::model_path("stories260K.gguf"));
  auto tok = Tokenizer::from_gguf(model->gguf());
  ThreadPool pool(1);
  Generator gen(*model, *tok, &pool, 16);
  GenerationParams p;
  p.max_tokens = 8;
  p.sampling.temperature = 0;
  int calls = 0;
  const auto res = gen.generate("Once upon a time", p, [&](int32_t, std::string_view) { return ++calls < 3; });
  EXPECT_EQ(res.stop_reason, "cancelled");
  EXPECT_EQ(res.tokens.size(), 3u);
  const auto greedy = stories_prompt0().greedy;
  EXPECT_EQ(res.tokens, std::vector<int32_t>(greedy.begin(), greedy.begin() + 3));
  p.max_tokens = 12;  // 5 prompt tokens + 12 > 16
  try {
    gen.generate("Once upon a time", p);
    FAIL() << "expected a context error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("exceeds the context size 16"), std::string::npos) << e.what();
  }
  EXPECT_THROW(gen.generate_ids({}, p), Error);
  // The generator is reusable after an error; sampling with a seed is repeatable.
  p.max_tokens = 8;
  p.sampling = SamplerParams{};
  p.sampling.seed = 5;
  const auto a = gen.generate("Once upon a time", p), b = gen.generate("Once upon a time", p);
  EXPECT_EQ(a.tokens, b.tokens);
}

}  // namespace
}  // namespace edgerag
