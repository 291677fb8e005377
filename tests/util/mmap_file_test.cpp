// MappedFile: both access modes give the file's bytes; EDGERAG_MMAP=1 and small
// files keep the plain mapping; errors name the file.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "util/error.h"
#include "util/mmap_file.h"

namespace edgerag {
namespace {

std::string write_pattern_file(const std::string& name, size_t size) {
  const std::string path = (std::filesystem::temp_directory_path() / name).string();
  std::vector<char> buf(size);
  for (size_t i = 0; i < size; ++i) buf[i] = static_cast<char>((i * 2654435761u) >> 13);
  std::ofstream(path, std::ios::binary).write(buf.data(), static_cast<std::streamsize>(size));
  return path;
}

void expect_pattern(const MappedFile& f, size_t size) {
  ASSERT_EQ(f.size(), size);
  for (size_t i = 0; i < size; i += 4093) ASSERT_EQ(f.data()[i], static_cast<uint8_t>((i * 2654435761u) >> 13)) << i;
  EXPECT_EQ(f.data()[size - 1], static_cast<uint8_t>(((size - 1) * 2654435761u) >> 13));
}

TEST(MappedFile, LargeWeightFileReadsTheSameBytesEitherWay) {
  const size_t size = (size_t{64} << 20) + 12345;  // just over the huge-page threshold, not a page multiple
  const std::string path = write_pattern_file("edgerag-mmap-test.bin", size);
  {
    MappedFile resident(path, FileAccess::kPreferHugePages);
    expect_pattern(resident, size);
    std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string modes;
    std::getline(thp, modes);
    EXPECT_EQ(resident.huge_pages(), modes.find("[never]") == std::string::npos && !modes.empty()) << modes;
    MappedFile mapped(path, FileAccess::kMapped);
    expect_pattern(mapped, size);
    EXPECT_FALSE(mapped.huge_pages());
    ::setenv("EDGERAG_MMAP", "1", 1);
    MappedFile forced(path, FileAccess::kPreferHugePages);
    ::unsetenv("EDGERAG_MMAP");
    expect_pattern(forced, size);
    EXPECT_FALSE(forced.huge_pages());
  }
  std::remove(path.c_str());
}

TEST(MappedFile, SmallFilesStayMapped) {
  const std::string path = write_pattern_file("edgerag-mmap-small.bin", 100000);
  MappedFile f(path, FileAccess::kPreferHugePages);
  expect_pattern(f, 100000);
  EXPECT_FALSE(f.huge_pages());
  std::remove(path.c_str());
}

TEST(MappedFile, MissingFileIsAnErrorNamingIt) {
  try {
    MappedFile f("/nonexistent/edgerag.gguf", FileAccess::kPreferHugePages);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/edgerag.gguf"), std::string::npos);
  }
}

}  // namespace
}  // namespace edgerag
