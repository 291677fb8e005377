// edgerag pull's download against a local HTTP server on loopback.
#include "pull/pull.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include "util/error.h"
#include "util/sha256.h"

namespace edgerag {
namespace {

namespace fs = std::filesystem;

// sha256 of file_bytes(), computed independently (Python hashlib).
constexpr const char* kSha = "37847e6a9ebaa35ed4651d3863601772ea3f0a01250e1363e26fea1c32dd7688";

std::string file_bytes() {
  std::string b(300000, '\0');
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<char>((i * 7 + i / 1000) % 251);
  return b;
}

struct FileServer {
  httplib::Server http;
  std::thread thread;
  int port = 0;
  std::atomic<int> requests{0};
  std::atomic<bool> cut_first{true};
  std::mutex mu;  // handlers run on httplib's threads, ordered only through the network
  std::string last_range;
  std::string range() {
    std::lock_guard lk(mu);
    return last_range;
  }
  const std::string body = file_bytes();
  FileServer() {
    http.Get("/model.gguf", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests;
      {
        std::lock_guard lk(mu);
        last_range = req.get_header_value("Range");
      }
      if (cut_first.exchange(false)) {
        // Announce the whole file, send a third of it, then drop the connection.
        res.set_content_provider(body.size(), "application/octet-stream",
                                 [this](size_t offset, size_t, httplib::DataSink& sink) {
                                   if (offset >= 100000) return false;
                                   sink.write(body.data(), 100000);
                                   return true;
                                 });
        return;
      }
      res.set_content(body, "application/octet-stream");  // httplib answers Range requests with 206
    });
    port = http.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { http.listen_after_bind(); });
  }
  ~FileServer() {
    http.stop();
    thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/model.gguf"; }
};

std::string read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(Pull, InterruptedDownloadResumesAndVerifies) {
  FileServer srv;
  const fs::path dir = fs::temp_directory_path() / ("edgerag_pull_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  const std::string dest = (dir / "model.gguf").string();
  EXPECT_THROW(download(srv.url(), dest, kSha), Error);
  EXPECT_FALSE(fs::exists(dest));
  ASSERT_TRUE(fs::exists(dest + ".part"));
  const auto partial = fs::file_size(dest + ".part");
  EXPECT_GT(partial, 0u);
  EXPECT_LT(partial, 300000u);

  DownloadResult r = download(srv.url(), dest, kSha);
  EXPECT_EQ(srv.range(), "bytes=" + std::to_string(partial) + "-");
  EXPECT_EQ(r.resumed_from, partial);
  EXPECT_EQ(r.bytes, 300000u);
  EXPECT_EQ(r.sha256, kSha);
  EXPECT_EQ(read_all(dest), srv.body);
  EXPECT_FALSE(fs::exists(dest + ".part"));
  EXPECT_EQ(sha256_file_hex(dest), kSha);

  // A wrong checksum is refused and leaves nothing behind.
  const std::string other = (dir / "other.gguf").string();
  EXPECT_THROW(download(srv.url(), other, std::string(64, '0')), Error);
  EXPECT_FALSE(fs::exists(other));
  EXPECT_FALSE(fs::exists(other + ".part"));
  // Nothing listening: a clear error, not a crash.
  EXPECT_THROW(download("http://127.0.0.1:1/x.gguf", (dir / "x.gguf").string(), ""), Error);
  fs::remove_all(dir);
}

TEST(Pull, CatalogHasTheDocumentedModels) {
  for (const char* name : {"qwen2.5-0.5b-instruct-q4_k_m", "all-minilm-l6-v2", "bge-reranker-base"}) {
    const CatalogEntry* e = find_catalog_entry(name);
    ASSERT_NE(e, nullptr) << name;
    EXPECT_TRUE(e->url.starts_with("https://")) << name;
    EXPECT_TRUE(e->file.ends_with(".gguf")) << name;
    EXPECT_TRUE(e->sha256.empty() || e->sha256.size() == 64) << name;
  }
  EXPECT_EQ(find_catalog_entry("no-such-model"), nullptr);
}

}  // namespace
}  // namespace edgerag
