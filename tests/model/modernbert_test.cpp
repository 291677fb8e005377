// ModernBERT (`modern-bert`) encoder against the llama.cpp goldens (golden/README.md §9):
// token ids exact, L2-normalised embeddings within 5e-4, raw mean within 2e-3,
// raw CLS within 5e-3, per-token outputs within 1e-2.
#include <cmath>
#include <fstream>
#include <random>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/bert.h"
#include "model/bert_encoder.h"
#include "model/encoder_attention.h"
#include "test_paths.h"
#include "util/error.h"

namespace edgerag {
namespace {

constexpr int64_t kDim = 128;

const nlohmann::json& golden_task() {
  static const nlohmann::json index =
      nlohmann::json::parse(test::read_file(test::golden_path("embeddings-modernbert/index.json")));
  return index["tasks"][0];
}

std::vector<float> golden(const std::string& variant, const std::string& key) {
  const std::string bytes = test::read_file(
      test::golden_path("embeddings-modernbert/synth-modernbert-embed." + variant + "." + key + ".f32.bin"));
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

std::vector<BertInput> golden_inputs() {
  std::vector<BertInput> batch;
  for (const auto& in : golden_task()["inputs"]) batch.push_back({in["token_ids"].get<std::vector<int32_t>>(), {}});
  return batch;
}

float max_abs_diff(const std::vector<float>& got, const std::vector<float>& want) {
  EXPECT_EQ(got.size(), want.size());
  float m = 0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i) m = std::max(m, std::fabs(got[i] - want[i]));
  return m;
}

std::vector<float> flatten(const std::vector<std::vector<float>>& rows) {
  std::vector<float> out;
  for (const auto& r : rows) out.insert(out.end(), r.begin(), r.end());
  return out;
}

std::unique_ptr<BertModel> load_model() { return BertModel::load(test::model_path("synth-modernbert-embed.gguf")); }

TEST(ModernBert, ReadsTheArchitectureFromMetadata) {
  auto m = load_model();
  const BertHParams& hp = m->hparams();
  EXPECT_EQ(hp.arch, EncoderArch::ModernBert);
  EXPECT_EQ(hp.n_embd, kDim);
  EXPECT_EQ(hp.n_layer, 4);
  EXPECT_EQ(hp.n_head, 4);
  EXPECT_EQ(hp.n_ff, 256);
  EXPECT_EQ(hp.n_ctx, 512);
  EXPECT_EQ(hp.n_vocab, 2053);
  EXPECT_EQ(hp.n_swa, 16);
  EXPECT_EQ(hp.swa_pattern, 3);
  EXPECT_FLOAT_EQ(hp.rope_base, 160000.0f);
  EXPECT_FLOAT_EQ(hp.rope_base_swa, 10000.0f);
  EXPECT_FLOAT_EQ(hp.eps, 1e-5f);
  EXPECT_FALSE(hp.ffn_silu);
  EXPECT_EQ(hp.pooling, Pooling::Mean);
}

TEST(ModernBert, TokenOutputsAndPoolingMatchLlamaCpp) {
  auto m = load_model();
  const auto inputs = golden_inputs();
  ThreadPool pool(2);
  const std::vector<float> tokens = m->forward(inputs, &pool);  // all 9 inputs in one packed batch
  ASSERT_EQ(tokens.size(), 395u * kDim);
  EXPECT_LE(max_abs_diff(tokens, golden("nofa_batched", "tokens_raw")), 1e-2);
  EXPECT_LE(max_abs_diff(tokens, golden("default_batched", "tokens_raw")), 1e-2);

  std::vector<std::vector<float>> mean, cls;
  int64_t t0 = 0;
  for (const BertInput& in : inputs) {
    const auto n = static_cast<int64_t>(in.ids.size());
    mean.push_back(pool_hidden(Pooling::Mean, tokens.data() + t0 * kDim, n, kDim));
    cls.push_back(pool_hidden(Pooling::Cls, tokens.data() + t0 * kDim, n, kDim));
    t0 += n;
  }
  EXPECT_LE(max_abs_diff(flatten(mean), golden("nofa_batched", "mean.pooled_raw")), 2e-3);
  EXPECT_LE(max_abs_diff(flatten(cls), golden("nofa_batched", "cls.pooled_raw")), 5e-3);
  for (auto* rows : {&mean, &cls})
    for (auto& r : *rows) l2_normalize(r);
  for (const char* variant : {"default_batched", "nofa_batched", "default_perseq", "nofa_perseq"}) {
    EXPECT_LE(max_abs_diff(flatten(mean), golden(variant, "mean.l2norm")), 5e-4) << variant;
    EXPECT_LE(max_abs_diff(flatten(cls), golden(variant, "cls.l2norm")), 5e-4) << variant;
  }
}

TEST(ModernBert, EncoderTokenizesAndEmbedsLikeLlamaEmbedding) {
  auto enc = Encoder::load(test::model_path("synth-modernbert-embed.gguf"), {.batch_size = 4, .n_threads = 2});
  EXPECT_EQ(enc->dim(), kDim);
  EXPECT_EQ(enc->max_tokens(), 512);
  EXPECT_FALSE(enc->is_reranker());
  std::vector<std::string> texts;
  for (const auto& in : golden_task()["inputs"]) {
    texts.push_back(in["text"]);
    EXPECT_EQ(enc->tokenize(texts.back()), in["token_ids"].get<std::vector<int32_t>>()) << texts.back();
  }
  // Batches of 4, 4 and 1: the primary golden is all inputs in one llama_decode.
  EXPECT_LE(max_abs_diff(flatten(enc->embed(texts)), golden("default_batched", "mean.l2norm")), 5e-4);
}

TEST(ModernBert, BadInputsAreErrors) {
  auto m = load_model();
  EXPECT_THROW(m->forward({{{2049, 5000, 2050}, {}}}, nullptr), Error);                 // id outside vocab
  EXPECT_THROW(m->forward({{std::vector<int32_t>(513, 300), {}}}, nullptr), Error);     // > context
  EXPECT_THROW(m->forward({{{2049, 300, 2050}, {0, 1, 1}}}, nullptr), Error);           // no token types
  EXPECT_NO_THROW(m->forward({{std::vector<int32_t>(512, 300), {}}}, nullptr));
}

// Naive attention with an explicit mask, for encoder_attention's tiling and windows.
std::vector<float> naive_attention(const std::vector<float>& qkv, int64_t n, int64_t H, int64_t D, int64_t half) {
  const int64_t E = H * D;
  std::vector<float> out(n * E);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < n; ++i) {
      std::vector<double> p(n, 0.0);
      double mx = -1e300, sum = 0;
      for (int64_t j = 0; j < n; ++j) {
        if (half >= 0 && std::llabs(i - j) > half) continue;
        double s = 0;
        for (int64_t d = 0; d < D; ++d) s += double(qkv[i * 3 * E + h * D + d]) * qkv[j * 3 * E + E + h * D + d];
        p[j] = s / std::sqrt(double(D));
        mx = std::max(mx, p[j]);
      }
      for (int64_t j = 0; j < n; ++j)
        if (half < 0 || std::llabs(i - j) <= half) sum += (p[j] = std::exp(p[j] - mx));
        else p[j] = 0;
      for (int64_t d = 0; d < D; ++d) {
        double o = 0;
        for (int64_t j = 0; j < n; ++j) o += p[j] / sum * qkv[j * 3 * E + 2 * E + h * D + d];
        out[i * E + h * D + d] = static_cast<float>(o);
      }
    }
  return out;
}

TEST(EncoderAttention, WindowedAndGlobalMatchANaiveReference) {
  const int64_t H = 2, D = 8, E = H * D;
  const std::vector<int64_t> lengths = {150, 7, 64};  // across tile edges, shorter than the window, one tile
  std::vector<int64_t> start = {0};
  for (int64_t n : lengths) start.push_back(start.back() + n);
  std::mt19937 rng(7);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> qkv(start.back() * 3 * E);
  for (float& x : qkv) x = g(rng);
  ThreadPool pool(2);
  for (int64_t half : {-1, 0, 8, 100}) {
    std::vector<float> out(start.back() * E);
    encoder_attention(qkv.data(), qkv.data() + E, qkv.data() + 2 * E, 3 * E, start, H, D, half, out.data(), &pool);
    for (size_t s = 0; s < lengths.size(); ++s) {
      const std::vector<float> one(qkv.begin() + start[s] * 3 * E, qkv.begin() + start[s + 1] * 3 * E);
      const std::vector<float> want = naive_attention(one, lengths[s], H, D, half);
      const std::vector<float> got(out.begin() + start[s] * E, out.begin() + start[s + 1] * E);
      EXPECT_LE(max_abs_diff(got, want), 1e-5) << "window " << half << " input " << s;
    }
  }
}

}  // namespace
}  // namespace edgerag
