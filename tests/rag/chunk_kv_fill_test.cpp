// fill_chunk_kv (ingest --kv-model): two entries per chunk, nothing recomputed
// once stored, and the pass stops at the store's disk budget instead of
// evicting what it stored first. That the entries are what ask computes on a
// miss is checked end to end by tests/rag/ingest_kv_store.sh.
#include "rag/chunk_kv_fill.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "fixtures.h"
#include "test_paths.h"

namespace edgerag::rag {
namespace {

size_t files_in(const std::filesystem::path& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

TEST(ChunkKvFill, StoresEachChunkOnceAndStopsAtTheDiskBudget) {
  test::TempDir dir;
  auto idx = Index::open(dir / "idx", {.writable = true});
  IngestOptions io;
  io.collection = "stories";
  ASSERT_EQ(idx->ingest_texts({{"a.txt", "A", "Lily had a red ball. She played with it in the park every day."},
                               {"b.txt", "B", "Tim saw a big dog. The dog ran after the ball."},
                               {"c.txt", "C", "Sue and her mom baked a sweet cake for the party."},
                               {"d.txt", "D", "Hi."}},
                              io)
                .failed,
            0u);
  auto model = Model::load(test::model_path("stories260K.gguf"));
  ThreadPool pool(1);
  const AnswerConfig cfg;

  ChunkKvStore all({.ram_bytes = 0, .dir = dir / "all"});
  size_t calls = 0;
  const ChunkKvFillReport r = fill_chunk_kv(*idx, "stories", *model, pool, all, cfg, {},
                                            [&](const ChunkKvFillReport&, size_t total) {
                                              EXPECT_EQ(total, 4u);
                                              ++calls;
                                            });
  EXPECT_EQ(r.chunks, 4u);
  EXPECT_EQ(r.unplaceable, 1u);  // "Hi." is under 4 tokens: reuse never places it
  EXPECT_EQ(r.stored, 6u);       // chunks and chunks-exact entries of the other three
  EXPECT_EQ(r.present, 0u);
  EXPECT_GT(r.tokens, 0);
  EXPECT_EQ(calls, 5u);
  EXPECT_EQ(files_in(dir / "all"), 6u);
  EXPECT_EQ(fill_chunk_kv(*idx, "other", *model, pool, all, cfg, {}).chunks, 0u);

  const ChunkKvFillReport again = fill_chunk_kv(*idx, "stories", *model, pool, all, cfg, {});
  EXPECT_EQ(again.stored, 0u);
  EXPECT_EQ(again.present, 6u);
  EXPECT_EQ(again.tokens, 0);

  // Room for a third: the pass stops, nothing it wrote is deleted.
  const size_t budget = all.stats().disk_bytes / 3;
  ChunkKvStore half({.ram_bytes = 0, .dir = dir / "half", .disk_bytes = budget});
  const ChunkKvFillReport h = fill_chunk_kv(*idx, "stories", *model, pool, half, cfg, {.modes = {KvReuse::Chunks}});
  EXPECT_GT(h.stored, 0u);
  EXPECT_LT(h.stored, 3u);
  EXPECT_GT(h.over_budget, 0u);
  EXPECT_EQ(h.chunks + h.over_budget - 1, 4u);  // the chunk that did not fit is counted in both
  EXPECT_EQ(files_in(dir / "half"), h.stored);
  EXPECT_LE(half.stats().disk_bytes, budget);

  ChunkKvStore ram_only(ChunkKvStoreOptions{});
  EXPECT_THROW(fill_chunk_kv(*idx, "stories", *model, pool, ram_only, cfg, {}), Error);
}

}  // namespace
}  // namespace edgerag::rag
