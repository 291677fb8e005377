// Prompt prefill with cached chunk KV on stories260K: chunks-exact equals a full
// prefill; chunks reuses chunks in any order and, recomputing every placed
// token, equals a full prefill too; the counters say what was reused.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <list>

#include "runtime/chunk_prefill.h"
#include "runtime/scheduler_decoder.h"
#include "runtime/scheduler_fake_model.h"
#include "test_paths.h"
#include "tokenizer/tokenizer.h"
#include "util/error.h"

namespace edgerag {
namespace {

struct Prompt {
  std::vector<int32_t> ids;
  std::vector<ChunkSpan> spans;
};

class ChunkPrefillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model = Model::load(test::model_path("stories260K.gguf"));
    tok = Tokenizer::from_gguf(model->gguf());
    chunks = {tok->encode("Lily had a red ball. She liked to play with it in the park every day.", false, false),
              tok->encode("Tom was a big dog. He ran fast and barked at the cat in the tree.", false, false),
              tok->encode("The sun was hot, so the children went to swim in the blue lake.", false, false)};
  }
  // [prefix] chunk [gap] chunk ... [tail]
  Prompt build(const std::vector<int>& order) const {
    Prompt p;
    p.ids = tok->encode("Once upon a time, there were stories.", true, false);
    for (int i : order) {
      const auto gap = tok->encode(" Next:", false, false);
      p.ids.insert(p.ids.end(), gap.begin(), gap.end());
      const int32_t b = static_cast<int32_t>(p.ids.size());
      p.ids.insert(p.ids.end(), chunks[i].begin(), chunks[i].end());
      p.spans.push_back({b, static_cast<int32_t>(p.ids.size())});
    }
    const auto tail = tok->encode(" And then", false, false);
    p.ids.insert(p.ids.end(), tail.begin(), tail.end());
    return p;
  }
  std::vector<float> full(const Prompt& p, KvType type = DType::F32) const {
    auto cache = model->make_cache(512, type);
    Batch b;
    for (size_t i = 0; i < p.ids.size(); ++i) b.add(p.ids[i], static_cast<int32_t>(i), 0, i + 1 == p.ids.size());
    return model->forward(b, *cache, nullptr).data;
  }
  std::vector<float> reuse(ChunkKvStore& store, const Prompt& p, const KvReuseOptions& opt, ChunkPrefillStats* st,
                           KvType type = DType::F32) const {
    auto cache = model->make_cache(1024, type);
    ChunkPrefiller pre{*model, store, chunk_model_id(*model), nullptr};
    return pre.prefill(*cache, 7, p.ids, p.spans, opt, 32, st).data;
  }
  static float max_diff(const std::vector<float>& a, const std::vector<float>& b) {
    float d = 0;
    for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::fabs(a[i] - b[i]));
    return d;
  }
  std::unique_ptr<Model> model;
  std::unique_ptr<Tokenizer> tok;
  std::vector<std::vector<int32_t>> chunks;
};

TEST_F(ChunkPrefillTest, ChunksExactEqualsFullPrefill) {
  for (const char* kv : {"f32", "f16"}) {
    const KvType type = kv_type_from_name(kv);
    ChunkKvStore store({});
    const Prompt p = build({0, 1, 2}), q = build({1, 0, 2});
    const auto ref = full(p, type);
    KvReuseOptions opt;
    opt.mode = KvReuse::ChunksExact;
    ChunkPrefillStats cold, warm, other;
    EXPECT_LE(max_diff(reuse(store, p, opt, &cold, type), ref), 1e-5f) << kv;
    EXPECT_EQ(cold.chunk_misses, 3);
    EXPECT_EQ(cold.chunk_hits, 0);
    EXPECT_EQ(cold.computed_tokens, static_cast<int64_t>(p.ids.size()));
    EXPECT_LE(max_diff(reuse(store, p, opt, &warm, type), ref), 1e-5f) << kv;
    EXPECT_EQ(warm.chunk_hits, 3);
    EXPECT_EQ(warm.reused_tokens, static_cast<int64_t>(chunks[0].size() + chunks[1].size() + chunks[2].size()));
    EXPECT_EQ(warm.recomputed_tokens, 0);
    // Another order: no chunk has the same preceding prompt.
    EXPECT_LE(max_diff(reuse(store, q, opt, &other, type), full(q, type)), 1e-5f) << kv;
    EXPECT_EQ(other.chunk_hits, 0);
  }
}

TEST_F(ChunkPrefillTest, ChunksReuseAnyOrderAndFullRecomputeEqualsFullPrefill) {
  ChunkKvStore store({});
  const Prompt p = build({0, 1, 2}), q = build({2, 0, 1});
  KvReuseOptions opt;
  opt.mode = KvReuse::Chunks;
  opt.recompute_share = 0.0;
  opt.recompute_first = 2;
  ChunkPrefillStats cold, warm;
  reuse(store, p, opt, &cold);
  EXPECT_EQ(cold.chunk_misses, 3);
  const auto got = reuse(store, q, opt, &warm);
  EXPECT_EQ(warm.chunk_hits, 3);
  EXPECT_EQ(warm.chunk_misses, 0);
  EXPECT_EQ(warm.recomputed_tokens, 4);  // the first 2 tokens of the 2nd and 3rd chunks
  EXPECT_EQ(warm.reused_tokens, static_cast<int64_t>(chunks[0].size() + chunks[1].size() + chunks[2].size()) - 4);
  const auto ref = full(q);
  const float no_recompute = max_diff(got, ref);
  EXPECT_GT(no_recompute, 1e-4f);  // cross-chunk attention is missing
  // Recomputing every placed token restores the full prefill.
  opt.recompute_share = 1.0;
  ChunkPrefillStats all;
  EXPECT_LE(max_diff(reuse(store, q, opt, &all), ref), 1e-4f);
  EXPECT_EQ(all.recomputed_tokens, static_cast<int64_t>(chunks[0].size() + chunks[1].size()));
  // A partial share selects by deviation and lands in between.
  opt.recompute_share = 0.3;
  ChunkPrefillStats part;
  const float partial = max_diff(reuse(store, q, opt, &part), ref);
  EXPECT_EQ(part.recomputed_tokens, static_cast<int64_t>(std::ceil(0.3 * (chunks[0].size() + chunks[1].size()))));
  EXPECT_LT(partial, no_recompute);
}

TEST_F(ChunkPrefillTest, QuantizedCacheAndNoScratchRoom) {
  const Prompt p = build({0, 1, 2});
  KvReuseOptions opt;
  opt.mode = KvReuse::Chunks;
  opt.recompute_share = 1.0;
  ChunkKvStore store({});
  ChunkPrefillStats st;
  const KvType int8 = KvType::kivi(8);
  const auto ref = full(p, int8);
  reuse(store, p, opt, &st, int8);
  const auto warm = reuse(store, p, opt, &st, int8);
  EXPECT_EQ(st.chunk_hits, 3);
  const int32_t V = model->hparams().n_vocab;
  EXPECT_EQ(std::max_element(warm.begin(), warm.end()) - warm.begin(), std::max_element(ref.begin(), ref.end()) - ref.begin());
  EXPECT_LE(max_diff(warm, ref), 0.1f) << V;
  // No blocks to spare for scratch sequences: misses are computed in context, not stored.
  ChunkKvStore empty({});
  auto cache = model->make_cache(1024);
  ChunkPrefiller pre{*model, empty, chunk_model_id(*model), nullptr};
  ChunkPrefillStats none;
  const auto got = pre.prefill(*cache, 0, p.ids, p.spans, opt, 0, &none).data;
  EXPECT_EQ(none.chunk_misses, 3);
  EXPECT_EQ(empty.stats().chunks, 0u);
  EXPECT_LE(max_diff(got, full(p)), 1e-4f);
}

TEST_F(ChunkPrefillTest, RejectsBadSpansAndOptions) {
  ChunkKvStore store({});
  Prompt p = build({0, 1});
  KvReuseOptions opt;
  opt.mode = KvReuse::Chunks;
  std::swap(p.spans[0], p.spans[1]);
  EXPECT_THROW(reuse(store, p, opt, nullptr), Error);
  opt.recompute_share = 1.5;
  EXPECT_THROW(reuse(store, build({0}), opt, nullptr), Error);
  EXPECT_THROW(kv_reuse_from_name("chunk"), Error);
  EXPECT_EQ(kv_reuse_from_name("chunks-exact"), KvReuse::ChunksExact);
}

// Requests in scheduler batches share cached chunks: run together (cold store,
// admitted in one step) they generate what they generate one at a time, and in
// chunks-exact mode what a plain prefill generates.
TEST_F(ChunkPrefillTest, ConcurrentRequestsEqualSequentialOnes) {
  auto q8 = Model::load(test::model_path("stories260K-q8_0-ffndown_f16.gguf"));  // batch-invariant bit for bit
  const std::vector<Prompt> prompts = {build({0, 1, 2}), build({2, 1, 0}), build({1, 2}), build({0, 1, 2})};
  auto run = [&](KvReuse mode, bool together, ChunkPrefillStats* total) {
    ChunkKvStore store({});
    DecoderStepModel step(*q8, nullptr, 4096, 512);
    step.set_chunk_store(&store);
    SchedulerOptions so;
    so.max_running = 8;
    so.prefix_cache = false;  // chunk lookups alone (prompt 4 repeats prompt 1)
    Scheduler sched(step, so);
    std::list<test::Collector> cs;
    for (const Prompt& p : prompts) {
      GenRequest r = cs.emplace_back().request(p.ids, 12);
      r.chunks = p.spans;
      r.kv_reuse.mode = mode;
      sched.submit(std::move(r));
      if (!together) cs.back().wait();
    }
    std::vector<std::vector<int32_t>> out;
    for (auto& c : cs) {
      c.wait();
      out.push_back(c.tokens);
    }
    if (total) *total = sched.stats().kv_reuse;
    return out;
  };
  const auto plain = run(KvReuse::Prefix, false, nullptr);
  for (KvReuse mode : {KvReuse::ChunksExact, KvReuse::Chunks}) {
    ChunkPrefillStats seq_stats, par_stats;
    const auto sequential = run(mode, false, &seq_stats), concurrent = run(mode, true, &par_stats);
    EXPECT_EQ(concurrent, sequential) << kv_reuse_name(mode);
    EXPECT_EQ(par_stats.chunk_hits, seq_stats.chunk_hits) << kv_reuse_name(mode);
    EXPECT_GT(par_stats.chunk_hits, 0) << kv_reuse_name(mode);
    if (mode == KvReuse::ChunksExact) {
      EXPECT_EQ(sequential, plain);
    }
  }
}

}  // namespace
}  // namespace edgerag
