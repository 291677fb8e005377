// The decoder on the Vulkan backend (CI: Mesa's lavapipe; never skipped):
// prompt logits and greedy continuations against llama.cpp's goldens, partial
// offload against full offload, and the VRAM budget failing before any upload.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "model/decoder_golden.h"
#include "model/model.h"
#include "runtime/chunk_prefill.h"
#include "runtime/chunk_kv_store.h"
#include "util/error.h"

namespace edgerag {
namespace {

ComputeOptions on_vulkan(int32_t gpu_layers = -1, int64_t budget_mb = 0) {
  return ComputeOptions{DeviceKind::Vulkan, gpu_layers, budget_mb};
}

struct Tolerance {
  const char* model;
  float max_abs;
  double argmax_share;
};

// The shaders multiply float activations by dequantized weights (the CPU path
// quantizes activations to Q8 like ggml's CPU backend), so quantized models sit
// further from llama.cpp's CPU goldens than on the CPU. Observed max |diff| on
// lavapipe: stories260K 1.5e-5, stories260K-q4_0 (Q4_0 + F16 ffn_down) 0.35.
// The synthetic qwen2/qwen3/F16 models have 150k-token vocabularies, minutes per
// model on lavapipe: their paths (biases, NeoX, Q/K norm, F16) are covered by the
// shader tests, not here.
constexpr Tolerance kTolerances[] = {
    {"stories260K", 1e-3f, 1.0},
    {"stories260K-q4_0-ffndown_f16", 0.5f, 0.95},
};

class VulkanGolden : public ::testing::TestWithParam<Tolerance> {};

TEST_P(VulkanGolden, PromptLogitsAndGreedyMatchLlamaCpp) {
  const Tolerance tol = GetParam();
  const auto runs = test::golden_runs();
  const auto& run = test::golden_run(runs, tol.model);
  auto model = Model::load(run.model_path, WeightPacking::kAuto, on_vulkan());
  ASSERT_STREQ(model->device(), "vulkan");
  ASSERT_EQ(model->gpu_layers(), model->hparams().n_layer);
  test::expect_golden_logits_and_greedy(*model, run, tol.max_abs, tol.argmax_share, nullptr);
}

INSTANTIATE_TEST_SUITE_P(Models, VulkanGolden, ::testing::ValuesIn(kTolerances), [](const auto& info) {
  std::string n = info.param.model;
  std::replace_if(n.begin(), n.end(), [](char c) { return !std::isalnum(c); }, '_');
  return n;
});

// --gpu-layers 1: the first layer on the GPU, the rest (and the head) on the CPU,
// gives the logits of full offload and its greedy tokens.
TEST(VulkanOffload, PartialEqualsFull) {
  const std::string path = test::model_path("stories260K.gguf");
  auto full = Model::load(path, WeightPacking::kAuto, on_vulkan());
  auto part = Model::load(path, WeightPacking::kAuto, on_vulkan(1));
  ASSERT_EQ(part->gpu_layers(), 1);
  ASSERT_GT(part->hparams().n_layer, 1);
  ThreadPool pool(2);
  auto cf = full->make_cache(128), cp = part->make_cache(128);
  const std::vector<int32_t> prompt = {1, 403, 407, 261, 378, 432, 383, 286};
  const Logits lf = test::eval_prompt(*full, *cf, prompt, &pool);
  const Logits lp = test::eval_prompt(*part, *cp, prompt, &pool);
  ASSERT_EQ(lf.data.size(), lp.data.size());
  for (size_t i = 0; i < lf.data.size(); ++i) ASSERT_NEAR(lf.data[i], lp.data[i], 1e-4) << i;
  const int32_t V = full->hparams().n_vocab;
  int32_t tf = test::argmax_row(lf.row(lf.n_rows() - 1), V), tp = test::argmax_row(lp.row(lp.n_rows() - 1), V);
  for (int32_t pos = static_cast<int32_t>(prompt.size()); pos < 40; ++pos) {
    ASSERT_EQ(tf, tp) << "position " << pos;
    Batch b;
    b.add(tf, pos, 0, true);
    tf = test::argmax_row(full->forward(b, *cf, &pool).row(0), V);
    tp = test::argmax_row(part->forward(b, *cp, &pool).row(0), V);
  }
}

TEST(VulkanOffload, VramBudgetFailsUpFront) {
  const std::string path = test::model_path("synth-qwen3.gguf");  // 29 MB of weights
  try {
    Model::load(path, WeightPacking::kAuto, on_vulkan(-1, 10));
    FAIL() << "a 10 MB budget held a 29 MB model";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--vram-budget 10 MB"), std::string::npos) << e.what();
  }
  // Weights fit; the KV cache asked for afterwards does not.
  auto m = Model::load(path, WeightPacking::kAuto, on_vulkan(-1, 40));
  EXPECT_GT(m->vram().weights, 20u << 20);
  EXPECT_THROW(m->make_cache(1 << 16), Error);
  auto cache = m->make_cache(64);
  EXPECT_GT(m->vram().kv, 0u);
}

TEST(VulkanOffload, QuantizedKvIsRefusedClearly) {
  auto m = Model::load(test::model_path("stories260K.gguf"), WeightPacking::kAuto, on_vulkan());
  try {
    m->make_cache(64, DType::F16);
    FAIL() << "an F16 KV cache on the device";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--kv-type f16"), std::string::npos) << e.what();
  }
}

// Chunk placement writes the host cache, which GPU layers do not read: refused, not wrong.
TEST(VulkanOffload, ChunkKvReuseIsRefusedClearly) {
  auto m = Model::load(test::model_path("stories260K.gguf"), WeightPacking::kAuto, on_vulkan());
  auto cache = m->make_cache(64);
  ChunkKvStore store(ChunkKvStoreOptions{});
  const ChunkPrefiller pre{*m, store, chunk_model_id(*m), nullptr};
  const std::vector<int32_t> prompt = {1, 5, 6, 7, 8, 9};
  const ChunkSpan span{1, 4};
  try {
    pre.prefill(*cache, 0, prompt, {&span, 1}, KvReuseOptions{.mode = KvReuse::Chunks}, 8, nullptr);
    FAIL() << "chunk KV placed into a GPU model's cache";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--kv-reuse prefix"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace edgerag
