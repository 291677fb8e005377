// edgerag model-info: metadata and tensor table of a GGUF file (or of a converted checkpoint directory).
#include <cstdio>
#include <map>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "command.h"
#include "format/gguf.h"
#include "convert/hf_checkpoint.h"

namespace edgerag::cli {
namespace {

nlohmann::json value_to_json(const GgufValue& v, bool full_arrays) {
  if (v.type == GgufType::STRING) return v.s;
  if (v.is_float()) return v.f;
  if (v.type == GgufType::BOOL) return v.i != 0;
  if (v.is_int()) return v.i;
  if (!full_arrays && v.array_size() > 16) return fmt::format("[array of {} elements]", v.array_size());
  nlohmann::json a = nlohmann::json::array();
  for (const auto& s : v.strs) a.push_back(s);
  for (auto i : v.ints) a.push_back(i);
  for (auto f : v.floats) a.push_back(f);
  for (const auto& it : v.items) a.push_back(value_to_json(it, full_arrays));
  return a;
}

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("model-info", "Show a GGUF model's metadata and tensors");
  auto model = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("-m,--model", *model, "Model file or name in the models directory")->required();
  cmd->add_flag("--json", *json, "Print one JSON object");
  cmd->callback([model, json] {
    auto f = open_model_file(resolve_model_flag(*model));  // GGUF file or checkpoint directory
    nlohmann::json j;
    j["path"] = f->path();
    j["version"] = f->version();
    j["file_size"] = f->file_size();
    for (const auto& key : f->metadata_keys()) j["metadata"][key] = value_to_json(*f->find(key), false);
    uint64_t params = 0;
    std::map<std::string, int> type_counts;
    for (const auto& t : f->tensors()) {
      params += t.n_elements();
      type_counts[dtype_name(t.type)]++;
      j["tensors"].push_back({{"name", t.name}, {"type", dtype_name(t.type)},
                              {"shape", std::vector<int64_t>(t.ne, t.ne + t.n_dims)}, {"bytes", t.nbytes}});
    }
    j["n_params"] = params;
    j["tensor_types"] = type_counts;
    if (*json) {
      std::printf("%s\n", j.dump(1).c_str());
      return;
    }
    std::printf("%s: GGUF v%u, %zu bytes, %zu tensors, %llu parameters\n", f->path().c_str(), f->version(),
                f->file_size(), f->tensors().size(), static_cast<unsigned long long>(params));
    for (const auto& key : f->metadata_keys())
      std::printf("  %-44s %s\n", key.c_str(), value_to_json(*f->find(key), false).dump().c_str());
    for (const auto& t : f->tensors())
      std::printf("  %-36s %-5s %s\n", t.name.c_str(), dtype_name(t.type), t.shape_string().c_str());
  });
}

}  // namespace
EDGERAG_COMMAND("model-info", setup);
}  // namespace edgerag::cli
