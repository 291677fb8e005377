// Locations of the shared models, goldens and data for tests.
#pragma once
#include <cstdlib>
#include <string>

namespace edgerag::test {

inline std::string shared_dir() {
  if (const char* env = std::getenv("EDGERAG_SHARED"); env && *env) return env;
  return EDGERAG_SHARED_DIR;
}
inline std::string model_path(const std::string& file) { return shared_dir() + "/models/" + file; }
inline std::string golden_path(const std::string& rel) { return shared_dir() + "/golden/" + rel; }
inline std::string data_path(const std::string& rel) { return shared_dir() + "/data/" + rel; }

}  // namespace edgerag::test
