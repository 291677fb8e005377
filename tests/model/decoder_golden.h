// Access to the llama.cpp decoder goldens (golden/decoder/index.json, f32kv_nofa).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/model.h"

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

inline Logits eval_prompt(const Model& m, KvCache& cache, const std::vector<int32_t>& ids, ThreadPool* pool) {
  Batch b;
  for (size_t i = 0; i < ids.size(); ++i) b.add(ids[i], static_cast<int32_t>(i), 0, true);
  return m.forward(b, cache, pool);
}

// The prompt logits of every prompt with a logits file, at every position, within
// max_abs of llama.cpp's (argmax agreeing at argmax_share of them), and the greedy
// continuation token by token (llama.cpp's token fed back each step; steps whose
// recorded top-1 margin is under 2 * max_abs are near ties, skipped and counted).
inline void expect_golden_logits_and_greedy(const Model& model, const GoldenRun& run, float max_abs,
                                            double argmax_share, ThreadPool* pool) {
  const int32_t V = model.hparams().n_vocab;
  int checked = 0;
  size_t total_steps = 0, total_compared = 0;
  for (size_t pi = 0; pi < run.prompts.size(); ++pi) {
    const auto& p = run.prompts[pi];
    if (p.logits_file.empty()) continue;
    ++checked;
    const auto ref = test::read_f32(p.logits_file);
    ASSERT_EQ(ref.size(), p.ids.size() * V);
    auto cache = model.make_cache(256);
    const Logits got = eval_prompt(model, *cache, p.ids, pool);
    ASSERT_EQ(got.n_rows(), static_cast<int32_t>(p.ids.size()));
    float max_diff = 0;
    int argmax_same = 0;
    for (size_t t = 0; t < p.ids.size(); ++t) {
      const float* r = ref.data() + t * V;
      const float* g = got.row(static_cast<int32_t>(t));
      for (int32_t i = 0; i < V; ++i) max_diff = std::max(max_diff, std::fabs(r[i] - g[i]));
      argmax_same += test::argmax_row(r, V) == test::argmax_row(g, V);
    }
    const double share = static_cast<double>(argmax_same) / p.ids.size();
    ::testing::Test::RecordProperty("prompt" + std::to_string(pi) + "_max_abs_diff", std::to_string(max_diff));
    std::printf("%s prompt %zu: %zu tokens, max |diff| %.3g, argmax agreement %.3f\n", run.model.c_str(), pi, p.ids.size(),
                max_diff, share);
    EXPECT_LE(max_diff, max_abs) << run.model << " prompt " << pi;
    EXPECT_GE(share, argmax_share) << run.model << " prompt " << pi;

    // Greedy: decode token by token after the prompt, feeding llama.cpp's token
    // each step. Our top-1 must equal it at every step whose recorded top-1 margin
    // is wider than the logit tolerance allows to flip; near ties are skipped
    // (and counted), not the end of the check.
    int32_t next = test::argmax_row(got.row(got.n_rows() - 1), V);
    int32_t pos = static_cast<int32_t>(p.ids.size());
    size_t compared = 0;
    for (size_t s = 0; s < p.greedy.size(); ++s) {
      if (p.greedy_margin[s] >= 2 * max_abs) {
        EXPECT_EQ(next, p.greedy[s]) << run.model << " prompt " << pi << " greedy step " << s;
        ++compared;
      }
      Batch b;
      b.add(p.greedy[s], pos++, 0, true);
      next = test::argmax_row(model.forward(b, *cache, pool).row(0), V);
    }
    std::printf("%s prompt %zu: greedy %zu of %zu steps compared\n", run.model.c_str(), pi, compared, p.greedy.size());
    total_steps += p.greedy.size();
    total_compared += compared;
  }
  EXPECT_GT(checked, 0);
  // Most steps are compared: the widest tolerance (0.35, so margins under 0.7
  // skipped) leaves 92 of stories260K-q4_0's 128 steps.
  EXPECT_GE(total_compared * 3, total_steps * 2) << total_compared << " of " << total_steps;
  EXPECT_GT(total_steps, 0u);
}

}  // namespace edgerag::test
