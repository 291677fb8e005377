#include "format/gguf.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "test_paths.h"
#include "util/error.h"

using namespace edgerag;

namespace {

std::string temp_file(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("edgerag_test_" + name)).string();
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

TEST(Gguf, ReadsStories260K) {
  auto f = GgufFile::open(test::model_path("stories260K.gguf"));
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_int("llama.embedding_length", 0), 64);
  EXPECT_EQ(f->get_int("llama.block_count", 0), 5);
  EXPECT_EQ(f->get_string_array("tokenizer.ggml.tokens").size(), 512u);
  const GgufTensor& t = f->tensor("token_embd.weight");
  EXPECT_EQ(t.type, DType::F32);
  EXPECT_EQ(t.ne[0], 64);
  EXPECT_EQ(t.ne[1], 512);
  EXPECT_EQ(f->tensors().size(), 48u);
}

TEST(Gguf, ReadsQuantizedTypes) {
  auto f = GgufFile::open(test::model_path("stories260K-q4_0-ffndown_f16.gguf"));
  EXPECT_EQ(f->tensor("output.weight").type, DType::Q8_0);
  EXPECT_EQ(f->tensor("blk.0.attn_q.weight").type, DType::Q4_0);
  EXPECT_EQ(f->tensor("blk.0.ffn_down.weight").type, DType::F16);
  EXPECT_EQ(f->tensor("blk.0.attn_q.weight").nbytes, 64u / 32 * 18 * 64);
}

TEST(Gguf, WriterRoundTrip) {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 3);
  w.set_f32("llama.rope.freq_base", 10000.5f);
  w.set_bool("flag", true);
  w.set_string_array("tokenizer.ggml.tokens", {"a", "b", ""});
  w.set_i32_array("ids", {1, -2, 3});
  w.set_f32_array("scores", {0.5, -1.25});
  std::vector<float> v(64 * 3);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.01f * static_cast<float>(i) - 0.5f;
  w.add_tensor("f32", DType::F32, {64, 3}, v.data(), v.size() * 4);
  std::vector<uint8_t> q(row_size(DType::Q8_0, 64) * 3);
  for (int r = 0; r < 3; ++r) quantize_row(DType::Q8_0, v.data() + r * 64, q.data() + r * row_size(DType::Q8_0, 64), 64);
  w.add_tensor("q8", DType::Q8_0, {64, 3}, q.data(), q.size());
  std::string path = temp_file("roundtrip.gguf");
  w.write(path);

  auto f = GgufFile::open(path);
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_int("llama.block_count", 0), 3);
  EXPECT_FLOAT_EQ(static_cast<float>(f->get_float("llama.rope.freq_base", 0)), 10000.5f);
  EXPECT_TRUE(f->get_bool("flag", false));
  EXPECT_EQ(f->get_string_array("tokenizer.ggml.tokens"), (std::vector<std::string>{"a", "b", ""}));
  EXPECT_EQ(f->get_int_array("ids"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f->get_float_array("scores"), (std::vector<double>{0.5, -1.25}));
  const GgufTensor& t = f->tensor("f32");
  ASSERT_EQ(t.nbytes, v.size() * 4);
  EXPECT_EQ(0, std::memcmp(t.data, v.data(), t.nbytes));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data) % 32, 0u);
  std::vector<float> back(64);
  const GgufTensor& tq = f->tensor("q8");
  dequantize_row(DType::Q8_0, tq.data + row_size(DType::Q8_0, 64), back.data(), 64);
  for (int i = 0; i < 64; ++i) EXPECT_NEAR(back[i], v[64 + i], 0.01);

  // Copying a real model's metadata keeps every key (e.g. the tokenizer).
  auto src = GgufFile::open(test::model_path("stories260K.gguf"));
  GgufWriter w2;
  w2.copy_metadata(*src);
  w2.write(path);
  auto f2 = GgufFile::open(path);
  EXPECT_EQ(f2->metadata_keys(), src->metadata_keys());
  EXPECT_EQ(f2->get_string_array("tokenizer.ggml.tokens"), src->get_string_array("tokenizer.ggml.tokens"));
  std::remove(path.c_str());
}

TEST(Gguf, RejectsCorruptFiles) {
  auto good = read_bytes(test::model_path("stories260K.gguf"));
  std::string path = temp_file("corrupt.gguf");
  auto expect_error = [&](std::vector<uint8_t> bytes, const std::string& needle) {
    write_bytes(path, bytes);
    try {
      GgufFile::open(path);
      ADD_FAILURE() << "no error for case " << needle;
    } catch (const Error& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
      EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    }
  };
  auto bad_magic = good;
  bad_magic[0] = 'X';
  expect_error(bad_magic, "bad magic");
  auto bad_version = good;
  bad_version[4] = 9;
  expect_error(bad_version, "unsupported GGUF version");
  expect_error(std::vector<uint8_t>(good.begin(), good.begin() + 1000), "truncated");
  expect_error(std::vector<uint8_t>(good.begin(), good.end() - 4096), "outside");
  ASSERT_GT(good.size(), 4096u);
  auto huge_count = good;
  const uint64_t absurd = ~0ull;
  std::memcpy(huge_count.data() + 16, &absurd, sizeof absurd);  // metadata count
  expect_error(huge_count, "cannot fit");
  expect_error(std::vector<uint8_t>(3, 0), "not a GGUF file");
  // Every truncation point must fail cleanly, never crash.
  for (size_t cut = 0; cut < 4096; cut += 97) {
    write_bytes(path, std::vector<uint8_t>(good.begin(), good.begin() + cut));
    EXPECT_THROW(GgufFile::open(path), Error);
  }
  std::remove(path.c_str());
  EXPECT_THROW(GgufFile::open("/nonexistent/model.gguf"), Error);
}
