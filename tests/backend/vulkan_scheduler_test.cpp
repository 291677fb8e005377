// The scheduler on the Vulkan backend: 8 requests decoded concurrently (shared
// prefixes, so prefix-cache attach and device copy-on-write happen) give the
// tokens each gives alone, greedy, on the same device.
#include <gtest/gtest.h>

#include <list>
#include <thread>

#include "model/model.h"
#include "runtime/scheduler_decoder.h"
#include "runtime/scheduler_fake_model.h"
#include "test_paths.h"

namespace edgerag {
namespace {

// Greedy tokens of one sequence alone, token by token on a fresh cache.
std::vector<int32_t> greedy_alone(const Model& m, const std::vector<int32_t>& prompt, int n) {
  auto cache = m.make_cache(256);
  Batch b;
  for (size_t i = 0; i < prompt.size(); ++i) b.add(prompt[i], static_cast<int32_t>(i), 0, i + 1 == prompt.size());
  Logits l = m.forward(b, *cache, nullptr);
  std::vector<int32_t> out;
  for (int32_t pos = static_cast<int32_t>(prompt.size());; ++pos) {
    out.push_back(test::argmax(std::span<const float>(l.row(0), l.n_vocab)));
    if (static_cast<int>(out.size()) == n) return out;
    b.clear();
    b.add(out.back(), pos, 0, true);
    l = m.forward(b, *cache, nullptr);
  }
}

TEST(VulkanScheduler, EightConcurrentEqualSequential) {
  auto model = Model::load(test::model_path("stories260K.gguf"), WeightPacking::kAuto,
                           ComputeOptions{DeviceKind::Vulkan});
  ASSERT_STREQ(model->device(), "vulkan");
  const std::vector<int32_t> system = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426,
                                       338, 401};  // 18 tokens: one full 16-token block shared
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 8; ++i) {
    std::vector<int32_t> p = i % 2 ? std::vector<int32_t>{1} : system;
    for (int k = 0; k < 3 + i; ++k) p.push_back(260 + (i * 17 + k * 5) % 200);
    prompts.push_back(p);
  }
  std::vector<std::vector<int32_t>> want;
  for (const auto& p : prompts) want.push_back(greedy_alone(*model, p, 12));

  DecoderStepModel step(*model, nullptr, 2048, 256);
  Scheduler sched(step, {.max_running = 8, .max_queued = 16, .step_tokens = 64, .prefill_chunk = 16});
  std::list<test::Collector> cs;
  test::Collector& first = cs.emplace_back();  // alone first: its prompt blocks enter the prefix cache
  sched.submit(first.request(prompts[0], 12));
  first.wait();
  EXPECT_EQ(first.tokens, want[0]);
  cs.clear();
  for (const auto& p : prompts) sched.submit(cs.emplace_back().request(p, 12));
  size_t i = 0;
  for (auto& c : cs) {
    c.wait();
    EXPECT_EQ(c.tokens, want[i]) << "request " << i;
    ++i;
  }
  EXPECT_GT(sched.stats().cached_tokens, 0u);  // the shared block was attached, not recomputed
}

}  // namespace
}  // namespace edgerag
