// A private temporary folder removed with everything in it when the object goes
// out of scope (the throwaway indexes the evaluators build).
#pragma once
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include "util/error.h"

namespace edgerag {

struct TempDir {
  std::string path;
  explicit TempDir(const std::string& prefix) {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    EDGERAG_CHECK(mkdtemp(tmpl.data()), "cannot create a temporary folder {}", tmpl);
    path = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

}  // namespace edgerag
