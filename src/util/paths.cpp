#include "util/paths.h"

#include <cstdlib>
#include <filesystem>

#include "util/error.h"

namespace edgerag {
namespace fs = std::filesystem;

std::string models_dir(const std::string& fallback) {
  if (const char* env = std::getenv("EDGERAG_MODELS"); env && *env) return env;
  std::string base;
  if (const char* xdg = std::getenv("XDG_DATA_HOME"); xdg && *xdg) base = xdg;
  else if (const char* home = std::getenv("HOME"); home && *home) base = std::string(home) + "/.local/share";
  if (!base.empty()) {
    std::string dir = base + "/edgerag/models";
    std::error_code ec;
    if (fs::is_directory(dir, ec) || fallback.empty()) return dir;
  }
  return fallback;
}

std::string resolve_model(const std::string& name, const std::string& fallback_dir) {
  // A model file, or a Hugging Face checkpoint directory (config.json inside).
  const auto is_model = [](const std::string& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec) || (fs::is_directory(p, ec) && fs::is_regular_file(p + "/config.json", ec));
  };
  if (is_model(name)) return name;
  std::string dir = models_dir(fallback_dir);
  for (const std::string& cand : {dir + "/" + name, dir + "/" + name + ".gguf"})
    if (is_model(cand)) return cand;
  fail("model '{}' not found (looked for the file and in models directory '{}'; set EDGERAG_MODELS)", name, dir);
}

}  // namespace edgerag
