// BERT encoder against the llama.cpp goldens (golden/README.md §4, §7.4).
#include <chrono>
#include <cmath>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/bert.h"
#include "model/bert_encoder.h"
#include "test_paths.h"
#include "util/deadline.h"
#include "util/error.h"

namespace edgerag {
namespace {

nlohmann::json golden_index() {
  std::ifstream in(test::golden_path("embeddings/index.json"));
  return nlohmann::json::parse(in);
}

const nlohmann::json& task(const nlohmann::json& index, const std::string& name) {
  for (const auto& t : index["tasks"])
    if (t["task"] == name) return t;
  throw Error("no task " + name);
}

std::vector<float> read_f32(const std::string& rel) {
  std::ifstream in(test::golden_path(rel), std::ios::binary | std::ios::ate);
  EXPECT_TRUE(in.good()) << rel;
  std::vector<float> v(static_cast<size_t>(in.tellg()) / sizeof(float));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  return v;
}

std::vector<BertInput> golden_inputs(const nlohmann::json& t) {
  std::vector<BertInput> batch;
  for (const auto& in : t["inputs"]) batch.push_back({in["token_ids"].get<std::vector<int32_t>>(), {}});
  return batch;
}

float max_abs_diff(const std::vector<std::vector<float>>& got, const std::vector<float>& want) {
  float m = 0;
  size_t k = 0;
  for (const auto& row : got)
    for (float g : row) m = std::max(m, std::fabs(g - want.at(k++)));
  EXPECT_EQ(k, want.size());
  return m;
}

TEST(Bert, EmbeddingsMatchLlamaCppGoldens) {
  auto model = BertModel::load(test::model_path("synth-bert-embed.gguf"));
  EXPECT_EQ(model->hparams().pooling, Pooling::Mean);
  EXPECT_EQ(model->hparams().n_embd, 128);
  const auto t = task(golden_index(), "embedding");
  ThreadPool pool(2);
  auto emb = model->encode(golden_inputs(t), &pool);
  ASSERT_EQ(emb.size(), 6u);
  auto raw = emb;
  for (auto& v : emb) l2_normalize(v);
  // Primary (llama-embedding, flash attention with F16 K/V) and the exact F32 variants.
  EXPECT_LE(max_abs_diff(emb, read_f32("embeddings/synth-bert-embed.default_batched.l2norm.f32.bin")), 2e-4);
  EXPECT_LE(max_abs_diff(emb, read_f32("embeddings/synth-bert-embed.nofa_batched.l2norm.f32.bin")), 1e-4);
  EXPECT_LE(max_abs_diff(emb, read_f32("embeddings/synth-bert-embed.nofa_perseq.l2norm.f32.bin")), 1e-4);
  // Before normalization (|v| ~ 8): same relative agreement.
  const auto want_raw = read_f32("embeddings/synth-bert-embed.nofa_batched.pooled_raw.f32.bin");
  for (size_t i = 0; i < raw.size(); ++i) {
    float norm = 0, diff = 0;
    for (size_t c = 0; c < raw[i].size(); ++c) {
      norm += want_raw[i * 128 + c] * want_raw[i * 128 + c];
      diff = std::max(diff, std::fabs(raw[i][c] - want_raw[i * 128 + c]));
    }
    EXPECT_LE(diff / std::sqrt(norm), 1e-4) << "input " << i << " norm " << std::sqrt(norm);
  }
}

TEST(Bert, RerankScoresMatchLlamaCppGoldensWithTypeZero) {
  auto model = BertModel::load(test::model_path("synth-bert-rerank.gguf"));
  EXPECT_EQ(model->hparams().pooling, Pooling::Rank);
  EXPECT_EQ(model->hparams().n_cls_out, 1);
  const auto t = task(golden_index(), "rerank");
  auto scores = model->encode(golden_inputs(t), nullptr);
  EXPECT_LE(max_abs_diff(scores, read_f32("embeddings/synth-bert-rerank.default_batched.scores.f32.bin")), 3e-3);
  EXPECT_LE(max_abs_diff(scores, read_f32("embeddings/synth-bert-rerank.nofa_perseq.scores.f32.bin")), 3e-3);
}

TEST(Bert, PackedBatchEqualsOneByOne) {
  auto model = BertModel::load(test::model_path("synth-bert-embed.gguf"));
  const auto inputs = golden_inputs(task(golden_index(), "embedding"));
  ThreadPool pool(2);
  const auto batched = model->encode(inputs, &pool);
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto one = model->encode({inputs[i]}, nullptr);
    for (size_t c = 0; c < one[0].size(); ++c) EXPECT_NEAR(one[0][c], batched[i][c], 1e-5) << i << "," << c;
  }
}

TEST(Bert, SecondSegmentTokenTypeChangesTheScore) {
  auto model = BertModel::load(test::model_path("synth-bert-rerank.gguf"));
  BertInput in{task(golden_index(), "rerank")["inputs"][0]["token_ids"].get<std::vector<int32_t>>(), {}};
  const float type0 = model->encode({in}, nullptr)[0][0];
  in.type_ids.assign(in.ids.size(), 0);
  EXPECT_EQ(model->encode({in}, nullptr)[0][0], type0);
  for (size_t i = 6; i < in.ids.size(); ++i) in.type_ids[i] = 1;  // after the first [SEP]
  EXPECT_GT(std::fabs(model->encode({in}, nullptr)[0][0] - type0), 1e-4);
}

TEST(Bert, PoolingOnHandMadeHiddenStates) {
  // Three tokens of width 2.
  const float h[] = {1, 2, 3, 4, 5, 9};
  EXPECT_EQ(pool_hidden(Pooling::Mean, h, 3, 2), (std::vector<float>{3, 5}));
  EXPECT_EQ(pool_hidden(Pooling::Cls, h, 3, 2), (std::vector<float>{1, 2}));
  EXPECT_EQ(pool_hidden(Pooling::Last, h, 3, 2), (std::vector<float>{5, 9}));
  EXPECT_THROW(pool_hidden(Pooling::Rank, h, 3, 2), Error);
  EXPECT_THROW(pool_hidden(Pooling::Mean, h, 0, 2), Error);
  std::vector<float> v{3, 4};
  l2_normalize(v);
  EXPECT_FLOAT_EQ(v[0], 0.6f);
  EXPECT_FLOAT_EQ(v[1], 0.8f);
  std::vector<float> zero{0, 0};
  l2_normalize(zero);
  EXPECT_EQ(zero, (std::vector<float>{0, 0}));
}

TEST(Bert, BadInputsAreErrors) {
  auto model = BertModel::load(test::model_path("synth-bert-embed.gguf"));
  EXPECT_THROW(model->forward({{{101, 40000, 102}, {}}}, nullptr), Error);  // id outside vocab
  EXPECT_THROW(model->forward({{{}, {}}}, nullptr), Error);                  // empty
  EXPECT_THROW(model->forward({{std::vector<int32_t>(513, 1000), {}}}, nullptr), Error);  // > 512 positions
  EXPECT_THROW(model->forward({{{101, 102}, {0, 2}}}, nullptr), Error);      // token type 2
  EXPECT_THROW(BertModel::load(test::model_path("stories260K.gguf")), Error);  // not BERT
}

TEST(Encoder, EmbedTokenizesLikeLlamaCppAndMatchesGoldens) {
  auto enc = Encoder::load(test::model_path("synth-bert-embed.gguf"), {.batch_size = 4, .n_threads = 2});
  const auto t = task(golden_index(), "embedding");
  std::vector<std::string> texts;
  for (const auto& in : t["inputs"]) {
    texts.push_back(in["text"]);
    EXPECT_EQ(enc->tokenize(texts.back()), in["token_ids"].get<std::vector<int32_t>>());
  }
  EXPECT_EQ(enc->query_prefix(), "");
  const auto emb = enc->embed(texts);  // batches of 4 + 2
  EXPECT_LE(max_abs_diff(emb, read_f32("embeddings/synth-bert-embed.default_batched.l2norm.f32.bin")), 2e-4);
  EXPECT_THROW(enc->rerank("q", {"d"}), Error);
}

// A request's deadline stops the encoder inside its work: before each pass
// and each layer (BertModel::encode has no check of its own around the forward).
TEST(Encoder, StopsAtTheCallersDeadline) {
  auto enc = Encoder::load(test::model_path("synth-bert-rerank.gguf"));
  auto model = BertModel::load(test::model_path("synth-bert-rerank.gguf"));
  const BertInput in{enc->pair_input("q", "d").ids, {}};
  {
    DeadlineScope past(DeadlineScope::Clock::now() - std::chrono::milliseconds(1));
    EXPECT_THROW(enc->rerank("q", {"d", "e"}), DeadlineExceeded);
    EXPECT_THROW(model->encode({in}, nullptr), DeadlineExceeded);
  }
  EXPECT_EQ(enc->rerank("q", {"d", "e"}).size(), 2u);  // the scope is over
  EXPECT_EQ(model->encode({in}, nullptr).size(), 1u);
}

TEST(Encoder, RerankPairsMatchGoldensWithTypeZeroOption) {
  const auto t = task(golden_index(), "rerank");
  auto enc = Encoder::load(test::model_path("synth-bert-rerank.gguf"), {.token_type_zero = true});
  const auto want = read_f32("embeddings/synth-bert-rerank.default_batched.scores.f32.bin");
  for (size_t i = 0; i < t["inputs"].size(); ++i) {
    const auto& in = t["inputs"][i];
    EXPECT_EQ(enc->pair_input(in["query"], in["document"]).ids, in["token_ids"].get<std::vector<int32_t>>());
    EXPECT_NEAR(enc->rerank(in["query"], {in["document"]})[0], want[i], 3e-3);
  }
  // Trained cross-encoders use type 1 for the document segment (the default).
  auto typed = Encoder::load(test::model_path("synth-bert-rerank.gguf"));
  const auto in = typed->pair_input("what is panda?", "hi");
  EXPECT_EQ(in.type_ids, (std::vector<int32_t>{0, 0, 0, 0, 0, 0, 1, 1}));
  EXPECT_THROW(typed->embed({"x"}), Error);
}

TEST(Encoder, ConcurrentCallersGetTheSameVectors) {
  auto enc = Encoder::load(test::model_path("synth-bert-embed.gguf"), {.batch_size = 2, .n_threads = 2});
  const std::vector<std::string> texts{"What is the capital of France?", "Once upon a time.", "A fast auburn fox."};
  const auto want = enc->embed(texts);
  std::vector<std::vector<std::vector<float>>> got(3);
  std::vector<std::thread> threads;
  for (auto& g : got) threads.emplace_back([&] { g = enc->embed(texts); });
  for (auto& t : threads) t.join();
  for (const auto& g : got) EXPECT_EQ(g, want);
}

}  // namespace
}  // namespace edgerag
