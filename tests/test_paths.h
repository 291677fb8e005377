// Locations of the shared models, goldens and data for tests, and reading them.
#pragma once
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace edgerag::test {

inline std::string shared_dir() {
  if (const char* env = std::getenv("EDGERAG_SHARED"); env && *env) return env;
  return EDGERAG_SHARED_DIR;
}
inline std::string model_path(const std::string& file) { return shared_dir() + "/models/" + file; }
inline std::string golden_path(const std::string& rel) { return shared_dir() + "/golden/" + rel; }
inline std::string data_path(const std::string& rel) { return shared_dir() + "/data/" + rel; }
// Hand-written test files kept in the repository's tests/ folder.
inline std::string tests_path(const std::string& rel) { return std::string(EDGERAG_TESTS_DIR) + "/" + rel; }

// Whole file as bytes; throws when it cannot be opened so the test fails loudly.
inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace edgerag::test
