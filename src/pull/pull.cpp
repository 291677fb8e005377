#include "pull/pull.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include <curl/curl.h>

#include "util/error.h"
#include "util/sha256.h"

namespace edgerag {
namespace fs = std::filesystem;

const std::vector<CatalogEntry>& model_catalog() {
  // Public Hugging Face files. Where the SHA-256 published on the file's
  // Hugging Face page (Git LFS details) was found, the URL is pinned to that
  // revision so the sum stays valid. Qwen's official file has no sum here:
  // its first download is trusted and recorded in checksums.json.
  static const std::vector<CatalogEntry> catalog = {
      {"qwen2.5-0.5b-instruct-q4_k_m", "qwen2.5-0.5b-instruct-q4_k_m.gguf",
       "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/qwen2.5-0.5b-instruct-q4_k_m.gguf", "",
       "Qwen2.5 0.5B Instruct, Q4_K_M (chat LLM)"},
      {"all-minilm-l6-v2", "all-MiniLM-L6-v2-Q8_0.gguf",
       "https://huggingface.co/second-state/All-MiniLM-L6-v2-Embedding-GGUF/resolve/"
       "aa38cf2db8c4ed51280bd0acc6509e8d3b1e284e/all-MiniLM-L6-v2-Q8_0.gguf",
       "263215c3cadd6e16740741a7624ab4cbb6c8e777688bd5331ecfbf5681c2f8ed",
       "all-MiniLM-L6-v2, Q8_0 (384-d sentence embeddings)"},
      {"bge-reranker-base", "bge-reranker-base-q8_0.gguf",
       "https://huggingface.co/xinming0111/bge-reranker-base-Q8_0-GGUF/resolve/"
       "fde68b2e7cc5dc6286435ddf4f3b7c99072942d7/bge-reranker-base-q8_0.gguf",
       "4bf3f9269c55954a5ad4d9e0e7fb05b448cb1053818170f497242ff760fd46bb",
       "BAAI bge-reranker-base, Q8_0 (cross-encoder reranker)"},
  };
  return catalog;
}

const CatalogEntry* find_catalog_entry(const std::string& name) {
  for (const auto& e : model_catalog())
    if (e.name == name) return &e;
  return nullptr;
}

namespace {

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

size_t write_cb(char* data, size_t size, size_t n, void* user) {
  return std::fwrite(data, size, n, static_cast<std::FILE*>(user)) * size;
}

int progress_cb(void*, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  if (total > 0) std::fprintf(stderr, "\r  %.1f / %.1f MB", now / 1e6, total / 1e6);
  return 0;
}

// One transfer appending to `part` from byte `offset`; returns the curl code and HTTP status.
std::pair<CURLcode, long> transfer(const std::string& url, const std::string& part, uint64_t offset,
                                   const DownloadOptions& opt, std::string& err) {
  std::unique_ptr<std::FILE, decltype(&std::fclose)> f(std::fopen(part.c_str(), offset ? "ab" : "wb"), std::fclose);
  if (!f) fail("cannot write '{}'", part);
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> c(curl_easy_init(), curl_easy_cleanup);
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c.get(), CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c.get(), CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c.get(), CURLOPT_CONNECTTIMEOUT, opt.connect_timeout_s);
  curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(c.get(), CURLOPT_LOW_SPEED_TIME, opt.stall_timeout_s);
  curl_easy_setopt(c.get(), CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(offset));
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, f.get());
  curl_easy_setopt(c.get(), CURLOPT_USERAGENT, "edgerag-pull");
  if (opt.progress) {
    curl_easy_setopt(c.get(), CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c.get(), CURLOPT_XFERINFOFUNCTION, progress_cb);
  }
  CURLcode rc = curl_easy_perform(c.get());
  long status = 0;
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &status);
  if (opt.progress) std::fprintf(stderr, "\n");
  err = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  return {rc, status};
}

}  // namespace

DownloadResult download(const std::string& url, const std::string& dest, const std::string& sha256,
                        const DownloadOptions& opt) {
  static CurlGlobal global;
  const std::string part = dest + ".part";
  std::error_code ec;
  if (!fs::path(dest).parent_path().empty()) fs::create_directories(fs::path(dest).parent_path(), ec);
  DownloadResult r;
  r.path = dest;
  r.resumed_from = fs::exists(part, ec) ? fs::file_size(part, ec) : 0;
  std::string err;
  auto [rc, status] = transfer(url, part, r.resumed_from, opt, err);
  if (rc == CURLE_RANGE_ERROR || (rc == CURLE_OK && r.resumed_from > 0 && status == 200)) {
    // The server ignored the Range request: what was appended is the whole file again.
    r.resumed_from = 0;
    std::tie(rc, status) = transfer(url, part, 0, opt, err);
  }
  if (rc != CURLE_OK)
    fail("download of {} failed after {} bytes: {} (run the same command again to resume)", url,
         fs::exists(part, ec) ? fs::file_size(part, ec) : 0, err);
  r.bytes = fs::file_size(part);
  r.sha256 = sha256_file_hex(part);
  if (!sha256.empty() && r.sha256 != sha256) {
    fs::remove(part, ec);
    fail("checksum mismatch for {}: expected sha256 {}, got {} (partial file deleted)", url, sha256, r.sha256);
  }
  fs::rename(part, dest);
  return r;
}

}  // namespace edgerag
