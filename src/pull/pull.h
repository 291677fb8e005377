// Model downloads for `edgerag pull`: a small catalog of known GGUF files, and
// an HTTP(S) download that resumes a partial file (Range) and verifies SHA-256.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace edgerag {

struct CatalogEntry {
  std::string name;         // what `edgerag pull NAME` takes
  std::string file;         // saved as this file in the models directory
  std::string url;
  std::string sha256;       // lowercase hex, as published; "" = not known (trusted and recorded on first download)
  std::string description;
};
const std::vector<CatalogEntry>& model_catalog();
const CatalogEntry* find_catalog_entry(const std::string& name);

struct DownloadOptions {
  long connect_timeout_s = 30;
  long stall_timeout_s = 60;  // abort when slower than 1 KB/s for this long
  bool progress = false;      // progress on stderr
};

struct DownloadResult {
  std::string path;
  std::string sha256;
  uint64_t bytes = 0;
  uint64_t resumed_from = 0;  // bytes already present from an earlier, interrupted call
};

// Downloads `url` into `dest` through `dest`.part: an existing .part is resumed
// with an HTTP Range request (restarted if the server ignores ranges). When
// `sha256` is given the finished file must match it (else the partial file is
// deleted and Error thrown). `dest` appears only complete and verified.
DownloadResult download(const std::string& url, const std::string& dest, const std::string& sha256,
                        const DownloadOptions& opt = {});

}  // namespace edgerag
