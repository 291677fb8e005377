// The `edgerag generate` flow (load model + tokenizer, format the prompt,
// generate, report as JSON), shared by the CLI and its tests.
#pragma once
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "runtime/generator.h"
#include "runtime/speculative.h"

namespace edgerag {

struct GenerateOptions {
  std::string model_path;
  std::string prompt;
  GenerationParams gen;
  int32_t n_ctx = 0;    // 0 = Generator's default
  KvType kv_type = default_kv_type();
  int32_t threads = 0;  // 0 = default_thread_count()
  bool chat = false;    // wrap the prompt in the model's chat template
  std::string system;   // system message (chat mode)
  // Speculative decoding (not off): generation runs through the scheduler's
  // verification path (runtime/spec_generate.h); the result reports drafts.
  SpecOptions spec;
};

// on_text receives the generated text as it is released.
GenerationResult run_generate(const GenerateOptions& opts, const std::function<void(std::string_view)>& on_text = {});

// {tokens, text, prompt_tokens, prompt_ids, stop_reason, timings{prompt_ms, ttft_ms, decode_ms, prefill_tok_s,
// decode_tok_s}, drafted, accepted, acceptance_rate}
nlohmann::json generation_to_json(const GenerationResult& r);

}  // namespace edgerag
