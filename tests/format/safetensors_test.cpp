#include "format/safetensors.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "safetensors_writer.h"
#include "tensor/fp16.h"
#include "util/error.h"

using namespace edgerag;
namespace fs = std::filesystem;

namespace {

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("edgerag_st_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Expects open() to throw an Error whose message contains `what`.
  void expect_error(const std::string& file, const std::string& what) {
    try {
      SafetensorsFile::open(file);
      FAIL() << "no error for " << file;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  }

  std::vector<test::StEntry> sample() const {
    std::vector<uint16_t> half = {fp32_to_fp16(1.5f), fp32_to_fp16(-2.0f), fp32_to_fp16(0.25f),
                                  fp32_to_fp16(3.0f), fp32_to_fp16(0.0f),  fp32_to_fp16(-0.5f)};
    return {test::st_entry("a.weight", "F16", {2, 3}, half),
            test::st_entry("b.qweight", "I32", {2}, std::vector<int32_t>{7, -1}),
            test::st_entry("c.bias", "BF16", {1}, std::vector<uint16_t>{fp32_to_bf16(4.0f)}),
            test::st_entry("d.norm", "F32", {2}, std::vector<float>{0.5f, 2.5f})};
  }

  fs::path dir_;
};

TEST_F(Safetensors, ReadsTensorsValuesAndMetadata) {
  test::write_safetensors(path("model.safetensors"), sample());
  auto f = SafetensorsFile::open(path("model.safetensors"));
  ASSERT_EQ(f->tensors().size(), 4u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  const StTensor* a = f->find("a.weight");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->dtype, StDType::F16);
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->nbytes, 12u);
  EXPECT_EQ(st_float_at(*a, 0), 1.5f);
  EXPECT_EQ(st_float_at(*a, 5), -0.5f);
  EXPECT_EQ(st_i32_at(*f->find("b.qweight"), 1), -1);
  EXPECT_EQ(st_float_at(*f->find("c.bias"), 0), 4.0f);
  EXPECT_EQ(st_float_at(*f->find("d.norm"), 1), 2.5f);
  EXPECT_EQ(f->find("missing"), nullptr);
  EXPECT_THROW(st_i32_at(*a, 0), Error);
}

TEST_F(Safetensors, RejectsTruncatedHeader) {
  std::ofstream(path("short.safetensors"), std::ios::binary) << "abc";
  expect_error(path("short.safetensors"), "not a safetensors file");
  // Header length 1000 with only a few bytes behind it.
  std::ofstream out(path("trunc.safetensors"), std::ios::binary);
  const char len[8] = {static_cast<char>(0xe8), 0x03, 0, 0, 0, 0, 0, 0};
  out.write(len, 8);
  out << "{\"a\":";
  out.close();
  expect_error(path("trunc.safetensors"), "truncated");
}

TEST_F(Safetensors, RejectsBadHeaders) {
  auto entries = sample();
  auto h = test::st_header(entries);
  h["a.weight"]["data_offsets"] = {0, 1000};
  test::write_safetensors(path("range.safetensors"), entries, &h);
  expect_error(path("range.safetensors"), "outside");

  h = test::st_header(entries);
  h["a.weight"]["shape"] = {3, 3};
  test::write_safetensors(path("shape.safetensors"), entries, &h);
  expect_error(path("shape.safetensors"), "needs 18 bytes");

  h = test::st_header(entries);
  h["b.qweight"]["data_offsets"] = {4, 12};  // inside a.weight
  test::write_safetensors(path("overlap.safetensors"), entries, &h);
  expect_error(path("overlap.safetensors"), "overlap");

  h = test::st_header(entries);
  h["d.norm"]["dtype"] = "F12";
  test::write_safetensors(path("dtype.safetensors"), entries, &h);
  expect_error(path("dtype.safetensors"), "unknown dtype 'F12'");

  h = test::st_header(entries);
  h["d.norm"].erase("shape");
  test::write_safetensors(path("fields.safetensors"), entries, &h);
  expect_error(path("fields.safetensors"), "needs dtype, shape and data_offsets");

  std::ofstream out(path("json.safetensors"), std::ios::binary);
  const char len[8] = {4, 0, 0, 0, 0, 0, 0, 0};
  out.write(len, 8);
  out << "{{{{";
  out.close();
  expect_error(path("json.safetensors"), "invalid JSON");
}

TEST_F(Safetensors, OpensShardsThroughTheIndex) {
  auto entries = sample();
  test::write_safetensors(path("model-00001-of-00002.safetensors"), {entries[0], entries[1]});
  test::write_safetensors(path("model-00002-of-00002.safetensors"), {entries[2], entries[3]});
  nlohmann::json index = {{"metadata", {{"total_size", 30}}},
                          {"weight_map",
                           {{"a.weight", "model-00001-of-00002.safetensors"},
                            {"b.qweight", "model-00001-of-00002.safetensors"},
                            {"c.bias", "model-00002-of-00002.safetensors"},
                            {"d.norm", "model-00002-of-00002.safetensors"}}}};
  std::ofstream(path("model.safetensors.index.json")) << index.dump();
  const SafetensorsSet set = SafetensorsSet::open_dir(dir_.string());
  EXPECT_EQ(set.names().size(), 4u);
  EXPECT_EQ(st_float_at(set.tensor("d.norm"), 0), 0.5f);
  EXPECT_EQ(st_float_at(set.tensor("a.weight"), 1), -2.0f);
  EXPECT_THROW(set.tensor("e.missing"), Error);

  index["weight_map"]["c.bias"] = "model-00001-of-00002.safetensors";
  std::ofstream(path("model.safetensors.index.json")) << index.dump();
  try {
    SafetensorsSet::open_dir(dir_.string());
    FAIL() << "a weight_map naming the wrong shard must fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does not hold it"), std::string::npos) << e.what();
  }
  index["weight_map"]["c.bias"] = "../elsewhere.safetensors";
  std::ofstream(path("model.safetensors.index.json")) << index.dump();
  EXPECT_THROW(SafetensorsSet::open_dir(dir_.string()), Error);
}

TEST_F(Safetensors, OpensASingleUnnamedFile) {
  test::write_safetensors(path("weights.safetensors"), sample());
  EXPECT_EQ(SafetensorsSet::open_dir(dir_.string()).names().size(), 4u);
  test::write_safetensors(path("more.safetensors"), sample());
  EXPECT_THROW(SafetensorsSet::open_dir(dir_.string()), Error);
}

}  // namespace
