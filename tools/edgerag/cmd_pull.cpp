// edgerag pull: download a known model into the models directory (resumable,
// SHA-256 verified). A file without a published sum is trusted on its first
// download, which records its sum in checksums.json for later ones; the
// output says which of the two happened.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "command.h"
#include "pull/pull.h"
#include "util/error.h"
#include "util/paths.h"
#include "util/sha256.h"

namespace edgerag::cli {
namespace {

namespace fs = std::filesystem;

struct PullFlags {
  std::string name, url, sha256;
  bool list = false;
};

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("pull", "Download a known model (resumable, SHA-256 checked)");
  auto f = std::make_shared<PullFlags>();
  cmd->add_option("name", f->name, "Catalog name (see --list), or a file name with --url");
  cmd->add_option("--url", f->url, "Download this URL instead of the catalog's");
  cmd->add_option("--sha256", f->sha256, "Expected SHA-256 (hex)");
  add_models_dir_flag(cmd);
  cmd->add_flag("--list", f->list, "List the catalog");
  cmd->callback([f] {
    if (f->list) {
      for (const auto& e : model_catalog())
        std::printf("%-30s %s\n  %s\n  sha256: %s\n", e.name.c_str(), e.description.c_str(), e.url.c_str(),
                    e.sha256.empty() ? "NOT PUBLISHED - the first download is trusted and its sum recorded"
                                     : (e.sha256 + " (published)").c_str());
      return;
    }
    if (f->name.empty()) throw Error("pull: name a model (edgerag pull --list shows the catalog)");
    CatalogEntry e;
    if (const auto* c = find_catalog_entry(f->name)) e = *c;
    else if (f->url.empty()) throw Error(fmt::format("pull: '{}' is not in the catalog (give --url)", f->name));
    else e = {f->name, f->name.ends_with(".gguf") ? f->name : f->name + ".gguf", f->url, "", ""};
    if (!f->url.empty()) e.url = f->url;
    if (!f->sha256.empty()) e.sha256 = f->sha256;
    const std::string dir = models_dir();
    const fs::path sums_path = fs::path(dir) / "checksums.json";
    nlohmann::json sums = nlohmann::json::object();
    if (fs::exists(sums_path)) sums = nlohmann::json::parse(std::ifstream(sums_path), nullptr, false);
    if (!sums.is_object()) throw Error(fmt::format("pull: {} is not a JSON object", sums_path.string()));
    const bool recorded = e.sha256.empty() && sums.contains(e.file);
    if (recorded) e.sha256 = sums[e.file].get<std::string>();
    // What a match is checked against: a published (or --sha256) sum, or only the first download's.
    const char* against = recorded ? "the sum recorded at its first download (no published sum)" : "the expected sum";
    const std::string dest = (fs::path(dir) / e.file).string();
    if (fs::exists(dest) && !e.sha256.empty() && sha256_file_hex(dest) == e.sha256) {
      std::printf("%s: already present, sha256 matches %s\n", dest.c_str(), against);
      return;
    }
    auto r = download(e.url, dest, e.sha256, {.progress = true});
    if (e.sha256.empty()) {
      sums[e.file] = r.sha256;
      std::ofstream(sums_path) << sums.dump(1) << "\n";
      std::printf("%s: %llu bytes, sha256 %s\n  NOT VERIFIED: no published checksum for this file; trusted on first "
                  "download and recorded in %s (later downloads must match it)\n",
                  dest.c_str(), static_cast<unsigned long long>(r.bytes), r.sha256.c_str(), sums_path.string().c_str());
    } else {
      std::printf("%s: %llu bytes%s, sha256 matches %s\n", dest.c_str(), static_cast<unsigned long long>(r.bytes),
                  r.resumed_from ? " (resumed)" : "", against);
    }
  });
}

}  // namespace
EDGERAG_COMMAND("pull", setup);
}  // namespace edgerag::cli
