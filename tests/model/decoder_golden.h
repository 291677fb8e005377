// Access to the llama.cpp decoder goldens (golden/decoder/index.json, f32kv_nofa).
#pragma once
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_paths.h"

namespace edgerag::test {

struct GoldenPrompt {
  std::vector<int32_t> ids;
  std::string logits_file;  // empty when the binary is not in this set
  std::vector<int32_t> greedy;
  std::vector<double> greedy_margin;
  std::string greedy_text;
};

struct GoldenRun {
  std::string model;       // e.g. "stories260K"
  std::string model_path;  // absolute
  std::vector<GoldenPrompt> prompts;
};

inline std::vector<GoldenRun> golden_runs(const std::string& config = "f32kv_nofa") {
  std::ifstream in(golden_path("decoder/index.json"));
  const auto j = nlohmann::json::parse(in);
  std::vector<GoldenRun> runs;
  for (const auto& r : j["runs"]) {
    if (r["config"] != config || !r["model_in_this_set"].get<bool>()) continue;
    GoldenRun run;
    run.model = r["model"];
    run.model_path = shared_dir() + "/" + r["model_file"].get<std::string>();
    for (const auto& p : r["prompts"]) {
      GoldenPrompt g;
      g.ids = p["token_ids"].get<std::vector<int32_t>>();
      if (p["logits_in_this_set"].get<bool>()) g.logits_file = golden_path(p["logits_file"]);
      g.greedy = p["greedy"]["ids"].get<std::vector<int32_t>>();
      g.greedy_margin = p["greedy"]["top1_minus_top2_logit"].get<std::vector<double>>();
      g.greedy_text = p["greedy"]["text"];
      run.prompts.push_back(std::move(g));
    }
    runs.push_back(std::move(run));
  }
  return runs;
}

inline const GoldenRun& golden_run(const std::vector<GoldenRun>& runs, const std::string& model) {
  for (const auto& r : runs)
    if (r.model == model) return r;
  throw std::runtime_error("no golden run for " + model);
}

// Index of the largest value, lowest index on ties (llama.cpp's greedy rule).
inline int32_t argmax_row(const float* x, int32_t n) {
  int32_t best = 0;
  for (int32_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;
  return best;
}

inline std::vector<float> read_f32(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot open " + path);
  const auto size = static_cast<size_t>(in.tellg());
  std::vector<float> v(size / sizeof(float));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
  return v;
}

}  // namespace edgerag::test
