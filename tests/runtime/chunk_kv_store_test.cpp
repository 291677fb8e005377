// The chunk KV store: RAM byte budget with least-recently-used eviction, disk
// files written whole and bounded by their own budget, hostile files rejected.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "runtime/chunk_kv_store.h"
#include "util/error.h"

namespace edgerag {
namespace {
namespace fs = std::filesystem;

std::shared_ptr<const ChunkKv> chunk(int32_t n_tokens, uint8_t fill, KvType type = DType::F32) {
  auto c = std::make_shared<ChunkKv>();
  c->type = type;
  c->n_layer = 2, c->n_head_kv = 2, c->head_dim = 32, c->n_tokens = n_tokens, c->pos = 3;
  c->data.assign(static_cast<size_t>(2) * 2 * 2 * n_tokens * c->row_bytes(), fill);
  return c;
}

ChunkKvStoreOptions opts(size_t ram, const fs::path& dir = {}, size_t disk = size_t{1} << 30) {
  ChunkKvStoreOptions o;
  o.ram_bytes = ram, o.dir = dir.string(), o.disk_bytes = disk;
  return o;
}

std::string key_of(int i) {
  const std::vector<int32_t> t{i, i + 1};
  return ChunkKvStore::key("m", DType::F32, {}, t);
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("chunkkv_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
                                               ::testing::UnitTest::GetInstance()->current_test_info()->name());
  TempDir() { fs::remove_all(path); }
  ~TempDir() { fs::remove_all(path); }
};

TEST(ChunkKvStore, KeyNamesModelTypeContextAndChunk) {
  const std::vector<int32_t> a{1, 2, 3}, b{1, 2, 4}, ctx{7};
  const std::string k = ChunkKvStore::key("m", DType::F32, ctx, a);
  EXPECT_EQ(k.size(), 64u);
  EXPECT_EQ(k, ChunkKvStore::key("m", DType::F32, ctx, a));
  EXPECT_NE(k, ChunkKvStore::key("m2", DType::F32, ctx, a));
  EXPECT_NE(k, ChunkKvStore::key("m", DType::F16, ctx, a));
  EXPECT_NE(k, ChunkKvStore::key("m", KvType::kivi(8), ctx, a));
  EXPECT_NE(k, ChunkKvStore::key("m", DType::F32, {}, a));
  EXPECT_NE(k, ChunkKvStore::key("m", DType::F32, ctx, b));
  // The split between context and chunk is part of the key.
  const std::vector<int32_t> ctx2{7, 1}, a2{2, 3};
  EXPECT_NE(k, ChunkKvStore::key("m", DType::F32, ctx2, a2));
}

TEST(ChunkKvStore, RamBudgetEvictsLeastRecentlyUsed) {
  const size_t one = chunk(10, 0)->bytes();
  ChunkKvStore store(opts(2 * one + one / 2));
  store.put(key_of(1), chunk(10, 1));
  store.put(key_of(2), chunk(10, 2));
  ASSERT_NE(store.find(key_of(1)), nullptr);  // 1 is now the most recent
  store.put(key_of(3), chunk(10, 3));          // evicts 2
  EXPECT_EQ(store.find(key_of(2)), nullptr);
  ASSERT_NE(store.find(key_of(1)), nullptr);
  EXPECT_EQ(store.find(key_of(3))->data[0], 3);
  const auto s = store.stats();
  EXPECT_EQ(s.chunks, 2u);
  EXPECT_EQ(s.ram_bytes, 2 * one);
  EXPECT_LE(s.ram_bytes, store.options().ram_bytes);
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.hits, 3u);
  EXPECT_EQ(s.misses, 1u);
  // Larger than the whole budget: not kept.
  store.put(key_of(4), chunk(100, 4));
  EXPECT_EQ(store.find(key_of(4)), nullptr);
  EXPECT_LE(store.stats().ram_bytes, store.options().ram_bytes);
}

TEST(ChunkKvStore, QuantizedTypesHoldMoreChunksInTheSameBudget) {
  const size_t f32 = chunk(64, 0)->bytes(), i8 = chunk(64, 0, KvType::kivi(8))->bytes(),
               i4 = chunk(64, 0, KvType::kivi(4))->bytes();
  EXPECT_GT(static_cast<double>(f32) / i8, 3.0);
  EXPECT_GT(static_cast<double>(f32) / i4, 5.0);
}

TEST(ChunkKvStore, DiskFilesSurviveTheStoreAndStayInTheirBudget) {
  TempDir dir;
  const size_t file = serialize_chunk(*chunk(10, 0)).size();
  {
    ChunkKvStore store(opts(1 << 20, dir.path, 3 * file));
    for (int i = 0; i < 5; ++i) store.put(key_of(i), chunk(10, static_cast<uint8_t>(i)));
    EXPECT_EQ(store.stats().disk_writes, 5u);
    EXPECT_LE(store.stats().disk_bytes, 3 * file);
  }
  size_t on_disk = 0, files = 0;
  for (const auto& e : fs::directory_iterator(dir.path)) on_disk += e.file_size(), ++files;
  EXPECT_EQ(files, 3u);  // the two oldest deleted; no temporary files left
  EXPECT_LE(on_disk, 3 * file);
  ChunkKvStore again(opts(1 << 20, dir.path, 3 * file));
  EXPECT_EQ(again.find(key_of(0)), nullptr);
  auto c4 = again.find(key_of(4));
  ASSERT_NE(c4, nullptr);
  EXPECT_EQ(c4->data, chunk(10, 4)->data);
  EXPECT_EQ(c4->pos, 3);
  EXPECT_EQ(again.stats().disk_hits, 1u);
  // Deleting the directory's files only costs a miss.
  fs::remove(dir.path / (key_of(3) + ".chunkkv"));
  EXPECT_EQ(again.find(key_of(3)), nullptr);
}

TEST(ChunkKvStore, CorruptFilesAreRejectedAndRemoved) {
  TempDir dir;
  fs::create_directories(dir.path);
  const std::string good = serialize_chunk(*chunk(10, 7));
  auto write = [&](int i, const std::string& bytes) {
    std::ofstream(dir.path / (key_of(i) + ".chunkkv"), std::ios::binary) << bytes;
  };
  write(1, good.substr(0, good.size() - 1));  // truncated
  std::string big = good;
  big[8 + 4 * 6] = 0x7f;  // n_tokens claims far more rows than the file has
  write(2, big);
  write(3, std::string(40, 'x'));
  std::string kivi = good;
  kivi[8] = 5;  // 5-bit KIVI does not exist
  write(4, kivi);
  ChunkKvStore store(opts(1 << 20, dir.path));
  for (int i = 1; i <= 4; ++i) {
    EXPECT_EQ(store.find(key_of(i)), nullptr) << i;
    EXPECT_FALSE(fs::exists(dir.path / (key_of(i) + ".chunkkv"))) << i;
  }
  EXPECT_EQ(store.stats().disk_rejects, 4u);
  EXPECT_THROW(parse_chunk(std::string(10, 'a')), Error);
  EXPECT_EQ(parse_chunk(good).data, chunk(10, 7)->data);
}

}  // namespace
}  // namespace edgerag
