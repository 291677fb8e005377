// The encoders (bert, modern-bert) on the Vulkan backend (CI: Mesa's lavapipe;
// never skipped) against the same models on the CPU: embeddings and rerank
// scores, whole-model and partial offload, and llama.cpp's goldens with the CPU
// tests' tolerances.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "model/bert_encoder.h"
#include "test_paths.h"
#include "util/error.h"

namespace edgerag {
namespace {

ComputeOptions on_vulkan(int32_t gpu_layers = -1) { return ComputeOptions{DeviceKind::Vulkan, gpu_layers, 0}; }
constexpr ComputeOptions kCpu{DeviceKind::Cpu};

// Short and long inputs in one packed pass: the long one is past a 64-key tile
// of the attention shader and past ModernBERT's 16-token sliding window.
std::vector<std::string> texts() {
  std::string long_text;
  for (int i = 0; i < 9; ++i) long_text += "the quick brown fox jumps over a lazy dog ";
  return {"What is the capital of France?", long_text, "hi", "Once upon a time there was a little robot."};
}

double cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) ab += double(a[i]) * b[i], aa += double(a[i]) * a[i], bb += double(b[i]) * b[i];
  return ab / std::sqrt(aa * bb);
}

void expect_same_embeddings(const std::string& model, int32_t gpu_layers) {
  SCOPED_TRACE(testing::Message() << model << " gpu_layers " << gpu_layers);
  auto cpu = Encoder::load(test::model_path(model), {.batch_size = 8, .compute = kCpu});
  auto gpu = Encoder::load(test::model_path(model), {.batch_size = 8, .compute = on_vulkan(gpu_layers)});
  ASSERT_STREQ(gpu->model().device(), "vulkan");
  EXPECT_EQ(gpu->model().gpu_layers(), gpu_layers < 0 ? gpu->model().hparams().n_layer : gpu_layers);
  const auto want = cpu->embed(texts()), got = gpu->embed(texts());
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_GE(cosine(got[i], want[i]), 0.9999) << "text " << i;
    for (size_t c = 0; c < got[i].size(); ++c) ASSERT_NEAR(got[i][c], want[i][c], 1e-4) << "text " << i << "," << c;
  }
}

TEST(VulkanEncoder, BertEmbeddingsEqualTheCpus) { expect_same_embeddings("synth-bert-embed.gguf", -1); }
TEST(VulkanEncoder, ModernBertEmbeddingsEqualTheCpus) { expect_same_embeddings("synth-modernbert-embed.gguf", -1); }
// --gpu-layers 1: embeddings and layer 0 on the GPU, the rest on the CPU.
TEST(VulkanEncoder, PartialOffloadEqualsTheCpu) {
  expect_same_embeddings("synth-bert-embed.gguf", 1);
  expect_same_embeddings("synth-modernbert-embed.gguf", 2);
}

// Every split --gpu-layers 0..L (0: the CPU alone; L: the whole model) gives the
// CPU's hidden states for every token of a packed batch: one short input, one
// past a 64-key tile and past ModernBERT's sliding window, second-segment types.
void expect_every_split_equals_cpu(const std::string& model) {
  const std::string path = test::model_path(model);
  auto cpu = BertModel::load(path, kCpu);
  const BertHParams& hp = cpu->hparams();
  std::vector<BertInput> batch(3);
  for (int32_t i = 0; i < 5; ++i) batch[0].ids.push_back((i * 37 + 1) % static_cast<int32_t>(hp.n_vocab));
  for (int32_t i = 0; i < 90; ++i) batch[1].ids.push_back((i * 101 + 7) % static_cast<int32_t>(hp.n_vocab));
  for (int32_t i = 0; i < 12; ++i) batch[2].ids.push_back((i * 13 + 3) % static_cast<int32_t>(hp.n_vocab));
  if (hp.n_token_types > 1)
    for (int32_t i = 0; i < 12; ++i) batch[2].type_ids.push_back(i < 6 ? 0 : 1);
  const std::vector<float> want = cpu->forward(batch, nullptr);
  for (int32_t n = 0; n <= hp.n_layer; ++n) {
    SCOPED_TRACE(testing::Message() << model << " gpu_layers " << n);
    auto split = BertModel::load(path, on_vulkan(n));
    EXPECT_STREQ(split->device(), n == 0 ? "cpu" : "vulkan");
    EXPECT_EQ(split->gpu_layers(), n);
    const std::vector<float> got = split->forward(batch, nullptr);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4) << "value " << i;
  }
}

TEST(VulkanEncoder, EverySplitEqualsTheCpuBert) { expect_every_split_equals_cpu("synth-bert-embed.gguf"); }
TEST(VulkanEncoder, EverySplitEqualsTheCpuModernBert) { expect_every_split_equals_cpu("synth-modernbert-embed.gguf"); }

TEST(VulkanEncoder, RerankScoresEqualTheCpusAndTheGoldens) {
  const std::string path = test::model_path("synth-bert-rerank.gguf");
  auto cpu = Encoder::load(path, {.compute = kCpu});
  auto gpu = Encoder::load(path, {.compute = on_vulkan()});
  const auto docs = texts();
  const auto want = cpu->rerank("what does the fox do?", docs), got = gpu->rerank("what does the fox do?", docs);
  for (size_t i = 0; i < docs.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4 * std::max(1.0f, std::fabs(want[i])));

  // llama.cpp's scores (type 0 for both segments), as the CPU test checks them.
  std::ifstream in(test::golden_path("embeddings/index.json"));
  const auto index = nlohmann::json::parse(in);
  std::ifstream bin(test::golden_path("embeddings/synth-bert-rerank.default_batched.scores.f32.bin"), std::ios::binary);
  auto zero = Encoder::load(path, {.token_type_zero = true, .compute = on_vulkan()});
  for (const auto& t : index["tasks"]) {
    if (t["task"] != "rerank") continue;
    for (const auto& q : t["inputs"]) {
      float golden = 0;
      bin.read(reinterpret_cast<char*>(&golden), sizeof golden);
      ASSERT_TRUE(bin.good());
      EXPECT_NEAR(zero->rerank(q["query"], {q["document"]})[0], golden, 3e-3);
    }
  }
}

TEST(VulkanEncoder, BudgetAndBadLayerCountsFailUpFront) {
  const std::string path = test::model_path("synth-bert-embed.gguf");
  EXPECT_THROW(BertModel::load(path, ComputeOptions{DeviceKind::Vulkan, -1, 1}), Error);  // 1 MB < 6 MB of weights
  auto zero = BertModel::load(path, on_vulkan(0));  // no layer on the GPU: the CPU
  EXPECT_STREQ(zero->device(), "cpu");
}

}  // namespace
}  // namespace edgerag
